// The one place that chooses the integer code kernels: a table per level, picked from this CPU's
// features and the target Highway's dispatch runs now (which --target, VELOXQUANT_TARGET and
// Highway's test hook SetSupportedTargetsForTest all restrict). Every entry
// gives the scalar references' results bit for bit, so the choice changes speed only; the page
// layout is fixed per quantizer when it is made (Quantizer::block_records()).
#include <hwy/targets.h>

#include "kernels/code_kernels.h"
#include "kernels/kernels.h"

#if HWY_ARCH_X86
#include "kernels/blocks_avx2.h"
#include "kernels/planes_avx512.h"
#endif

namespace veloxquant::kernels {

namespace {

struct CodeKernels {
  const char* name;
  int plane_bits;  // the plane kernels below take codes of up to this many bits; Highway's the rest
  decltype(&highway::score_planes_u8) score_planes_u8;
  decltype(&highway::accumulate_planes) accumulate_planes;
  decltype(&highway::accumulate_planes_i16) accumulate_planes_i16;
  decltype(&ref::score_blocks_u8) score_blocks_u8;
  decltype(&ref::accumulate_blocks_i16) accumulate_blocks_i16;
  bool blocks_fast;  // the block kernels are vector code: caches use the block layout
};

constexpr CodeKernels kPortable = {"portable",
                                   8,
                                   highway::score_planes_u8,
                                   highway::accumulate_planes,
                                   highway::accumulate_planes_i16,
                                   ref::score_blocks_u8,
                                   ref::accumulate_blocks_i16,
                                   false};

#if HWY_ARCH_X86
constexpr CodeKernels kAvx512 = {"avx512",
                                 4,
                                 avx512::score_planes_u8,
                                 avx512::accumulate_planes,
                                 avx512::accumulate_planes_i16,
                                 avx512::score_blocks_u8,
                                 avx512::accumulate_blocks_i16,
                                 true};
constexpr CodeKernels kAvx2 = {"avx2",
                               8,
                               highway::score_planes_u8,
                               highway::accumulate_planes,
                               highway::accumulate_planes_i16,
                               avx2::score_blocks_u8,
                               avx2::accumulate_blocks_i16,
                               true};

#endif

const CodeKernels& chosen() {
#if HWY_ARCH_X86
  const std::int64_t target = highway::dispatched_target();  // x86: a lower bit is a better target
  if (target <= HWY_AVX3 && avx512::available()) return kAvx512;
  if (target <= HWY_AVX2 && avx2::available()) return kAvx2;
#endif
  return kPortable;
}

}  // namespace

const char* code_kernels_name() { return chosen().name; }

bool score_blocks_fast() { return chosen().blocks_fast; }

void score_planes_u8(const PlaneCodes& codes, const std::uint8_t* table, std::size_t n, std::size_t n_q,
                     const std::int8_t* q8, std::int32_t* out) {
  const CodeKernels& k = chosen();
  (codes.bits <= k.plane_bits ? k.score_planes_u8 : highway::score_planes_u8)(codes, table, n, n_q, q8, out);
}

void accumulate_planes(const PlaneCodes& codes, std::size_t n, std::size_t n_q, const float* w, float* acc,
                       std::size_t acc_stride) {
  const CodeKernels& k = chosen();
  (codes.bits <= k.plane_bits ? k.accumulate_planes : highway::accumulate_planes)(codes, n, n_q, w, acc, acc_stride);
}

void accumulate_planes_i16(const PlaneCodes& codes, const std::int8_t* table, std::size_t n, std::size_t n_q,
                           const std::int16_t* w16, std::int32_t* acc, std::size_t acc_stride) {
  const CodeKernels& k = chosen();
  (codes.bits <= k.plane_bits ? k.accumulate_planes_i16 : highway::accumulate_planes_i16)(codes, table, n, n_q, w16,
                                                                                          acc, acc_stride);
}

void score_blocks_u8(const PlaneBlocks& codes, const std::uint8_t* table, std::size_t n_blocks, std::size_t n_q,
                     const std::int8_t* q8, std::int32_t* out) {
  chosen().score_blocks_u8(codes, table, n_blocks, n_q, q8, out);
}

void accumulate_blocks_i16(const PlaneBlocks& codes, const std::int8_t* table, std::size_t n_blocks, std::size_t n_q,
                           const std::int16_t* w16, std::int32_t* acc, std::size_t acc_stride) {
  chosen().accumulate_blocks_i16(codes, table, n_blocks, n_q, w16, acc, acc_stride);
}

}  // namespace veloxquant::kernels
