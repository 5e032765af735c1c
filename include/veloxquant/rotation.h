// Random orthogonal rotations Π, seeded by a uint64 and bit-identical on every platform.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace veloxquant {

enum class RotationKind {
  kHadamard,  // randomized Hadamard: Π = H·D/√d (random signs D, fast Walsh–Hadamard H); d = 2^k
  kHaar,      // dense Haar-random orthogonal matrix (QR of a Gaussian matrix, sign-corrected)
  // Any d ≥ 2 that is not a power of two: four randomized Hadamard transforms of size p (the largest
  // power of two below d) on the overlapping windows [0, p) and [d − p, d), a random permutation
  // after the first two. O(d log d) to apply and to build, where Haar costs O(d³) to build.
  kOverlapHadamard,
};

// The default rotation of a dimension that is not a power of two is Haar up to this size (set-up
// 3.2 s at d = 1000 on the dev VM, growing as d³) and kOverlapHadamard above it. Fixed: the codes of
// every stored cache and model file with such a dimension depend on it.
inline constexpr std::size_t kMaxDefaultHaarDim = 1024;

class Rotation {
 public:
  Rotation() = default;
  // kind defaults to Hadamard for powers of two, Haar up to kMaxDefaultHaarDim, kOverlapHadamard
  // above. Throws on dim == 0, Hadamard with a non-power-of-two dim, kOverlapHadamard with a
  // power of two.
  Rotation(std::size_t dim, std::uint64_t seed);
  Rotation(std::size_t dim, std::uint64_t seed, RotationKind kind);

  std::size_t dim() const { return dim_; }
  RotationKind kind() const { return kind_; }
  std::uint64_t seed() const { return seed_; }

  // y = Π·x for n row vectors of length dim (x and y may alias).
  void apply(std::size_t n, const float* x, float* y) const;
  // x = Πᵀ·y for n row vectors (x and y may alias).
  void apply_transpose(std::size_t n, const float* y, float* x) const;

  // Dense row-major dim×dim matrix of Π (for artifacts and tests).
  std::vector<float> matrix() const;

  static RotationKind default_kind(std::size_t dim);

 private:
  void apply_overlap(std::size_t n, const float* x, float* y) const;
  void apply_overlap_transpose(std::size_t n, const float* y, float* x) const;

  std::size_t dim_ = 0;
  std::uint64_t seed_ = 0;
  RotationKind kind_ = RotationKind::kHaar;
  std::vector<float> signs_;         // Hadamard: ±1 per coordinate; kOverlapHadamard: 4 rounds × p
  std::vector<float> matrix_;        // Haar: row-major Π
  std::vector<std::uint32_t> perm_;  // kOverlapHadamard: y'[i] = y[perm_[i]] between rounds 2 and 3
  std::size_t window_ = 0;           // kOverlapHadamard: p
};

// rows×cols matrix of i.i.d. N(0, 1) entries, row-major, from `seed`.
std::vector<float> gaussian_matrix(std::size_t rows, std::size_t cols, std::uint64_t seed);

}  // namespace veloxquant
