// TurboQuant-MSE (tqB) and its outlier-channel variant (tq2.5, tq3.5, tqB:outliers=N/B'), where a
// chosen set of channels gets its own TurboQuant instance with more bits (paper §4).
#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/kernels.h"
#include "pack/plane_blocks.h"
#include "quant/quantizers.h"
#include "quant/rotated_records.h"
#include "quant/turboquant_core.h"

namespace veloxquant {

namespace {

// Keys in blocks are scored in integers; queries that int8 cannot round take score()'s float
// path on the records copied out of their blocks (rare: non-finite or tiny queries).
void score_unblocked(const Quantizer& q, std::size_t n_q, const float* prepared, std::size_t n_blocks,
                     const std::uint8_t* blocks, float* out) {
  thread_local std::vector<std::uint8_t> recs;
  const std::size_t cs = q.code_size(), n = kBlockRecords * n_blocks;
  recs.resize(n * cs);
  for (std::size_t t = 0; t < n; ++t)
    q.get_block_record(BlockOrder::kKeys, blocks + t / kBlockRecords * kBlockRecords * cs, t % kBlockRecords,
                       recs.data() + t * cs);
  q.score(n_q, prepared, n, recs.data(), out);
}

class TurboMseQuantizer final : public Quantizer, public RotatedRecords {
 public:
  TurboMseQuantizer(const FormatSpec& spec, std::size_t dim, std::uint64_t seed)
      : Quantizer(spec, dim, seed),
        core_(dim, spec.bits, purpose_seed(seed, SeedPurpose::kRotation), spec.norm_correction, spec.extra_coords),
        group_{0, 0, &core_},
        block_(kernels::score_blocks_fast() && core_.scores_blocks() ? kBlockRecords : 1) {}

  std::span<const Group> groups() const override { return {&group_, 1}; }
  void normalize_rotate(const float* x, float* y, double* norms) const override {
    norms[0] = core_.normalize_rotate(x, y);
  }

  std::size_t code_size() const override { return core_.code_size(); }
  std::size_t query_size() const override { return dim(); }
  std::size_t accumulator_size() const override { return dim(); }

  void decode(std::size_t n, const std::uint8_t* codes, float* x) const override {
    core_.decode_rotated(n, codes, code_size(), x);
    core_.rotation().apply_transpose(n, x, x);
  }
  void prepare_query(const float* q, float* prepared) const override { core_.rotation().apply(1, q, prepared); }
  void score(std::size_t nq, const float* prepared, std::size_t n, const std::uint8_t* codes,
             float* out) const override {
    core_.score(nq, prepared, dim(), n, codes, code_size(), out);
  }
  void accumulate(std::size_t nq, const float* w, std::size_t n, const std::uint8_t* codes, float* acc) const override {
    core_.accumulate(nq, w, n, codes, code_size(), acc, dim());
  }
  void finish_accumulate(const float* acc, float* out) const override { core_.rotation().apply_transpose(1, acc, out); }

  std::size_t block_records() const override { return block_; }
  void put_block_record(BlockOrder order, const std::uint8_t* rec, std::uint8_t* block, std::size_t r) const override {
    if (block_records() == 1) return Quantizer::put_block_record(order, rec, block, r);
    core_.put_block(order, rec, block, 0, r);
  }
  void get_block_record(BlockOrder order, const std::uint8_t* block, std::size_t r, std::uint8_t* rec) const override {
    if (block_records() == 1) return Quantizer::get_block_record(order, block, r, rec);
    core_.get_block(order, block, 0, r, rec);
  }
  void score_blocks(std::size_t nq, const float* prepared, std::size_t n_blocks, const std::uint8_t* blocks,
                    float* out) const override {
    if (block_records() == 1) return Quantizer::score_blocks(nq, prepared, n_blocks, blocks, out);
    if (!core_.score_blocks(nq, prepared, dim(), n_blocks, blocks, kBlockRecords * code_size(), 0, out))
      score_unblocked(*this, nq, prepared, n_blocks, blocks, out);
  }
  void accumulate_blocks(std::size_t nq, const float* w, std::size_t n_blocks, const std::uint8_t* blocks,
                         float* acc) const override {
    if (block_records() == 1) return Quantizer::accumulate_blocks(nq, w, n_blocks, blocks, acc);
    core_.accumulate_blocks(nq, w, n_blocks, blocks, kBlockRecords * code_size(), 0, acc, dim());
  }

