// Scalar dequantization of rows of ggml blocks (the references of the weight-type table). Each
// evaluates ggml's expression for every element in ggml's order (weights/block_layout.h), so the
// floats equal llama.cpp's dequantize_row_* bit for bit (tests/weights_parity_test.cpp checks this
// against llama.cpp itself). `n` is the number of elements, a whole number of blocks. NaN or
// infinite scales give NaN or infinite values, as in ggml.
#pragma once

#include <cstddef>
#include <cstdint>

namespace veloxquant::dequant {

void f32(const std::uint8_t* in, std::size_t n, float* out);
void f16(const std::uint8_t* in, std::size_t n, float* out);
void bf16(const std::uint8_t* in, std::size_t n, float* out);
void q4_0(const std::uint8_t* in, std::size_t n, float* out);
void q4_1(const std::uint8_t* in, std::size_t n, float* out);
void q5_0(const std::uint8_t* in, std::size_t n, float* out);
void q5_1(const std::uint8_t* in, std::size_t n, float* out);
void q8_0(const std::uint8_t* in, std::size_t n, float* out);
void iq4_nl(const std::uint8_t* in, std::size_t n, float* out);
void q2_K(const std::uint8_t* in, std::size_t n, float* out);
void q3_K(const std::uint8_t* in, std::size_t n, float* out);
void q4_K(const std::uint8_t* in, std::size_t n, float* out);
void q5_K(const std::uint8_t* in, std::size_t n, float* out);
void q6_K(const std::uint8_t* in, std::size_t n, float* out);
void iq4_xs(const std::uint8_t* in, std::size_t n, float* out);

}  // namespace veloxquant::dequant
