// How the weight kernels are dispatched (used in the HWY_ONCE part of the *_simd.cpp files).
//
// AVX-512 CPUs run the AVX2 kernels: Highway's AVX3 target is compiled but its pointer is swapped
// for the AVX2 one. The machines this project is built and tested on have no AVX-512, so code
// compiled for it could never be run here; at decode the products are memory-bound, and the AVX2
// instructions run unchanged on AVX-512 CPUs.
#pragma once

#include "hwy/highway.h"
#include "weights/dot.h"

namespace veloxquant::weights_simd {

// Sets Highway's chosen target once. Without it HWY_DYNAMIC_DISPATCH's first table entry (the
// "choose, then call" trampoline) would run CPUID on every call until something else chose.
inline void dispatch_init() {
  static const bool ready = [] {
    hwy::GetChosenTarget().Update(hwy::SupportedTargets());
    return true;
  }();
  (void)ready;
}

}  // namespace veloxquant::weights_simd

#if (HWY_TARGETS & HWY_AVX3) && (HWY_TARGETS & HWY_AVX2)
#define VELOXQUANT_AVX2_FOR_AVX3(kernel, f) ((f) == &weights_simd::N_AVX3::kernel ? &weights_simd::N_AVX2::kernel : (f))
#else
#define VELOXQUANT_AVX2_FOR_AVX3(kernel, f) (f)
#endif

// Exports `kernel` (inside namespace veloxquant::weights_simd) with its dispatching wrapper
// kernel##_dispatched. HWY_DYNAMIC_DISPATCH takes the unqualified name: where one target is
// compiled (aarch64: NEON) it becomes HWY_NAMESPACE::kernel, which a qualified name would break.
#define VELOXQUANT_EXPORT_ROWS(kernel)                                                                          \
  HWY_EXPORT(kernel);                                                                                           \
  inline void kernel##_dispatched(const std::uint8_t* w, std::size_t row_bytes, std::size_t r0, std::size_t r1, \
                                  const ActivationBatch& a, std::size_t t0, std::size_t nt, float* y,           \
                                  std::size_t y_stride) {                                                       \
    dispatch_init();                                                                                            \
    const auto f = &HWY_DYNAMIC_DISPATCH(kernel);                                                               \
    VELOXQUANT_AVX2_FOR_AVX3(kernel, f)(w, row_bytes, r0, r1, a, t0, nt, y, y_stride);                          \
  }

// Defines `const DotRowsFn name` (declared in dot.h) calling the exported `kernel` of the chosen target.
#define VELOXQUANT_DISPATCHED_ROWS(name, kernel) const DotRowsFn name = &weights_simd::kernel##_dispatched;
