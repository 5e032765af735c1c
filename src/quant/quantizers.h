// Internal: constructors of each method's quantizer, and the shared pieces they are built from.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "veloxquant/quantizer.h"

namespace veloxquant {

std::unique_ptr<Quantizer> make_baseline_quantizer(const FormatSpec& spec, std::size_t dim);
std::unique_ptr<Quantizer> make_turbo_mse_quantizer(const FormatSpec& spec, std::size_t dim, std::uint64_t seed,
                                                    std::span<const std::uint32_t> outlier_channels);
std::unique_ptr<Quantizer> make_turbo_prod_quantizer(const FormatSpec& spec, std::size_t dim, std::uint64_t seed,
                                                     std::span<const std::uint32_t> outlier_channels);
std::unique_ptr<Quantizer> make_qjl_quantizer(const FormatSpec& spec, std::size_t dim, std::uint64_t seed);
std::unique_ptr<Quantizer> make_polar_quantizer(const FormatSpec& spec, std::size_t dim, std::uint64_t seed);

// Seeds of the random pieces of one quantizer, derived from its seed (documented in docs/formats.md).
enum class SeedPurpose : std::uint64_t { kRotation = 1, kSketch = 2, kOutlierRotation = 3, kOutlierSketch = 4 };
std::uint64_t purpose_seed(std::uint64_t seed, SeedPurpose purpose);

// Outlier channel splits (tq and tqp with outliers): the channel list a quantizer of `spec` and
// `dim` uses — `chosen` checked (spec.outliers_for_dim(dim) distinct channels < dim, 2 ≤ count ≤
// dim − 2), or the first channels when `chosen` is empty — and the ascending rest of [0, dim).
std::vector<std::uint32_t> checked_outlier_channels(const FormatSpec& spec, std::size_t dim,
                                                    std::span<const std::uint32_t> chosen);
std::vector<std::uint32_t> complement_channels(const std::vector<std::uint32_t>& chosen, std::size_t dim);

// Per-thread scratch that grows and never shrinks: no allocation in steady-state hot loops.
float* scratch_floats(int slot, std::size_t count);

// Quantizers whose records are decoded block-wise into a work domain (identity or rotated) and
// then scored with the plain float kernels: the baselines and PolarQuant.
class BlockDecodedQuantizer : public Quantizer {
 public:
  std::size_t query_size() const override { return work_dim(); }
  std::size_t accumulator_size() const override { return work_dim(); }
  void prepare_query(const float* q, float* prepared) const override { to_work(q, prepared); }
  void finish_accumulate(const float* acc, float* out) const override { from_work(acc, out); }
  void decode(std::size_t n, const std::uint8_t* codes, float* x) const override;
  void score(std::size_t n_queries, const float* prepared, std::size_t n, const std::uint8_t* codes,
             float* out) const override;
  void accumulate(std::size_t n_queries, const float* weights, std::size_t n, const std::uint8_t* codes,
                  float* acc) const override;

 protected:
  using Quantizer::Quantizer;
  virtual std::size_t work_dim() const { return dim(); }
  // n records → n work-domain vectors of work_dim() floats.
  virtual void decode_work(std::size_t n, const std::uint8_t* codes, float* out) const = 0;
  virtual void to_work(const float* x, float* out) const;
  virtual void from_work(const float* w, float* out) const;
};

}  // namespace veloxquant