 protected:
  void encode_checked(std::size_t n, const float* x, std::uint8_t* codes) const override {
    float* work = scratch_floats(0, dim());
    for (std::size_t t = 0; t < n; ++t) core_.encode(x + t * dim(), codes + t * code_size(), work);
  }

 private:
  TurboMseCore core_;
  Group group_;
  std::size_t block_;  // chosen once: a cache's pages keep the layout they were written in
};

// Work domain: [Π_out·x_outliers, Π_in·x_inliers]; record: [outlier record][inlier record].
class OutlierSplitQuantizer final : public Quantizer, public RotatedRecords {
 public:
  OutlierSplitQuantizer(const FormatSpec& spec, std::size_t dim, std::uint64_t seed,
                        std::vector<std::uint32_t> outliers)
      : Quantizer(spec, dim, seed),
        outliers_(std::move(outliers)),
        inliers_(complement_channels(outliers_, dim)),
        out_core_(outliers_.size(), spec.outlier_bits, purpose_seed(seed, SeedPurpose::kOutlierRotation),
                  spec.norm_correction),
        in_core_(inliers_.size(), spec.bits, purpose_seed(seed, SeedPurpose::kRotation), spec.norm_correction),
        groups_{{0, 0, &out_core_}, {n_out(), out_core_.code_size(), &in_core_}},
        block_(kernels::score_blocks_fast() && out_core_.scores_blocks() && in_core_.scores_blocks() ? kBlockRecords
                                                                                                     : 1) {}

  std::span<const Group> groups() const override { return groups_; }
  void normalize_rotate(const float* x, float* y, double* norms) const override {
    float* parts = scratch_floats(1, dim());
    split(x, parts);
    norms[0] = out_core_.normalize_rotate(parts, y);
    norms[1] = in_core_.normalize_rotate(parts + n_out(), y + n_out());
  }

  const std::vector<std::uint32_t>& outliers() const { return outliers_; }
  std::size_t code_size() const override { return out_core_.code_size() + in_core_.code_size(); }
  std::size_t query_size() const override { return dim(); }
  std::size_t accumulator_size() const override { return dim(); }

  void decode(std::size_t n, const std::uint8_t* codes, float* x) const override {
    float* work = scratch_floats(0, dim());
    for (std::size_t t = 0; t < n; ++t) {
      const std::uint8_t* rec = codes + t * code_size();
      out_core_.decode_rotated(1, rec, code_size(), work);
      in_core_.decode_rotated(1, rec + out_core_.code_size(), code_size(), work + n_out());
      finish_accumulate(work, x + t * dim());
    }
  }
  void prepare_query(const float* q, float* prepared) const override {
    split(q, prepared);
    out_core_.rotation().apply(1, prepared, prepared);
    in_core_.rotation().apply(1, prepared + n_out(), prepared + n_out());
  }
  void score(std::size_t nq, const float* prepared, std::size_t n, const std::uint8_t* codes,
             float* out) const override {
    float* inlier_scores = scratch_floats(1, nq * n);
    out_core_.score(nq, prepared, dim(), n, codes, code_size(), out);
    in_core_.score(nq, prepared + n_out(), dim(), n, codes + out_core_.code_size(), code_size(), inlier_scores);
    for (std::size_t i = 0; i < nq * n; ++i) out[i] += inlier_scores[i];
  }
  void accumulate(std::size_t nq, const float* w, std::size_t n, const std::uint8_t* codes, float* acc) const override {
    out_core_.accumulate(nq, w, n, codes, code_size(), acc, dim());
    in_core_.accumulate(nq, w, n, codes + out_core_.code_size(), code_size(), acc + n_out(), dim());
  }
  void finish_accumulate(const float* acc, float* out) const override {
    float* work = scratch_floats(1, dim());
    out_core_.rotation().apply_transpose(1, acc, work);
    in_core_.rotation().apply_transpose(1, acc + n_out(), work + n_out());
    for (std::size_t j = 0; j < n_out(); ++j) out[outliers_[j]] = work[j];
    for (std::size_t j = 0; j < inliers_.size(); ++j) out[inliers_[j]] = work[n_out() + j];
  }

