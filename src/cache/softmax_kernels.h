// Kernels of the online softmax in attend(): row maximum and shifted exponentials of a block of
// scores. SIMD through Highway (dispatched at run time), with scalar references for tests.
#pragma once

#include <cstddef>

namespace veloxquant {

// max_t s[t] over n ≥ 1 scores.
float row_max(const float* s, std::size_t n);
// s[t] = exp(s[t]·scale − shift) in place; returns Σ_t s[t]. Arguments with s[t]·scale − shift
// below −104 give 0 (their weight is below float's smallest normal).
float exp_row(float* s, std::size_t n, float scale, float shift);

// Scalar references (std::exp, sequential sums).
float row_max_ref(const float* s, std::size_t n);
float exp_row_ref(float* s, std::size_t n, float scale, float shift);

}  // namespace veloxquant
