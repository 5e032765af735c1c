// AVX-512 (BW, DQ, VL, VNNI, VBMI, GFNI: Ice Lake, Zen 4 and later) kernels for plane codes of
// at most 4 bits and record blocks of at most 5, reached only through code_dispatch.cpp, which
// checks available(). Semantics are those of the kernels of the same name in kernels.h.
#pragma once

#include "kernels/kernels.h"

namespace veloxquant::kernels::avx512 {

bool available();
void accumulate_planes_i16(const PlaneCodes& codes, const std::int8_t* table, std::size_t n, std::size_t n_q,
                           const std::int16_t* w16, std::int32_t* acc, std::size_t acc_stride);
void score_planes_u8(const PlaneCodes& codes, const std::uint8_t* table, std::size_t n, std::size_t n_q,
                     const std::int8_t* q8, std::int32_t* out);
void score_blocks_u8(const PlaneBlocks& codes, const std::uint8_t* table, std::size_t n_blocks, std::size_t n_q,
                     const std::int8_t* q8, std::int32_t* out);
void accumulate_blocks_i16(const PlaneBlocks& codes, const std::int8_t* table, std::size_t n_blocks, std::size_t n_q,
                           const std::int16_t* w16, std::int32_t* acc, std::size_t acc_stride);
void accumulate_planes(const PlaneCodes& codes, std::size_t n, std::size_t n_q, const float* w, float* acc,
                       std::size_t acc_stride);

}  // namespace veloxquant::kernels::avx512