  // Blocks hold the two instances' records side by side as in a record: regions 0 and out_cs.
  std::size_t block_records() const override { return block_; }
  void put_block_record(BlockOrder order, const std::uint8_t* rec, std::uint8_t* block, std::size_t r) const override {
    if (block_records() == 1) return Quantizer::put_block_record(order, rec, block, r);
    out_core_.put_block(order, rec, block, 0, r);
    in_core_.put_block(order, rec + out_core_.code_size(), block, out_core_.code_size(), r);
  }
  void get_block_record(BlockOrder order, const std::uint8_t* block, std::size_t r, std::uint8_t* rec) const override {
    if (block_records() == 1) return Quantizer::get_block_record(order, block, r, rec);
    out_core_.get_block(order, block, 0, r, rec);
    in_core_.get_block(order, block, out_core_.code_size(), r, rec + out_core_.code_size());
  }
  void score_blocks(std::size_t nq, const float* prepared, std::size_t n_blocks, const std::uint8_t* blocks,
                    float* out) const override {
    if (block_records() == 1) return Quantizer::score_blocks(nq, prepared, n_blocks, blocks, out);
    const std::size_t n = kBlockRecords * n_blocks, block_bytes = kBlockRecords * code_size();
    float* inlier_scores = scratch_floats(1, nq * n);
    if (!out_core_.score_blocks(nq, prepared, dim(), n_blocks, blocks, block_bytes, 0, out) ||
        !in_core_.score_blocks(nq, prepared + n_out(), dim(), n_blocks, blocks, block_bytes, out_core_.code_size(),
                               inlier_scores))
      return score_unblocked(*this, nq, prepared, n_blocks, blocks, out);
    for (std::size_t i = 0; i < nq * n; ++i) out[i] += inlier_scores[i];
  }
  void accumulate_blocks(std::size_t nq, const float* w, std::size_t n_blocks, const std::uint8_t* blocks,
                         float* acc) const override {
    if (block_records() == 1) return Quantizer::accumulate_blocks(nq, w, n_blocks, blocks, acc);
    const std::size_t block_bytes = kBlockRecords * code_size();
    out_core_.accumulate_blocks(nq, w, n_blocks, blocks, block_bytes, 0, acc, dim());
    in_core_.accumulate_blocks(nq, w, n_blocks, blocks, block_bytes, out_core_.code_size(), acc + n_out(), dim());
  }

 protected:
  void encode_checked(std::size_t n, const float* x, std::uint8_t* codes) const override {
    float* parts = scratch_floats(1, dim());
    float* work = scratch_floats(0, dim());
    for (std::size_t t = 0; t < n; ++t) {
      std::uint8_t* rec = codes + t * code_size();
      split(x + t * dim(), parts);
      out_core_.encode(parts, rec, work);
      in_core_.encode(parts + n_out(), rec + out_core_.code_size(), work);
    }
  }

 private:
  std::size_t n_out() const { return outliers_.size(); }
  void split(const float* x, float* parts) const {
    for (std::size_t j = 0; j < n_out(); ++j) parts[j] = x[outliers_[j]];
    for (std::size_t j = 0; j < inliers_.size(); ++j) parts[n_out() + j] = x[inliers_[j]];
  }
  std::vector<std::uint32_t> outliers_, inliers_;
  TurboMseCore out_core_, in_core_;
  Group groups_[2];
  std::size_t block_;  // chosen once, as in TurboMseQuantizer
};

}  // namespace

const RotatedRecords* rotated_records(const Quantizer& q) { return dynamic_cast<const RotatedRecords*>(&q); }

std::unique_ptr<Quantizer> make_turbo_mse_quantizer(const FormatSpec& spec, std::size_t dim, std::uint64_t seed,
                                                    std::span<const std::uint32_t> outlier_channels) {
  const std::size_t n_out = spec.outliers_for_dim(dim);
  if (n_out > 0 && spec.extra_coords > 0)
    throw std::invalid_argument("format " + spec.name() + ": extra coordinates and outlier channels do not combine");
  if (n_out == 0) return std::make_unique<TurboMseQuantizer>(spec, dim, seed);
  return std::make_unique<OutlierSplitQuantizer>(spec, dim, seed,
                                                 checked_outlier_channels(spec, dim, outlier_channels));
}

}  // namespace veloxquant
