// Restricting SIMD dispatch for the whole process, so that one build shows what a smaller CPU
// runs: `veloxquant --target avx2 bench attend ...` on an AVX-512 machine measures the AVX2
// kernels and the AVX2 page layout (docs/results.md). It disables Highway's better targets
// (hwy::DisableTargets), which Highway's dispatch and the choice of the hand-written kernels
// (code_dispatch.cpp) both follow. The environment variable VELOXQUANT_TARGET=NAME does the same
// for any program that links the library (the test binary, Python), applied when the library is
// loaded, before any cache is built.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace veloxquant::kernels {

// The names restrict_targets accepts: native, avx512, avx2, sse4, scalar.
const std::vector<std::string>& target_names();

// Dispatches only to `name` and the smaller targets from now on. Call it before any cache or
// quantizer is made: the page layout is chosen when a cache is built. Throws
// std::invalid_argument naming an unknown target or one this CPU lacks.
void restrict_targets(const std::string& name);

// hwy::SupportedTargets() without its side effect in Highway 1.0.3: that call re-initialises the
// dispatch with every target of the CPU, ignoring DisableTargets (after it, HWY_DYNAMIC_DISPATCH
// would run AVX-512 code under --target avx2); this puts the restricted set back.
std::int64_t supported_targets();

// The target Highway's dispatch chooses now ("AVX3_DL", "AVX2", "EMU128", ...).
std::string active_target_name();

}  // namespace veloxquant::kernels
