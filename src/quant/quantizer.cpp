#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/kernels.h"
#include "math/prng.h"
#include "quant/quantizers.h"

namespace veloxquant {

void Quantizer::encode(std::size_t n, const float* x, std::uint8_t* codes) const {
  if (kernels::any_abs_above(n * dim_, x, std::numeric_limits<float>::max())) {
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < dim_; ++j)
        if (!std::isfinite(x[i * dim_ + j]))
          throw std::invalid_argument(name() + " encode: non-finite value " + std::to_string(x[i * dim_ + j]) +
                                      " in vector " + std::to_string(i) + " at coordinate " + std::to_string(j));
  }
  encode_checked(n, x, codes);
}

// Plain records: a block is one record.
void Quantizer::put_block_record(BlockOrder, const std::uint8_t* rec, std::uint8_t* block, std::size_t r) const {
  std::memcpy(block + r * code_size(), rec, code_size());
}
void Quantizer::get_block_record(BlockOrder, const std::uint8_t* block, std::size_t r, std::uint8_t* rec) const {
  std::memcpy(rec, block + r * code_size(), code_size());
}
void Quantizer::score_blocks(std::size_t n_queries, const float* prepared, std::size_t n_blocks,
                             const std::uint8_t* blocks, float* out) const {
  score(n_queries, prepared, n_blocks * block_records(), blocks, out);
}
void Quantizer::accumulate_blocks(std::size_t n_queries, const float* weights, std::size_t n_blocks,
                                  const std::uint8_t* blocks, float* acc) const {
  accumulate(n_queries, weights, n_blocks * block_records(), blocks, acc);
}

std::unique_ptr<Quantizer> make_quantizer(const FormatSpec& spec, std::size_t dim, std::uint64_t seed,
                                          std::span<const std::uint32_t> outlier_channels) {
  if (dim == 0 || dim > 65536)
    throw std::invalid_argument("head dimension must be in 1..65536, got " + std::to_string(dim));
  if (!outlier_channels.empty() && spec.outliers_for_dim(dim) == 0)
    throw std::invalid_argument("format " + spec.name() + " takes no outlier channels");
  switch (spec.method) {
    case Method::kF32:
    case Method::kF16:
    case Method::kBF16:
    case Method::kQ8:
    case Method::kQ4:
      return make_baseline_quantizer(spec, dim);
    case Method::kTurboMse:
      return make_turbo_mse_quantizer(spec, dim, seed, outlier_channels);
    case Method::kTurboProd:
      return make_turbo_prod_quantizer(spec, dim, seed, outlier_channels);
    case Method::kQjl:
      return make_qjl_quantizer(spec, dim, seed);
    case Method::kPolar:
      return make_polar_quantizer(spec, dim, seed);
  }
  throw std::invalid_argument("unknown method");
}

std::unique_ptr<Quantizer> make_quantizer(std::string_view format, std::size_t dim, std::uint64_t seed) {
  return make_quantizer(parse_format(format), dim, seed);
}

std::uint64_t purpose_seed(std::uint64_t seed, SeedPurpose purpose) {
  return derive_seed(seed, static_cast<std::uint64_t>(purpose));
}

float* scratch_floats(int slot, std::size_t count) {
  thread_local std::vector<float> buffers[4];
  std::vector<float>& b = buffers[slot];
  if (b.size() < count) b.resize(count);
  return b.data();
}

// ---- BlockDecodedQuantizer ----

namespace {
constexpr std::size_t kBlock = 64;  // records decoded at a time (stays in L1)
}

void BlockDecodedQuantizer::to_work(const float* x, float* out) const { std::copy(x, x + dim(), out); }

void BlockDecodedQuantizer::from_work(const float* w, float* out) const { std::copy(w, w + dim(), out); }

void BlockDecodedQuantizer::decode(std::size_t n, const std::uint8_t* codes, float* x) const {
  const std::size_t wd = work_dim();
  float* work = scratch_floats(0, wd);
  for (std::size_t t = 0; t < n; ++t) {
    decode_work(1, codes + t * code_size(), work);
    from_work(work, x + t * dim());
  }
}

void BlockDecodedQuantizer::score(std::size_t n_queries, const float* prepared, std::size_t n,
                                  const std::uint8_t* codes, float* out) const {
  const std::size_t wd = work_dim();
  float* work = scratch_floats(0, kBlock * wd);
  float* block_out = scratch_floats(1, kBlock * n_queries);
  for (std::size_t t0 = 0; t0 < n; t0 += kBlock) {
    const std::size_t nb = std::min(kBlock, n - t0);
    decode_work(nb, codes + t0 * code_size(), work);
    kernels::score_f32(work, wd, wd, nb, n_queries, prepared, wd, block_out);
    for (std::size_t i = 0; i < n_queries; ++i)
      std::copy(block_out + i * nb, block_out + (i + 1) * nb, out + i * n + t0);
  }
}

void BlockDecodedQuantizer::accumulate(std::size_t n_queries, const float* weights, std::size_t n,
                                       const std::uint8_t* codes, float* acc) const {
  const std::size_t wd = work_dim();
  float* work = scratch_floats(0, kBlock * wd);
  float* block_w = scratch_floats(1, kBlock * n_queries);
  for (std::size_t t0 = 0; t0 < n; t0 += kBlock) {
    const std::size_t nb = std::min(kBlock, n - t0);
    decode_work(nb, codes + t0 * code_size(), work);
    for (std::size_t i = 0; i < n_queries; ++i)
      std::copy(weights + i * n + t0, weights + i * n + t0 + nb, block_w + i * nb);
    kernels::accumulate_f32(work, wd, wd, nb, n_queries, block_w, acc, wd);
  }
}

}  // namespace veloxquant
