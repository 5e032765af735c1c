// PolarQuant decode vectorized over the 16 coordinates of a block (Google Highway, dispatched at
// run time); the scalar definition is ref::decode_polar (reference_baseline.cpp). Every factor is
// one table value and the products are taken in the reference's order, so every target gives
// its bits; targets under 8 float lanes run the reference.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/polar_decode_simd.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/kernels.h"

HWY_BEFORE_NAMESPACE();
namespace veloxquant::kernels::HWY_NAMESPACE {
namespace {  // internal linkage: other kernel files have helpers of the same names per target
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using DI = hn::RebindToSigned<DF>;
using VF = hn::Vec<DF>;
using VI = hn::Vec<DI>;

constexpr std::size_t kLanes = hn::MaxLanes(DF());
// Vectors per block of 16 coordinates: 2 on AVX2, 1 on AVX-512.
constexpr std::size_t kNV = kLanes >= 16 ? 1 : 16 / kLanes;

// Byte lanes of a full vector (64 on AVX-512): one mask load per plane unpacks that many angles.
using DB = hn::ScalableTag<std::uint8_t>;
constexpr std::size_t kByteLanes = hn::MaxLanes(DB());

// codes[i] = code of angle i for i < `angles` rounded up to kByteLanes: each plane's bits read as
// the mask of a byte vector, or-ed in as bit p. Reads up to kByteLanes / 8 bytes past the planes
// (DecodePolarT keeps such reads inside the buffer); codes past `angles` are unused.
HWY_INLINE void UnpackAngles(const std::uint8_t* planes, std::size_t angles, int bits, std::uint8_t* codes) {
  const DB db;
  const std::size_t pb = (angles + 7) / 8;
  for (std::size_t a = 0; a < angles; a += kByteLanes) {
    auto v = hn::Zero(db);
    for (int p = 0; p < bits; ++p)
      v = hn::Or(v, hn::IfThenElseZero(hn::LoadMaskBits(db, planes + p * pb + a / 8),
                                       hn::Set(db, static_cast<std::uint8_t>(1u << p))));
    hn::StoreU(v, db, codes + a);
  }
}

// cos or sin of a level's centroid for integer lanes of codes: a permute when the 2^bits
// values fit a vector (kInRegister, decided per call for all levels), else a gather.
template <bool kInRegister>
struct AngleTable {
  const float* values;
  VF vec;
  AngleTable(const float* v, int bits) : values(v) {
    HWY_ALIGN float padded[kLanes] = {};
    if (kInRegister) std::memcpy(padded, v, sizeof(float) << bits);
    vec = hn::Load(DF(), padded);
  }
  HWY_INLINE VF lookup(VI idx) const {
    if constexpr (kInRegister) return hn::TableLookupLanes(vec, hn::IndicesFromVec(DF(), idx));
    return hn::GatherIndex(DF(), values, idx);
  }
};

}  // namespace

// Vector v of a block holds coordinates k = v·kLanes + m. At level ℓ (0-based) lane m takes angle
// k >> (ℓ+1) of the block: the unpacked codes from the first such angle on, permuted by
// m >> (ℓ+1) (as kLanes is 8 or 16, (v·kLanes + m) >> s splits into the two parts); bit ℓ of k
// picks sin.
template <bool kInRegister, class D>  // D = DF; a parameter so that the tags below are dependent
void DecodePolarT(D df, const PolarCodes& c, std::size_t n, float* out) {
  constexpr int kLevels = 4;
  constexpr std::size_t kBlock = 16;
  const hn::RebindToSigned<D> di;
  const hn::Rebind<hwy::float16_t, D> dh;
  using Idx = decltype(hn::IndicesFromVec(di, hn::Zero(di)));
  using MaskF = decltype(hn::MaskFromVec(hn::Zero(df)));
  // Per thread, grown once: the codes of every level, a record copied with room for whole-vector
  // reads past its end, its radii as floats (a multiple of kLanes).
  thread_local std::vector<std::uint8_t> code_buffer;
  thread_local std::vector<std::uint8_t> record_buffer;
  thread_local std::vector<float> radii;
  std::size_t base[kLevels], used = 0;
  for (int l = 0; l < kLevels; ++l) {
    base[l] = used;
    used += (c.blocks * (8u >> l) + kByteLanes - 1) / kByteLanes * kByteLanes + kLanes;  // + slack for a load
  }
  const std::size_t padded_blocks = (c.blocks + kLanes - 1) / kLanes * kLanes;
  const std::size_t record_bytes = std::max(c.stride, 2 * padded_blocks) + kByteLanes;
  if (code_buffer.size() < used) code_buffer.resize(used);
  if (record_buffer.size() < record_bytes) record_buffer.resize(record_bytes);
  if (radii.size() < padded_blocks) radii.resize(padded_blocks);
  const std::uint8_t* codes = code_buffer.data();
  std::uint8_t* copy = record_buffer.data();
  const AngleTable<kInRegister> cos_tab[kLevels] = {
      {c.cos[0], c.bits[0]}, {c.cos[1], c.bits[1]}, {c.cos[2], c.bits[2]}, {c.cos[3], c.bits[3]}};
  const AngleTable<kInRegister> sin_tab[kLevels] = {
      {c.sin[0], c.bits[0]}, {c.sin[1], c.bits[1]}, {c.sin[2], c.bits[2]}, {c.sin[3], c.bits[3]}};
  Idx pos[kLevels];
  MaskF use_sin[kLevels][kNV];
  for (int l = 0; l < kLevels; ++l) {
    HWY_ALIGN std::int32_t p[kLanes];
    for (std::size_t m = 0; m < kLanes; ++m) p[m] = static_cast<std::int32_t>(m >> (l + 1));
    pos[l] = hn::SetTableIndices(di, p);
    for (std::size_t v = 0; v < kNV; ++v) {
      HWY_ALIGN float sel[kLanes];
      for (std::size_t m = 0; m < kLanes; ++m) sel[m] = ((v * kLanes + m) >> l) & 1 ? 1.0f : 0.0f;
      use_sin[l][v] = hn::Ne(hn::Load(df, sel), hn::Zero(df));
    }
  }
  // Whole-vector reads run up to `reach` bytes past a record's start (mask bytes past the last
  // plane, a vector of radii): records that far from the end are read in place, the last few
  // from the padded copy.
  const std::size_t reach = std::max(c.stride + kByteLanes / 8, 2 * padded_blocks);
  for (std::size_t t = 0; t < n; ++t) {
    const std::uint8_t* rec = c.records + t * c.stride;
    if ((n - t) * c.stride < reach) {
      std::memcpy(copy, rec, c.stride);
      rec = copy;
    }
    for (int l = 0; l < kLevels; ++l)
      UnpackAngles(rec + c.level_offset[l], c.blocks * (8u >> l), c.bits[l], code_buffer.data() + base[l]);
    // The radii by F16C, a vector at a time (the same values as half_to_float).
    for (std::size_t b = 0; b < c.blocks; b += kLanes)
      hn::StoreU(hn::PromoteTo(df, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(rec) + b)), df,
                 radii.data() + b);
    float* y_out = out + t * c.blocks * kBlock;
    for (std::size_t b = 0; b < c.blocks; ++b) {
      const VF r = hn::Set(df, radii[b]);
      for (std::size_t v = 0; v < kNV; ++v) {
        VF y = r;
        for (int l = kLevels - 1; l >= 0; --l) {
          const std::size_t s = static_cast<std::size_t>(l) + 1, first = b * (8u >> l) + ((v * kLanes) >> s);
          const auto code =
              hn::PromoteTo(di, hn::LoadU(hn::Rebind<std::uint8_t, decltype(di)>(), codes + base[l] + first));
          const auto idx = hn::TableLookupLanes(code, pos[l]);
          y = hn::Mul(y, hn::IfThenElse(use_sin[l][v], sin_tab[l].lookup(idx), cos_tab[l].lookup(idx)));
        }
        hn::StoreU(y, df, y_out + b * kBlock + v * kLanes);
      }
    }
  }
}

// Targets under 8 lanes (whose mask loads are not whole bytes) run the reference.
template <class D>
void DecodePolarOn(D, const PolarCodes& c, std::size_t n, float* out) {
  if constexpr (hn::MaxLanes(D()) >= 8) {
    bool in_register = true;
    for (int bits : c.bits) in_register = in_register && (std::size_t{1} << bits) <= kLanes;
    if (in_register) return DecodePolarT<true>(D(), c, n, out);
    DecodePolarT<false>(D(), c, n, out);
  } else {
    ref::decode_polar(c, n, out);
  }
}

void DecodePolar(const PolarCodes& c, std::size_t n, float* out) { DecodePolarOn(DF(), c, n, out); }

}  // namespace veloxquant::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace veloxquant::kernels {

HWY_EXPORT(DecodePolar);

void decode_polar(const PolarCodes& codes, std::size_t n, float* out) {
  HWY_DYNAMIC_DISPATCH(DecodePolar)(codes, n, out);
}

}  // namespace veloxquant::kernels
#endif  // HWY_ONCE
