#include "runner/matmul.h"

#include <algorithm>
#include <vector>

#include "kernels/kernels.h"
#include "veloxquant/quantizer.h"
#include "weights/weight_types.h"

namespace veloxquant {

void dot_tokens_f32(const float* w, const float* x, std::size_t x_stride, std::size_t n, std::size_t k, float* out,
                    std::size_t out_stride);  // weights/dot_float_simd.cpp

void dequantize_row(const WeightView& w, std::size_t r, float* out) {
  if (w.quantizer) {
    const std::size_t bd = w.quantizer->dim(), cs = w.quantizer->code_size();
    for (std::size_t b = 0; b < w.cols / bd; ++b) w.quantizer->decode(1, w.data + (b * w.rows + r) * cs, out + b * bd);
    return;
  }
  const std::uint8_t* row = w.data + r * w.row_bytes;
  // f16 rows: the library's conversion kernel (hardware F16C where present, the same values).
  if (w.type == GgmlType::kF16)
    return kernels::halves_to_floats(w.cols, reinterpret_cast<const std::uint16_t*>(row), out);
  weight_type(w.type).dequantize(row, w.cols, out);
}

void dot_many(const float* w, const float* x, std::size_t x_stride, std::size_t n, std::size_t k, float* out) {
  for (std::size_t t = 0; t < k; t += 4)
    dot_tokens_f32(w, x + t * x_stride, x_stride, n, std::min<std::size_t>(4, k - t), out + t, 1);
}

namespace {

// Rows stored as quantizer records: prepare each input block of each token once, then score
// every row's record of that block on its codes and sum the blocks (in block order, so the result
// does not depend on the thread split).
void matmul_on_codes(const WeightView& w, const float* x, std::size_t n_tokens, float* y, ThreadPool& pool) {
  const Quantizer& q = *w.quantizer;
  const std::size_t qs = q.query_size(), bd = q.dim(), cs = q.code_size(), blocks = w.cols / bd;
  std::vector<float> prepared(blocks * n_tokens * qs);  // [block][token][qs]
  for (std::size_t b = 0; b < blocks; ++b)
    for (std::size_t t = 0; t < n_tokens; ++t)
      q.prepare_query(x + t * w.cols + b * bd, prepared.data() + (b * n_tokens + t) * qs);
  pool.parallel_for(w.rows, [&](std::size_t begin, std::size_t end) {
    const std::size_t n = end - begin;
    std::vector<float> part(n_tokens * n), sum;  // [token][row of this part]
    for (std::size_t b = 0; b < blocks; ++b) {
      q.score(n_tokens, prepared.data() + b * n_tokens * qs, n, w.data + (b * w.rows + begin) * cs, part.data());
      if (blocks == 1) break;
      if (b == 0)
        sum = part;
      else
        for (std::size_t i = 0; i < part.size(); ++i) sum[i] += part[i];
    }
    const std::vector<float>& out = blocks == 1 ? part : sum;
    for (std::size_t t = 0; t < n_tokens; ++t) std::copy_n(out.data() + t * n, n, y + t * w.rows + begin);
  });
}

}  // namespace

void matmul(const WeightView& w, const float* x, std::size_t n_tokens, float* y, ThreadPool& pool) {
  if (w.quantizer) return matmul_on_codes(w, x, n_tokens, y, pool);
  const WeightTypeInfo& type = weight_type(w.type);
  // The tokens' activations in the type's form, once for all rows (kept per calling thread).
  thread_local ActivationBuffer buffer;
  const ActivationBatch act = quantize_activations(type.activation, x, n_tokens, w.cols, buffer);
  // Tokens in blocks whose activations stay in L2 while this thread's rows pass by; each row is
  // read once per block and dotted with its tokens four at a time.
  const std::size_t act_bytes = type.activation == ActivationForm::kFloat ? 4 : 1;
  const std::size_t token_block = std::clamp<std::size_t>((256 << 10) / (w.cols * act_bytes), 4, 64);
  pool.parallel_for(w.rows, [&](std::size_t begin, std::size_t end) {
    for (std::size_t t0 = 0; t0 < n_tokens; t0 += token_block) {
      const std::size_t nt = std::min(token_block, n_tokens - t0);
      type.dot(w.data, w.row_bytes, begin, end, act, t0, nt, y + t0 * w.rows, w.rows);
    }
  });
}

}  // namespace veloxquant
