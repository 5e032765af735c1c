// The implementations of the integer code kernels of kernels.h (score_planes_u8, accumulate_planes,
// accumulate_planes_i16, score_blocks_u8, accumulate_blocks_i16), one namespace each: Highway's
// dispatched kernels (kernels_simd.cpp), the hand-written AVX-512 (planes_avx512.h) and AVX2
// (blocks_avx2.h) ones, the scalar references (ref::). code_dispatch.cpp chooses among them in
// one table per level; nothing else calls them but the tests that compare them.
#pragma once

#include "kernels/kernels.h"

namespace veloxquant::kernels::highway {

// HWY_TARGET of the code HWY_DYNAMIC_DISPATCH runs now: it follows hwy::DisableTargets and
// SetSupportedTargetsForTest, at the cost of one table lookup.
std::int64_t dispatched_target();

void accumulate_planes(const PlaneCodes& codes, std::size_t n, std::size_t n_q, const float* w, float* acc,
                       std::size_t acc_stride);
void score_planes_u8(const PlaneCodes& codes, const std::uint8_t* table, std::size_t n, std::size_t n_q,
                     const std::int8_t* q8, std::int32_t* out);
void accumulate_planes_i16(const PlaneCodes& codes, const std::int8_t* table, std::size_t n, std::size_t n_q,
                           const std::int16_t* w16, std::int32_t* acc, std::size_t acc_stride);

}  // namespace veloxquant::kernels::highway

namespace veloxquant::kernels {

// The implementation level that serves the code kernels now: "avx512", "avx2" or "portable"
// (Highway's kernels for plane codes, the scalar references for blocks).
const char* code_kernels_name();

}  // namespace veloxquant::kernels
