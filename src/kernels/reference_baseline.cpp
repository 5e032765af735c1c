// Scalar references of the q8, q4 and PolarQuant record kernels (kernels.h): the definition of
// what kernels_baseline_simd.cpp computes on every target.
#include "kernels/canonical.h"
#include "kernels/kernels.h"
#include "pack/bitplane.h"
#include "util/half.h"

namespace veloxquant::kernels::ref {

namespace {

template <class Value>
void score_records(Value value, const std::uint8_t* records, std::size_t stride, std::size_t dim, std::size_t n,
                   std::size_t n_q, const float* q, std::size_t q_stride, float* out) {
  for (std::size_t i = 0; i < n_q; ++i)
    for (std::size_t t = 0; t < n; ++t)
      out[i * n + t] = lane_dot(
          dim, [&](std::size_t j) { return q[i * q_stride + j]; },
          [&](std::size_t j) { return value(records + t * stride, j); });
}

template <class Value>
void accumulate_records(Value value, const std::uint8_t* records, std::size_t stride, std::size_t dim, std::size_t n,
                        std::size_t n_q, const float* w, float* acc, std::size_t acc_stride) {
  for (std::size_t i = 0; i < n_q; ++i)
    for (std::size_t t = 0; t < n; ++t)
      for (std::size_t j = 0; j < dim; ++j)
        acc[i * acc_stride + j] = std::fma(value(records + t * stride, j), w[i * n + t], acc[i * acc_stride + j]);
}

}  // namespace

void score_q8(const std::uint8_t* records, std::size_t stride, std::size_t dim, std::size_t n, std::size_t n_q,
              const float* q, std::size_t q_stride, float* out) {
  score_records(q8_value, records, stride, dim, n, n_q, q, q_stride, out);
}

void accumulate_q8(const std::uint8_t* records, std::size_t stride, std::size_t dim, std::size_t n, std::size_t n_q,
                   const float* w, float* acc, std::size_t acc_stride) {
  accumulate_records(q8_value, records, stride, dim, n, n_q, w, acc, acc_stride);
}

void score_q4(const std::uint8_t* records, std::size_t stride, std::size_t dim, std::size_t n, std::size_t n_q,
              const float* q, std::size_t q_stride, float* out) {
  score_records(q4_value, records, stride, dim, n, n_q, q, q_stride, out);
}

void accumulate_q4(const std::uint8_t* records, std::size_t stride, std::size_t dim, std::size_t n, std::size_t n_q,
                   const float* w, float* acc, std::size_t acc_stride) {
  accumulate_records(q4_value, records, stride, dim, n, n_q, w, acc, acc_stride);
}

void decode_polar(const PolarCodes& c, std::size_t n, float* out) {
  constexpr std::size_t kBlock = 16;
  for (std::size_t t = 0; t < n; ++t) {
    const std::uint8_t* rec = c.records + t * c.stride;
    for (std::size_t b = 0; b < c.blocks; ++b)
      for (std::size_t k = 0; k < kBlock; ++k) {
        float y = half_to_float(load_u16(rec + 2 * b));
        for (int l = 3; l >= 0; --l) {                  // top-down, as the tree was built
          const std::size_t width = kBlock >> (l + 1);  // angles of level l+1 per block
          const unsigned code =
              plane_code(rec + c.level_offset[l], c.blocks * width, c.bits[l], b * width + (k >> (l + 1)));
          y *= (k >> l) & 1 ? c.sin[l][code] : c.cos[l][code];
        }
        out[(t * c.blocks + b) * kBlock + k] = y;
      }
  }
}

}  // namespace veloxquant::kernels::ref
