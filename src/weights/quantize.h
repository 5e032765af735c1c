// Quantizers of rows into ggml blocks, for writing models (tests, `veloxquant convert`). They follow
// ggml's reference rounding without an importance matrix (quantize_row_*_ref; iq4_nl and iq4_xs
// with llama-quantize's 7 trial scales), so a converted file is what `llama-quantize` would make
// up to rounding ties; the block layout is ggml's exactly (weights/block_layout.h). `n` is a whole
// number of blocks. Inputs must be finite (the converter checks).
#pragma once

#include <cstddef>
#include <cstdint>

namespace veloxquant::quantize {

void f32(const float* x, std::size_t n, std::uint8_t* out);
void f16(const float* x, std::size_t n, std::uint8_t* out);
void bf16(const float* x, std::size_t n, std::uint8_t* out);
void q4_0(const float* x, std::size_t n, std::uint8_t* out);
void q4_1(const float* x, std::size_t n, std::uint8_t* out);
void q5_0(const float* x, std::size_t n, std::uint8_t* out);
void q5_1(const float* x, std::size_t n, std::uint8_t* out);
void q8_0(const float* x, std::size_t n, std::uint8_t* out);
void iq4_nl(const float* x, std::size_t n, std::uint8_t* out);
void q2_K(const float* x, std::size_t n, std::uint8_t* out);
void q3_K(const float* x, std::size_t n, std::uint8_t* out);
void q4_K(const float* x, std::size_t n, std::uint8_t* out);
void q5_K(const float* x, std::size_t n, std::uint8_t* out);
void q6_K(const float* x, std::size_t n, std::uint8_t* out);
void iq4_xs(const float* x, std::size_t n, std::uint8_t* out);

}  // namespace veloxquant::quantize
