// The dot-product kernels of the weight-type table. dot_ref: plain scalar code, the references;
// dot_simd: Highway kernels, dispatched to the best target this CPU runs (AVX-512 CPUs run the
// AVX2 kernels, see dot_dispatch.h). The integer parts of a block's products are exact in both;
// the float sums of the block products may round differently (tests compare with a stated
// tolerance). A kernel computes the same value for a token whatever the other tokens of its call.
#pragma once

#include <cstddef>
#include <cstdint>

#include "weights/activation.h"

namespace veloxquant {

// y[i·y_stride + r] = Σ_c W[r][c] · x_{t0+i}[c] for rows r0 ≤ r < r1 and tokens i < nt, where row r
// of W is row_bytes at w + r·row_bytes and the activations are a's (in the type's form). Rows are
// the outer loop: each row is unpacked once per group of up to 4 tokens and stays in L1 for the
// other groups.
using DotRowsFn = void (*)(const std::uint8_t* w, std::size_t row_bytes, std::size_t r0, std::size_t r1,
                           const ActivationBatch& a, std::size_t t0, std::size_t nt, float* y, std::size_t y_stride);

namespace dot_ref {
extern const DotRowsFn f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, iq4_nl, q2_K, q3_K, q4_K, q5_K, q6_K, iq4_xs;
}  // namespace dot_ref

namespace dot_simd {
extern const DotRowsFn f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, iq4_nl, q2_K, q3_K, q4_K, q5_K, q6_K, iq4_xs;
}  // namespace dot_simd

}  // namespace veloxquant
