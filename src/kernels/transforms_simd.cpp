// SIMD transforms (Google Highway, compiled once per target and dispatched at run time): fp16
// conversion and the normalized Walsh–Hadamard rotations. Scalar definitions are in reference.cpp.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/transforms_simd.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/canonical_sums-inl.h"

#include <cstring>
#include <vector>

#include "kernels/kernels.h"
#include "util/half.h"

HWY_BEFORE_NAMESPACE();
namespace veloxquant::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Only targets with hardware conversions (F16C) take the vector path: Highway's emulation on
// the others does not keep −0 and subnormals as util/half.h does.
constexpr bool kHardwareHalf = HWY_TARGET == HWY_AVX2 || HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL;

void FloatsToHalves(std::size_t n, const float* in, std::uint16_t* out) {
  const DF df;
  const hn::Rebind<hwy::float16_t, DF> dh;
  std::size_t i = 0;
  for (; kHardwareHalf && i + kLanes <= n; i += kLanes)
    hn::StoreU(hn::DemoteTo(dh, hn::LoadU(df, in + i)), dh, reinterpret_cast<hwy::float16_t*>(out + i));
  for (; i < n; ++i) out[i] = float_to_half(in[i]);
}

void HalvesToFloats(std::size_t n, const std::uint16_t* in, float* out) {
  const DF df;
  const hn::Rebind<hwy::float16_t, DF> dh;
  std::size_t i = 0;
  for (; kHardwareHalf && i + kLanes <= n; i += kLanes)
    hn::StoreU(hn::PromoteTo(df, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(in + i))), df, out + i);
  for (; i < n; ++i) out[i] = half_to_float(in[i]);
}

void FwhtNormalized(std::size_t dim, float* v, float scale) {
  const DF df;
  std::size_t h = 1;
  if (dim >= kLanes && kWide) {
    // Stages inside one vector: v'[j] = v[j XOR h] + sign_h[j]·v[j], sign −1 where bit h of j is
    // set — one permute and one FMA per vector and stage.
    for (; h < kLanes; h *= 2) {
      HWY_ALIGN std::int32_t idx[kLanes];
      HWY_ALIGN float sign[kLanes];
      for (std::size_t j = 0; j < kLanes; ++j) {
        idx[j] = static_cast<std::int32_t>(j ^ h);
        sign[j] = (j & h) ? -1.0f : 1.0f;
      }
      const auto perm = hn::SetTableIndices(df, idx);
      const VF sv = hn::Load(df, sign);
      for (std::size_t j = 0; j < dim; j += kLanes) {
        const VF x = hn::LoadU(df, v + j);
        hn::StoreU(hn::MulAdd(x, sv, hn::TableLookupLanes(x, perm)), df, v + j);
      }
    }
  }
  for (; h < dim && h < kLanes; h *= 2)  // narrow vectors or tiny dims: scalar stages
    for (std::size_t i = 0; i < dim; i += 2 * h)
      for (std::size_t j = i; j < i + h; ++j) {
        const float a = v[j], b = v[j + h];
        v[j] = a + b;
        v[j + h] = a - b;
      }
  for (; h < dim; h *= 2)  // stages whose butterflies span whole vectors
    for (std::size_t i = 0; i < dim; i += 2 * h)
      for (std::size_t j = i; j < i + h; j += kLanes) {
        const VF a = hn::LoadU(df, v + j), b = hn::LoadU(df, v + j + h);
        hn::StoreU(hn::Add(a, b), df, v + j);
        hn::StoreU(hn::Sub(a, b), df, v + j + h);
      }
  std::size_t j = 0;
  for (; j + kLanes <= dim; j += kLanes) hn::StoreU(hn::Mul(hn::LoadU(df, v + j), hn::Set(df, scale)), df, v + j);
  for (; j < dim; ++j) v[j] *= scale;
}

// Permutation j → j XOR h and the signs of the in-vector butterfly stages, built once.
struct InVectorStages {
  HWY_ALIGN std::int32_t idx[8][kLanes];
  HWY_ALIGN float sign[8][kLanes];
  InVectorStages() {
    for (std::size_t s = 0, h = 1; h < kLanes; ++s, h *= 2)
      for (std::size_t j = 0; j < kLanes; ++j) {
        idx[s][j] = static_cast<std::int32_t>(j ^ h);
        sign[s][j] = (j & h) ? -1.0f : 1.0f;
      }
  }
};

