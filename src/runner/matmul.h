// Matrix × tokens products with weights stored as any type of the weight-type table
// (weights/weight_types.h: f32, f16, bf16, q8_0, q4_0 … q6_K, iq4_nl, iq4_xs), or as quantizer
// records (`--weights tq4`). For a block type the tokens' activations are quantized once per call
// into the type's int8 form and every row is dotted with them on its blocks (int8 SIMD); float
// types are dotted in float lanes. No matrix is dequantized.
#pragma once

#include <cstddef>
#include <cstdint>

#include "io/gguf.h"
#include "runner/thread_pool.h"

namespace veloxquant {

class Quantizer;

// A 2-D weight: `rows` rows of `cols` elements, row r at data + r · row_bytes. With a
// `quantizer`, each row is stored as cols / quantizer->dim() records of it (blocks of the row,
// e.g. TurboQuant codes of each block; one record when the quantizer's dim is cols) and products
// are computed on the codes: each input block is prepared (rotated) once per token and every
// record is scored like a key. Records are stored block-major so that one block of all rows is
// contiguous: record (block b, row r) at data + (b · rows + r) · code_size(); row_bytes is then
// the bytes of one row's records (blocks · code_size()).
struct WeightView {
  GgmlType type = GgmlType::kF32;
  std::size_t rows = 0;
  std::size_t cols = 0;
  std::size_t row_bytes = 0;
  const std::uint8_t* data = nullptr;
  const Quantizer* quantizer = nullptr;
};

// Decodes row `r` of w into out[w.cols] (ggml's values bit for bit for the ggml types).
void dequantize_row(const WeightView& w, std::size_t r, float* out);

// out[t] = Σ_i w[i] · x[t · x_stride + i] for t < k (i < n): one vector against k others,
// e.g. a query against k keys.
void dot_many(const float* w, const float* x, std::size_t x_stride, std::size_t n, std::size_t k, float* out);

// y[t][r] = Σ_c w[r][c] · x[t][c] for t < n_tokens, r < w.rows; x is [n_tokens][w.cols],
// y is [n_tokens][w.rows]. Rows are split over the pool's threads. y[t] depends only on x[t] and w,
// bit for bit: not on n_tokens, t or the thread count (batched sequences and prefill chunks rely
// on it).
void matmul(const WeightView& w, const float* x, std::size_t n_tokens, float* y, ThreadPool& pool);

}  // namespace veloxquant
