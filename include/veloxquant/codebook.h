// Lloyd–Max scalar codebooks.
//
// sphere_codebook(d, b) is the optimal b-bit scalar quantizer for one coordinate of a uniform
// random unit vector in R^d, whose exact density is
//   f_d(t) = Γ(d/2) / (√π Γ((d−1)/2)) · (1 − t²)^((d−3)/2),  t ∈ [−1, 1].
// It is solved in double precision with quadrature (no Gaussian approximation, no sampling).
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace veloxquant {

struct Codebook {
  int bits = 0;
  std::vector<float> centroids;   // 2^bits values, ascending
  std::vector<float> boundaries;  // 2^bits − 1 midpoints between neighbouring centroids
  double mse = 0.0;               // expected squared error of one scalar under the density
};

// Lloyd–Max codebook for `density` (need not be normalised) on [lo, hi].
Codebook lloyd_max(const std::function<double(double)>& density, double lo, double hi, int bits);

// Exact coordinate density f_d (normalised). d ≥ 2.
double sphere_coordinate_density(std::size_t dim, double t);

// Cached Lloyd–Max codebook of f_d: computed once per (dim, bits), thread-safe.
// dim ≥ 2, 1 ≤ bits ≤ 8; throws std::invalid_argument otherwise.
const Codebook& sphere_codebook(std::size_t dim, int bits);

// PolarQuant angle codebook: level 1 is uniform on [0, 2π); level ℓ ≥ 2 has density
// ∝ sin^(2^(ℓ−1) − 1)(2ψ) on [0, π/2]. Cached. 1 ≤ level ≤ 8, 1 ≤ bits ≤ 8.
const Codebook& polar_angle_codebook(int level, int bits);

// Index of the nearest centroid of x (ties to the lower index). Scalar reference.
int nearest_centroid(const Codebook& codebook, float x);

}  // namespace veloxquant

namespace veloxquant {
// Installs a precomputed codebook (e.g. loaded from `veloxquant precompute` artifacts) so that
// sphere_codebook(dim, bits) returns it without solving. Validates size and ordering.
void set_sphere_codebook(std::size_t dim, int bits, Codebook codebook);
}  // namespace veloxquant
