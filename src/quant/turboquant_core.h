// The TurboQuant-MSE stage shared by tq, tq with outlier channels, and tqp.
//
// Record: [fp16 scale s][b bit planes of the codes of y = Π·x/‖x‖]; decode x̂ = s·Πᵀ·c[idx].
// With norm correction s = ‖x‖·⟨y, c⟩/‖c‖² (the least-squares scale, EDEN); else s = ‖x‖.
// Scores and accumulators live in the rotated domain: ⟨q, x̂⟩ = s·⟨Π·q, c[idx]⟩.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/int8_codes.h"
#include "kernels/kernels.h"
#include "veloxquant/codebook.h"
#include "veloxquant/format.h"
#include "veloxquant/rotation.h"

namespace veloxquant {

class TurboMseCore {
 public:
  // The first `extra` rotated coordinates get bits + 1 (a fractional rate within one rotation:
  // e.g. d = 64, 16 at 5 bits and 48 at 4 gives 4.5 bits with the scale); 0 for plain tqB.
  TurboMseCore(std::size_t dim, int bits, std::uint64_t rotation_seed, bool norm_correction, std::size_t extra = 0);

  std::size_t dim() const { return dim_; }
  int bits() const { return bits_; }
  bool norm_correction() const { return norm_correction_; }
  std::size_t code_size() const { return code_size_; }
  const Rotation& rotation() const { return rotation_; }
  const Codebook& codebook() const { return *parts_[1].codebook; }

  // Encodes x[dim] (finite) into rec. If residual is non-null it receives y − (s/‖x‖)·c, the
  // rotated unit-vector residual (zero for a zero vector); returns ‖x‖.
  // `work` needs dim floats.
  float encode(const float* x, std::uint8_t* rec, float* work, float* residual = nullptr) const;
  // y = Π·x/‖x‖ exactly as encode computes it (y = 0 for a zero vector); returns ‖x‖.
  double normalize_rotate(const float* x, float* y) const;
  // For encoders that choose the codes themselves (GPTQ): the codebook of rotated coordinate j,
  // and a record of scale `scale` whose codes are the nearest centroids of the unit-domain y.
  const Codebook& codebook_at(std::size_t j) const { return *parts_[j < parts_[0].count ? 0 : 1].codebook; }
  void write(const float* y, float scale, std::uint8_t* rec) const;
  // The fp16 bits of a record scale; false (h untouched) when it is not finite or past the fp16
  // range, where write and encode throw std::invalid_argument.
  static bool scale_to_half(double scale, std::uint16_t& h);
  // Rotated-domain reconstruction s·c[idx] of n records at `stride` bytes.
  void decode_rotated(std::size_t n, const std::uint8_t* recs, std::size_t stride, float* out) const;
  // out[i·n + t] = s_t·⟨q_i, c_t⟩ for rotated queries q_i (q_stride apart).
  void score(std::size_t n_q, const float* q, std::size_t q_stride, std::size_t n, const std::uint8_t* recs,
             std::size_t stride, float* out) const;
  // Record blocks (pack/plane_blocks.h) of records that hold this core's record at byte `region`:
  // whether every part can be read on blocks (≤ kMaxInt8Bits), record r in and out of a block, score()
  // on n_blocks blocks (keys order) of block_bytes — the same values; false, with out unspecified,
  // for queries that cannot be rounded to int8 and need the float path of score() — and
  // accumulate() on blocks in values order, the same values for any weights.
  bool scores_blocks() const;
  void put_block(BlockOrder order, const std::uint8_t* rec, std::uint8_t* block, std::size_t region,
                 std::size_t r) const;
  void get_block(BlockOrder order, const std::uint8_t* block, std::size_t region, std::size_t r,
                 std::uint8_t* rec) const;
  bool score_blocks(std::size_t n_q, const float* q, std::size_t q_stride, std::size_t n_blocks,
                    const std::uint8_t* blocks, std::size_t block_bytes, std::size_t region, float* out) const;
  void accumulate_blocks(std::size_t n_q, const float* w, std::size_t n_blocks, const std::uint8_t* blocks,
                         std::size_t block_bytes, std::size_t region, float* acc, std::size_t acc_stride) const;
  // acc_i += Σ_t w_it·s_t·c_t (rotated domain); acc rows acc_stride apart.
  void accumulate(std::size_t n_q, const float* w, std::size_t n, const std::uint8_t* recs, std::size_t stride,
                  float* acc, std::size_t acc_stride) const;

 private:
  // Coordinates [first, first + count) coded with `codebook` in planes at `offset` of the record.
  struct Part {
    std::size_t first = 0, count = 0, offset = 0;
    int bits = 0;
    const Codebook* codebook = nullptr;
    kernels::Int8Codebook int8;  // integer scoring for ≤ kMaxInt8Bits bits
  };
  kernels::PlaneCodes planes(const Part& part, const std::uint8_t* recs, std::size_t stride) const;
  // Scores summed over the parts as score() defines them: part_score(part, dst) writes `count`
  // scores of one part; the main part's go straight into out, the extra part's are added after.
  template <class PartScore>
  void sum_parts(std::size_t count, float* out, PartScore&& part_score) const;
  static void store_scale(double scale, std::uint8_t* rec);  // fp16; throws past its range

  std::size_t dim_;
  int bits_;
  bool norm_correction_;
  Rotation rotation_;
  Part parts_[2];  // [0]: the `extra` coordinates at bits + 1 (may be empty), [1]: the rest
  std::size_t code_size_;
};

// 1-bit sign sketch of a vector, as in QJL: record planes of sign(S·v) for a Gaussian S (m×d).
struct SignSketch {
  static constexpr float kPlusMinus[2] = {-1.0f, 1.0f};
  static const kernels::Int8Codebook& int8();  // ±1 as integers, exact
  // Sign bits of v (m values) into `planes` (ceil(m/8) bytes): bit = v_j > 0.
  static void encode(std::size_t m, const float* v, std::uint8_t* planes);
};

}  // namespace veloxquant
