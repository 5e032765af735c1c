#include "runner/matmul.h"
#include "kernels/kernels.h"
#include "veloxquant/quantizer.h"

#include <algorithm>
#include <cstring>
#include <vector>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "runner/matmul.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "util/half.h"

HWY_BEFORE_NAMESPACE();
namespace veloxquant {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// bfloat16 → f32.
template <typename T16, typename Scalar>
void widen_row(const T16* in, std::size_t n, float* out, Scalar scalar) {
  const hn::ScalableTag<float> df;
  const hn::Rebind<T16, decltype(df)> d16;
  const std::size_t N = hn::Lanes(df);
  std::size_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::PromoteTo(df, hn::LoadU(d16, in + i)), df, out + i);
  for (; i < n; ++i) {
    std::uint16_t bits;
    std::memcpy(&bits, in + i, 2);
    out[i] = scalar(bits);
  }
}

void WidenBF16(const std::uint8_t* in, std::size_t n, float* out) {
  widen_row(reinterpret_cast<const hwy::bfloat16_t*>(in), n, out, bf16_to_float);
}

// q8_0 blocks: fp16 scale, then 32 int8.
void DequantQ8_0(const std::uint8_t* in, std::size_t n, float* out) {
  const hn::ScalableTag<float> df;
  const hn::Rebind<std::int32_t, decltype(df)> di32;
  const hn::Rebind<std::int8_t, decltype(df)> di8;
  const std::size_t N = hn::Lanes(df);
  for (std::size_t b = 0; b < n / 32; ++b) {
    const std::uint8_t* block = in + b * 34;
    const float d = half_to_float(load_u16(block));
    const auto* q = reinterpret_cast<const std::int8_t*>(block + 2);
    float* o = out + b * 32;
    if (N <= 32) {
      const auto vd = hn::Set(df, d);
      for (std::size_t i = 0; i < 32; i += N)
        hn::StoreU(hn::Mul(vd, hn::ConvertTo(df, hn::PromoteTo(di32, hn::LoadU(di8, q + i)))), df, o + i);
    } else {
      for (std::size_t i = 0; i < 32; ++i) o[i] = d * static_cast<float>(q[i]);
    }
  }
}

// dot(w, x) over n elements with four independent FMA chains (they hide the FMA latency), summed
// as (a0 + a1) + (a2 + a3), then the scalar tail. Every token of every batch goes through exactly
// this arithmetic, so a token's product does not depend on how many tokens share the call.
float DotOne(const float* HWY_RESTRICT w, const float* HWY_RESTRICT x, std::size_t n) {
  const hn::ScalableTag<float> df;
  const std::size_t N = hn::Lanes(df);
  auto a0 = hn::Zero(df), a1 = hn::Zero(df), a2 = hn::Zero(df), a3 = hn::Zero(df);
  std::size_t i = 0;
  for (; i + 4 * N <= n; i += 4 * N) {
    a0 = hn::MulAdd(hn::LoadU(df, w + i), hn::LoadU(df, x + i), a0);
    a1 = hn::MulAdd(hn::LoadU(df, w + i + N), hn::LoadU(df, x + i + N), a1);
    a2 = hn::MulAdd(hn::LoadU(df, w + i + 2 * N), hn::LoadU(df, x + i + 2 * N), a2);
    a3 = hn::MulAdd(hn::LoadU(df, w + i + 3 * N), hn::LoadU(df, x + i + 3 * N), a3);
  }
  for (; i + N <= n; i += N) a0 = hn::MulAdd(hn::LoadU(df, w + i), hn::LoadU(df, x + i), a0);
  float s = hn::GetLane(hn::SumOfLanes(df, hn::Add(hn::Add(a0, a1), hn::Add(a2, a3))));
  for (; i < n; ++i) s += w[i] * x[i];
  return s;
}

// The same arithmetic as DotOne for two vectors at once: each weight vector is loaded once for
// both (eight accumulators).
void DotTwo(const float* HWY_RESTRICT w, const float* HWY_RESTRICT x, const float* HWY_RESTRICT y, std::size_t n,
            float* sx, float* sy) {
  const hn::ScalableTag<float> df;
  const std::size_t N = hn::Lanes(df);
  auto a0 = hn::Zero(df), a1 = hn::Zero(df), a2 = hn::Zero(df), a3 = hn::Zero(df);
  auto b0 = hn::Zero(df), b1 = hn::Zero(df), b2 = hn::Zero(df), b3 = hn::Zero(df);
  std::size_t i = 0;
  for (; i + 4 * N <= n; i += 4 * N) {
    const auto w0 = hn::LoadU(df, w + i), w1 = hn::LoadU(df, w + i + N);
    const auto w2 = hn::LoadU(df, w + i + 2 * N), w3 = hn::LoadU(df, w + i + 3 * N);
    a0 = hn::MulAdd(w0, hn::LoadU(df, x + i), a0);
    b0 = hn::MulAdd(w0, hn::LoadU(df, y + i), b0);
    a1 = hn::MulAdd(w1, hn::LoadU(df, x + i + N), a1);
    b1 = hn::MulAdd(w1, hn::LoadU(df, y + i + N), b1);
    a2 = hn::MulAdd(w2, hn::LoadU(df, x + i + 2 * N), a2);
    b2 = hn::MulAdd(w2, hn::LoadU(df, y + i + 2 * N), b2);
    a3 = hn::MulAdd(w3, hn::LoadU(df, x + i + 3 * N), a3);
    b3 = hn::MulAdd(w3, hn::LoadU(df, y + i + 3 * N), b3);
  }
  for (; i + N <= n; i += N) {
    const auto w0 = hn::LoadU(df, w + i);
    a0 = hn::MulAdd(w0, hn::LoadU(df, x + i), a0);
    b0 = hn::MulAdd(w0, hn::LoadU(df, y + i), b0);
  }
  float s = hn::GetLane(hn::SumOfLanes(df, hn::Add(hn::Add(a0, a1), hn::Add(a2, a3))));
  float t = hn::GetLane(hn::SumOfLanes(df, hn::Add(hn::Add(b0, b1), hn::Add(b2, b3))));
  for (; i < n; ++i) {
    s += w[i] * x[i];
    t += w[i] * y[i];
  }
  *sx = s;
  *sy = t;
}

