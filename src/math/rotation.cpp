#include "veloxquant/rotation.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>

#include "kernels/kernels.h"
#include "math/prng.h"

namespace veloxquant {

namespace {

bool is_power_of_two(std::size_t n) { return n != 0 && (n & (n - 1)) == 0; }

// Haar-random orthogonal matrix: Gram–Schmidt (twice, in double) of a Gaussian matrix. GS
// yields the QR factor with a positive diagonal of R, which makes Q exactly Haar distributed.
std::vector<float> haar_matrix(std::size_t dim, std::uint64_t seed) {
  SplitMix64 rng(seed);
  std::vector<double> q(dim * dim);
  for (double& v : q) v = rng.normal();
  for (std::size_t i = 0; i < dim; ++i) {
    double* row = &q[i * dim];
    for (int pass = 0; pass < 2; ++pass) {
      for (std::size_t j = 0; j < i; ++j) {
        const double* prev = &q[j * dim];
        double dot = 0.0;
        for (std::size_t k = 0; k < dim; ++k) dot += row[k] * prev[k];
        for (std::size_t k = 0; k < dim; ++k) row[k] -= dot * prev[k];
      }
    }
    double norm = 0.0;
    for (std::size_t k = 0; k < dim; ++k) norm += row[k] * row[k];
    norm = std::sqrt(norm);
    for (std::size_t k = 0; k < dim; ++k) row[k] /= norm;
  }
  return std::vector<float>(q.begin(), q.end());
}

// Largest power of two below dim (dim ≥ 3, not a power of two).
std::size_t window_below(std::size_t dim) {
  std::size_t p = 1;
  while (p * 2 < dim) p *= 2;
  return p;
}

// Row scratch of the overlapping-window rotation (no allocation per call in encode loops).
float* row_scratch(std::size_t dim) {
  thread_local std::vector<float> row;
  if (row.size() < dim) row.resize(dim);
  return row.data();
}

}  // namespace

RotationKind Rotation::default_kind(std::size_t dim) {
  if (is_power_of_two(dim)) return RotationKind::kHadamard;
  return dim <= kMaxDefaultHaarDim ? RotationKind::kHaar : RotationKind::kOverlapHadamard;
}

Rotation::Rotation(std::size_t dim, std::uint64_t seed) : Rotation(dim, seed, default_kind(dim)) {}

Rotation::Rotation(std::size_t dim, std::uint64_t seed, RotationKind kind) : dim_(dim), seed_(seed), kind_(kind) {
  if (dim == 0) throw std::invalid_argument("rotation dim must be >= 1, got 0");
  if (kind == RotationKind::kHadamard) {
    if (!is_power_of_two(dim))
      throw std::invalid_argument("Hadamard rotation needs a power-of-two dim, got " + std::to_string(dim));
    SplitMix64 rng(seed);
    signs_.resize(dim);
    for (float& s : signs_) s = (rng.next() >> 63) ? -1.0f : 1.0f;
  } else if (kind == RotationKind::kOverlapHadamard) {
    if (dim < 3 || is_power_of_two(dim))
      throw std::invalid_argument("overlapping Hadamard rotation needs a dim >= 3 that is not a power of two, got " +
                                  std::to_string(dim));
    window_ = window_below(dim);
    SplitMix64 rng(seed);
    signs_.resize(4 * window_);
    for (float& s : signs_) s = (rng.next() >> 63) ? -1.0f : 1.0f;
    perm_.resize(dim);
    for (std::size_t i = 0; i < dim; ++i) perm_[i] = static_cast<std::uint32_t>(i);
    for (std::size_t i = dim - 1; i > 0; --i) std::swap(perm_[i], perm_[rng.next() % (i + 1)]);  // Fisher–Yates
  } else {
    matrix_ = haar_matrix(dim, seed);
  }
}

// Rounds 1, 2 on the windows [0, p) and [d − p, d) of a copy of the row, the permutation into y,
// rounds 3, 4 on y. The transpose runs the same steps backwards.
void Rotation::apply_overlap(std::size_t n, const float* x, float* y) const {
  const std::size_t d = dim_, p = window_, tail = d - p;
  float* row = row_scratch(d);
  for (std::size_t t = 0; t < n; ++t) {
    std::copy(x + t * d, x + (t + 1) * d, row);  // x and y may alias
    kernels::hadamard_rotate(1, p, signs_.data(), row, row);
    kernels::hadamard_rotate(1, p, signs_.data() + p, row + tail, row + tail);
    float* out = y + t * d;
    for (std::size_t i = 0; i < d; ++i) out[i] = row[perm_[i]];
    kernels::hadamard_rotate(1, p, signs_.data() + 2 * p, out, out);
    kernels::hadamard_rotate(1, p, signs_.data() + 3 * p, out + tail, out + tail);
  }
}

void Rotation::apply_overlap_transpose(std::size_t n, const float* y, float* x) const {
  const std::size_t d = dim_, p = window_, tail = d - p;
  float* row = row_scratch(d);
  for (std::size_t t = 0; t < n; ++t) {
    std::copy(y + t * d, y + (t + 1) * d, row);
    kernels::hadamard_rotate_transpose(1, p, signs_.data() + 3 * p, row + tail, row + tail);
    kernels::hadamard_rotate_transpose(1, p, signs_.data() + 2 * p, row, row);
    float* out = x + t * d;
    for (std::size_t i = 0; i < d; ++i) out[perm_[i]] = row[i];
    kernels::hadamard_rotate_transpose(1, p, signs_.data() + p, out + tail, out + tail);
    kernels::hadamard_rotate_transpose(1, p, signs_.data(), out, out);
  }
}

void Rotation::apply(std::size_t n, const float* x, float* y) const {
  if (kind_ == RotationKind::kOverlapHadamard) {
    apply_overlap(n, x, y);
  } else if (kind_ == RotationKind::kHadamard) {
    kernels::hadamard_rotate(n, dim_, signs_.data(), x, y);
  } else {
    kernels::matmul_rows(n, dim_, dim_, matrix_.data(), x, y);
  }
}

void Rotation::apply_transpose(std::size_t n, const float* y, float* x) const {
  if (kind_ == RotationKind::kOverlapHadamard) {
    apply_overlap_transpose(n, y, x);
  } else if (kind_ == RotationKind::kHadamard) {
    kernels::hadamard_rotate_transpose(n, dim_, signs_.data(), y, x);
  } else {
    kernels::matmul_rows_transposed(n, dim_, dim_, matrix_.data(), y, x);
  }
}

std::vector<float> Rotation::matrix() const {
  if (kind_ == RotationKind::kHaar) return matrix_;
  std::vector<float> m(dim_ * dim_, 0.0f), e(dim_);
  // Column j of Π is Π·e_j.
  for (std::size_t j = 0; j < dim_; ++j) {
    std::fill(e.begin(), e.end(), 0.0f);
    e[j] = 1.0f;
    std::vector<float> col(dim_);
    apply(1, e.data(), col.data());
    for (std::size_t i = 0; i < dim_; ++i) m[i * dim_ + j] = col[i];
  }
  return m;
}

std::vector<float> gaussian_matrix(std::size_t rows, std::size_t cols, std::uint64_t seed) {
  SplitMix64 rng(seed);
  std::vector<float> m(rows * cols);
  for (float& v : m) v = static_cast<float>(rng.normal());
  return m;
}

}  // namespace veloxquant
