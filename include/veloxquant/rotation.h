// Random orthogonal rotations Π, seeded by a uint64 and bit-identical on every platform.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace veloxquant {

enum class RotationKind {
  kHadamard,  // randomized Hadamard: Π = H·D/√d (random signs D, fast Walsh–Hadamard H); d = 2^k
  kHaar,      // dense Haar-random orthogonal matrix (QR of a Gaussian matrix, sign-corrected)
};

class Rotation {
 public:
  Rotation() = default;
  // kind defaults to Hadamard for powers of two, Haar otherwise. Throws on dim == 0 or
  // Hadamard with a non-power-of-two dim.
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
  std::size_t dim_ = 0;
  std::uint64_t seed_ = 0;
  RotationKind kind_ = RotationKind::kHaar;
  std::vector<float> signs_;   // Hadamard: ±1 per coordinate
  std::vector<float> matrix_;  // Haar: row-major Π
};

// rows×cols matrix of i.i.d. N(0, 1) entries, row-major, from `seed`.
std::vector<float> gaussian_matrix(std::size_t rows, std::size_t cols, std::uint64_t seed);

}  // namespace veloxquant