// out[t · out_stride] = dot(w, x + t · x_stride) over n elements, for t < k ≤ 4, each exactly as
// DotOne computes it; pairs of vectors share the loads of w.
void DotTokens(const float* HWY_RESTRICT w, const float* HWY_RESTRICT x, std::size_t x_stride, std::size_t n,
               std::size_t k, float* HWY_RESTRICT out, std::size_t out_stride) {
  std::size_t t = 0;
  for (; t + 2 <= k; t += 2)
    DotTwo(w, x + t * x_stride, x + (t + 1) * x_stride, n, out + t * out_stride, out + (t + 1) * out_stride);
  if (t < k) out[t * out_stride] = DotOne(w, x + t * x_stride, n);
}

}  // namespace HWY_NAMESPACE
}  // namespace veloxquant
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace veloxquant {

HWY_EXPORT(WidenBF16);
HWY_EXPORT(DequantQ8_0);
HWY_EXPORT(DotTokens);

void dequantize_row(const WeightView& w, std::size_t r, float* out) {
  if (w.quantizer) {
    const std::size_t bd = w.quantizer->dim(), cs = w.quantizer->code_size();
    for (std::size_t b = 0; b < w.cols / bd; ++b) w.quantizer->decode(1, w.data + (b * w.rows + r) * cs, out + b * bd);
    return;
  }
  const std::uint8_t* row = w.data + r * w.row_bytes;
  switch (w.type) {
    case GgmlType::kF32:
      std::copy_n(reinterpret_cast<const float*>(row), w.cols, out);
      return;
    // f16 rows: the library's conversion kernel (hardware F16C where present, exact elsewhere).
    case GgmlType::kF16:
      kernels::halves_to_floats(w.cols, reinterpret_cast<const std::uint16_t*>(row), out);
      return;
    case GgmlType::kBF16:
      HWY_DYNAMIC_DISPATCH(WidenBF16)(row, w.cols, out);
      return;
    case GgmlType::kQ8_0:
      HWY_DYNAMIC_DISPATCH(DequantQ8_0)(row, w.cols, out);
      return;
  }
}

namespace {
// HWY_DYNAMIC_DISPATCH gives a "choose the target, then call" trampoline until the chosen target
// is set. We hold the returned pointer over whole loops, so set the target first; otherwise
// every call runs CPUID (slow under a hypervisor: it was half the run time).
void init_dispatch() {
  static const bool ready = [] {
    hwy::GetChosenTarget().Update(hwy::SupportedTargets());
    return true;
  }();
  (void)ready;
}
}  // namespace

void dot_many(const float* w, const float* x, std::size_t x_stride, std::size_t n, std::size_t k, float* out) {
  init_dispatch();
  const auto dot = HWY_DYNAMIC_DISPATCH(DotTokens);
  for (std::size_t t = 0; t < k; t += 4)
    dot(w, x + t * x_stride, x_stride, n, std::min<std::size_t>(4, k - t), out + t, 1);
}

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

void matmul(const WeightView& w, const float* x, std::size_t n_tokens, float* y, ThreadPool& pool) {
  if (w.quantizer) return matmul_on_codes(w, x, n_tokens, y, pool);
  init_dispatch();
  const auto dot = HWY_DYNAMIC_DISPATCH(DotTokens);
  // Tokens in blocks that stay in cache while every row of this thread's part passes by.
  constexpr std::size_t kTokenBlock = 64;
  pool.parallel_for(w.rows, [&](std::size_t begin, std::size_t end) {
    std::vector<float> buffer(w.type == GgmlType::kF32 ? 0 : w.cols);
    for (std::size_t t0 = 0; t0 < n_tokens; t0 += kTokenBlock) {
      const std::size_t t1 = std::min(n_tokens, t0 + kTokenBlock);
      for (std::size_t r = begin; r < end; ++r) {
        const float* row;
        if (w.type == GgmlType::kF32) {
          // f32 rows in the mapped file are 4-byte aligned (GGUF data is 32-byte aligned).
          row = reinterpret_cast<const float*>(w.data + r * w.row_bytes);
        } else {
          dequantize_row(w, r, buffer.data());
          row = buffer.data();
        }
        for (std::size_t t = t0; t < t1; t += 4)
          dot(row, x + t * w.cols, w.cols, w.cols, std::min<std::size_t>(4, t1 - t), y + t * w.rows + r, w.rows);
      }
    }
  });
}

}  // namespace veloxquant
#endif
