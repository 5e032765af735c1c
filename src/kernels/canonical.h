// The floating-point arithmetic every SIMD target reproduces bit for bit (the scalar references
// in kernels::ref are written with these; the Highway and AVX-512 kernels do the same operations
// in the same order), so codes and attention outputs are identical on every CPU.
//   dot products:   16 lanes; lane j mod 16 accumulates fma(a_j, b_j, lane) in order of j; the
//                   lanes are then added as a fixed tree (l with l+8, then l+4, l+2, l+1);
//   accumulations:  acc_j = fma(x_j, w, acc_j) record after record;
//   exponentials:   exp_nonpositive below (range reduction and a degree-7 polynomial in fma).
// Fused operations are written explicitly; the build disables implicit contraction.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

namespace veloxquant::kernels {

constexpr std::size_t kSumLanes = 16;

// Adds 16 lane sums in the fixed tree; destroys `lanes`.
float tree_sum(float (&lanes)[kSumLanes]);

// Σ_j a(j)·b(j) in the canonical lane order.
template <class A, class B>
float lane_dot(std::size_t dim, A a, B b) {
  float lanes[kSumLanes] = {};
  for (std::size_t j = 0; j < dim; ++j) lanes[j % kSumLanes] = std::fma(a(j), b(j), lanes[j % kSumLanes]);
  return tree_sum(lanes);
}

// e^x for the shifted scores of a softmax (x ≤ 0; any x < 88 works): x = k·ln2 + r with
// k = nearest integer of x·log2(e), e^r by Horner in fma, scaled by 2^k through the exponent
// bits. Relative error below 2·10⁻⁷; 0 for x < −87 (and for −∞ or NaN).
constexpr float kExpFloor = -87.0f;
constexpr float kLog2e = 1.44269504088896341f;
constexpr float kLn2Hi = 0.693359375f;  // ln 2 split so k·kLn2Hi is exact
constexpr float kLn2Lo = -2.12194440e-4f;
constexpr float kExpPoly[] = {1.0f / 5040, 1.0f / 720, 1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f, 1.0f, 1.0f};
float exp_nonpositive(float x);

}  // namespace veloxquant::kernels