// A whole vector of NV·kLanes floats held in registers through every stage:
// out = post ⊙ (scale · H · (pre ⊙ in)), pre/post optional sign vectors.
template <std::size_t NV>
HWY_INLINE void FwhtInRegisters(const float* in, float* out, const float* pre, const float* post, float scale) {
  static const InVectorStages stages;
  const DF df;
  VF v[NV];
  for (std::size_t i = 0; i < NV; ++i) {
    v[i] = hn::LoadU(df, in + i * kLanes);
    if (pre) v[i] = hn::Mul(v[i], hn::LoadU(df, pre + i * kLanes));
  }
  for (std::size_t s = 0, h = 1; h < kLanes; ++s, h *= 2) {
    const auto perm = hn::SetTableIndices(df, stages.idx[s]);
    const VF sv = hn::Load(df, stages.sign[s]);
    for (std::size_t i = 0; i < NV; ++i) v[i] = hn::MulAdd(v[i], sv, hn::TableLookupLanes(v[i], perm));
  }
  for (std::size_t hv = 1; hv < NV; hv *= 2)
    for (std::size_t i0 = 0; i0 < NV; i0 += 2 * hv)
      for (std::size_t i = i0; i < i0 + hv; ++i) {
        const VF a = v[i], b = v[i + hv];
        v[i] = hn::Add(a, b);
        v[i + hv] = hn::Sub(a, b);
      }
  const VF sc = hn::Set(df, scale);
  for (std::size_t i = 0; i < NV; ++i) {
    VF r = hn::Mul(v[i], sc);
    if (post) r = hn::Mul(r, hn::LoadU(df, post + i * kLanes));
    hn::StoreU(r, df, out + i * kLanes);
  }
}

// Runs the register version where dim = NV·kLanes for NV ≤ 16; false otherwise.
bool FwhtFast(std::size_t dim, const float* in, float* out, const float* pre, const float* post, float scale) {
  if (!kWide || dim % kLanes != 0) return false;
  switch (dim / kLanes) {
    case 1:
      FwhtInRegisters<1>(in, out, pre, post, scale);
      return true;
    case 2:
      FwhtInRegisters<2>(in, out, pre, post, scale);
      return true;
    case 4:
      FwhtInRegisters<4>(in, out, pre, post, scale);
      return true;
    case 8:
      FwhtInRegisters<8>(in, out, pre, post, scale);
      return true;
    case 16:
      FwhtInRegisters<16>(in, out, pre, post, scale);
      return true;
    default:
      return false;
  }
}

void HadamardRotate(std::size_t n, std::size_t dim, const float* signs, const float* x, float* y) {
  const float scale = 1.0f / std::sqrt(static_cast<float>(dim));
  for (std::size_t t = 0; t < n; ++t) {
    if (FwhtFast(dim, x + t * dim, y + t * dim, signs, nullptr, scale)) continue;
    float* v = y + t * dim;
    for (std::size_t j = 0; j < dim; ++j) v[j] = x[t * dim + j] * signs[j];
    FwhtNormalized(dim, v, scale);
  }
}

void HadamardRotateTranspose(std::size_t n, std::size_t dim, const float* signs, const float* y, float* x) {
  const float scale = 1.0f / std::sqrt(static_cast<float>(dim));
  for (std::size_t t = 0; t < n; ++t) {
    if (FwhtFast(dim, y + t * dim, x + t * dim, nullptr, signs, scale)) continue;
    float* v = x + t * dim;
    if (v != y + t * dim) std::memmove(v, y + t * dim, dim * sizeof(float));
    FwhtNormalized(dim, v, scale);
    for (std::size_t j = 0; j < dim; ++j) v[j] *= signs[j];
  }
}

}  // namespace veloxquant::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace veloxquant::kernels {

HWY_EXPORT(FloatsToHalves);
HWY_EXPORT(HalvesToFloats);
HWY_EXPORT(HadamardRotate);
HWY_EXPORT(HadamardRotateTranspose);

void floats_to_halves(std::size_t n, const float* in, std::uint16_t* out) {
  HWY_DYNAMIC_DISPATCH(FloatsToHalves)(n, in, out);
}
void halves_to_floats(std::size_t n, const std::uint16_t* in, float* out) {
  HWY_DYNAMIC_DISPATCH(HalvesToFloats)(n, in, out);
}
void hadamard_rotate(std::size_t n, std::size_t dim, const float* signs, const float* x, float* y) {
  HWY_DYNAMIC_DISPATCH(HadamardRotate)(n, dim, signs, x, y);
}
void hadamard_rotate_transpose(std::size_t n, std::size_t dim, const float* signs, const float* y, float* x) {
  HWY_DYNAMIC_DISPATCH(HadamardRotateTranspose)(n, dim, signs, y, x);
}

}  // namespace veloxquant::kernels
#endif  // HWY_ONCE
