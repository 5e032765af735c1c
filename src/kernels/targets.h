// Restricting SIMD dispatch for the whole process, so that one build shows what a smaller CPU
// runs: `veloxquant --target avx2 bench attend ...` on an AVX-512 machine measures the AVX2
// kernels and the AVX2 page layout (docs/results.md). Highway's dispatch obeys it through
// hwy::DisableTargets; the hand-written AVX-512 kernels (planes_avx512.cpp) and the page layout
// that feeds them and the AVX2 block kernels (record blocks) obey it through avx512_allowed() and
// block_layout_allowed(). The environment variable VELOXQUANT_TARGET=NAME does the same for any
// program that links the library (the test binary, Python), applied at the first of these
// questions, before any cache is built.
#pragma once

#include <string>
#include <vector>

namespace veloxquant::kernels {

// The names restrict_targets accepts: native, avx512, avx2, sse4, scalar.
const std::vector<std::string>& target_names();

// Dispatches only to `name` and the smaller targets from now on. Call it before any cache or
// quantizer is made: the page layout is chosen when a cache is built. Throws
// std::invalid_argument naming an unknown target or one this CPU lacks.
void restrict_targets(const std::string& name);

// The target Highway's dispatch chooses now ("AVX3_DL", "AVX2", "EMU128", ...).
std::string active_target_name();

// False once restrict_targets chose a target below AVX2: the record-block page layout, which
// AVX-512 and AVX2 kernels read (kernels::score_blocks_fast).
bool block_layout_allowed();

// False once restrict_targets chose a target below AVX-512: the hand-written AVX-512 kernels
// are not used (the block kernels take their AVX2 versions, with the same results).
bool avx512_allowed();

}  // namespace veloxquant::kernels
