// AVX2 kernels for record blocks (pack/plane_blocks.h) of at most 5-bit codes, for CPUs without
// the AVX-512 ones (planes_avx512.h), reached only through code_dispatch.cpp, which checks
// available(). Semantics and results are those of the kernels of the same name in kernels.h
// (exact integer sums).
#pragma once

#include "kernels/kernels.h"

namespace veloxquant::kernels::avx2 {

bool available();
void score_blocks_u8(const PlaneBlocks& codes, const std::uint8_t* table, std::size_t n_blocks, std::size_t n_q,
                     const std::int8_t* q8, std::int32_t* out);
void accumulate_blocks_i16(const PlaneBlocks& codes, const std::int8_t* table, std::size_t n_blocks, std::size_t n_q,
                           const std::int16_t* w16, std::int32_t* acc, std::size_t acc_stride);

}  // namespace veloxquant::kernels::avx2
