// PolarQuant: rotate, then a recursive polar transform of each block of 16 coordinates.
// Level 1 angles ψ = atan2(y_{2j+1}, y_{2j}) ∈ [0, 2π) (uniform); level ℓ ≥ 2 angles
// ψ = atan2(r_{2j+1}, r_{2j}) ∈ [0, π/2] with density ∝ sin^(2^(ℓ−1)−1)(2ψ); one fp16 radius per block.
// Record: [fp16 radius per block][level 1 angle planes][level 2]…[level 4], each level's angles
// of all blocks packed as bit planes. A head dimension that is not a multiple of 16 is
// zero-padded in the rotated domain (the pad is stored like any coordinate).
#include <cmath>
#include <stdexcept>
#include <string>

#include "kernels/kernels.h"
#include "pack/bitplane.h"
#include "quant/quantizers.h"
#include "util/half.h"
#include "veloxquant/codebook.h"
#include "veloxquant/rotation.h"

namespace veloxquant {

namespace {

constexpr int kLevels = 4;
constexpr std::size_t kBlock = 1 << kLevels;
constexpr double kTwoPi = 6.283185307179586476925;

class PolarQuantizer final : public BlockDecodedQuantizer {
 public:
  PolarQuantizer(const FormatSpec& spec, std::size_t dim, std::uint64_t seed)
      : BlockDecodedQuantizer(spec, dim, seed),
        rotation_(dim, purpose_seed(seed, SeedPurpose::kRotation)),
        blocks_((dim + kBlock - 1) / kBlock) {
    std::size_t offset = 2 * blocks_;
    for (int l = 0; l < kLevels; ++l) {
      const int bits = spec.polar_bits[l];
      codebooks_[l] = &polar_angle_codebook(l + 1, bits);
      angles_[l] = blocks_ * (kBlock >> (l + 1));
      level_offset_[l] = offset;
      offset += packed_bytes(angles_[l], bits);
      for (std::size_t k = 0; k < codebooks_[l]->centroids.size(); ++k) {
        cos_[l].push_back(std::cos(codebooks_[l]->centroids[k]));
        sin_[l].push_back(std::sin(codebooks_[l]->centroids[k]));
      }
    }
    code_size_ = offset;
  }

  std::size_t code_size() const override { return code_size_; }

 protected:
  std::size_t work_dim() const override { return blocks_ * kBlock; }
  void to_work(const float* x, float* out) const override {
    rotation_.apply(1, x, out);
    std::fill(out + dim(), out + work_dim(), 0.0f);
  }
  void from_work(const float* w, float* out) const override { rotation_.apply_transpose(1, w, out); }

  void encode_checked(std::size_t n, const float* x, std::uint8_t* codes) const override {
    const std::size_t wd = work_dim();
    float* y = scratch_floats(0, wd);
    std::vector<std::uint8_t> level_codes[kLevels];
    for (int l = 0; l < kLevels; ++l) level_codes[l].resize(angles_[l]);
    for (std::size_t t = 0; t < n; ++t) {
      std::uint8_t* rec = codes + t * code_size_;
      to_work(x + t * dim(), y);
      for (std::size_t b = 0; b < blocks_; ++b) {
        double r[kBlock];
        for (std::size_t j = 0; j < kBlock; ++j) r[j] = y[b * kBlock + j];
        std::size_t width = kBlock;
        for (int l = 0; l < kLevels; ++l) {
          width /= 2;
          for (std::size_t j = 0; j < width; ++j) {
            const double a = r[2 * j], c = r[2 * j + 1];
            double psi = std::atan2(c, a);
            int code;
            if (l == 0) {  // full circle, uniform cells
              if (psi < 0) psi += kTwoPi;
              const int levels = 1 << spec().polar_bits[0];
              code = std::min(levels - 1, static_cast<int>(psi / kTwoPi * levels));
            } else {
              code = nearest_centroid(*codebooks_[l], static_cast<float>(psi));
            }
            level_codes[l][b * width + j] = static_cast<std::uint8_t>(code);
            r[j] = std::sqrt(a * a + c * c);
          }
        }
        const std::uint16_t h = float_to_half(static_cast<float>(r[0]));
        if (std::isinf(half_to_float(h)))
          throw std::invalid_argument("polar encode: radius of vector " + std::to_string(t) +
                                      " exceeds the fp16 range (max 65504)");
        store_u16(rec + 2 * b, h);
      }
      for (int l = 0; l < kLevels; ++l)
        pack_planes(angles_[l], level_codes[l].data(), spec().polar_bits[l], rec + level_offset_[l]);
    }
  }

  // Vectorized over the 16 coordinates of a block (kernels::decode_polar); the score and the
  // accumulation then run the float kernels on blocks of decoded records.
  void decode_work(std::size_t n, const std::uint8_t* codes, float* out) const override {
    kernels::PolarCodes c{codes, code_size_, blocks_};
    for (int l = 0; l < kLevels; ++l) {
      c.bits[l] = spec().polar_bits[l];
      c.level_offset[l] = level_offset_[l];
      c.cos[l] = cos_[l].data();
      c.sin[l] = sin_[l].data();
    }
    kernels::decode_polar(c, n, out);
  }

 private:
  Rotation rotation_;
  std::size_t blocks_;
  std::size_t code_size_ = 0;
  const Codebook* codebooks_[kLevels] = {};
  std::size_t angles_[kLevels] = {};        // angles per level in one record
  std::size_t level_offset_[kLevels] = {};  // byte offset of each level's planes
  std::vector<float> cos_[kLevels], sin_[kLevels];
};

}  // namespace

std::unique_ptr<Quantizer> make_polar_quantizer(const FormatSpec& spec, std::size_t dim, std::uint64_t seed) {
  return std::make_unique<PolarQuantizer>(spec, dim, seed);
}

}  // namespace veloxquant
