// Quantizers of the 256-element super-block types (q2_K … q6_K, iq4_xs): per sub-block a scale
// search (weights/quantize_search.h), the sub-block scales quantized against one fp16 super-block
// scale, and the levels rounded again against the stored scales.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "util/half.h"
#include "weights/block_layout.h"
#include "weights/quantize.h"
#include "weights/quantize_search.h"

namespace veloxquant::quantize {

namespace {

using quant_search::nearest_int;

float half_at(const std::uint8_t* p) { return half_to_float(load_u16(p)); }
void store_half(std::uint8_t* p, float v) { store_u16(p, float_to_half(v)); }

// Four 2-bit levels per byte: byte l of each 32-byte group holds elements l, l+32, l+64, l+96.
void pack_2bit(const std::uint8_t* L, std::uint8_t* qs) {
  for (std::size_t h = 0; h < 2; ++h)
    for (std::size_t l = 0; l < 32; ++l) {
      const std::uint8_t* e = L + 128 * h + l;
      qs[32 * h + l] = static_cast<std::uint8_t>(e[0] | (e[32] << 2) | (e[64] << 4) | (e[96] << 6));
    }
}

// q4_K / q5_K: eight (scale, min) pairs at six bits each into 12 bytes (blocks::k4_scale_min).
void pack_k4_scales(const std::uint8_t* ls, const std::uint8_t* lm, std::uint8_t* s) {
  for (std::size_t j = 0; j < 8; ++j) {
    if (j < 4) {
      s[j] = ls[j];
      s[j + 4] = lm[j];
    } else {
      s[j + 4] = static_cast<std::uint8_t>((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
      s[j - 4] |= static_cast<std::uint8_t>((ls[j] >> 4) << 6);
      s[j] |= static_cast<std::uint8_t>((lm[j] >> 4) << 6);
    }
  }
}

// q4_K / q5_K: sub-block (scale, offset) search, then the scales and mins at six bits against
// fp16 super-block scales, then every level rounded again; nmax 15 or 31.
void k4_levels(const float* x, int nmax, float rmin, int nstep, std::uint8_t* out_scales, std::uint16_t& d_bits,
               std::uint16_t& dmin_bits, std::uint8_t* L) {
  float scales[8], mins[8], weights[32], max_scale = 0.0f, max_min = 0.0f;
  for (std::size_t j = 0; j < 8; ++j) {
    const float* xs = x + 32 * j;
    float sum_x2 = 0.0f;
    for (std::size_t l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
    const float av_x = std::sqrt(sum_x2 / 32.0f);
    for (std::size_t l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xs[l]);
    scales[j] = quant_search::offset_levels(32, nmax, xs, weights, L + 32 * j, mins[j], rmin, 0.1f, nstep, false);
    max_scale = std::max(max_scale, scales[j]);
    max_min = std::max(max_min, mins[j]);
  }
  const float inv_scale = max_scale > 0.0f ? 63.0f / max_scale : 0.0f;
  const float inv_min = max_min > 0.0f ? 63.0f / max_min : 0.0f;
  std::uint8_t ls[8], lm[8];
  for (std::size_t j = 0; j < 8; ++j) {
    ls[j] = static_cast<std::uint8_t>(std::min(63, nearest_int(inv_scale * scales[j])));
    lm[j] = static_cast<std::uint8_t>(std::min(63, nearest_int(inv_min * mins[j])));
  }
  std::memset(out_scales, 0, 12);
  pack_k4_scales(ls, lm, out_scales);
  d_bits = float_to_half(max_scale / 63.0f);
  dmin_bits = float_to_half(max_min / 63.0f);
  for (std::size_t j = 0; j < 8; ++j) {
    std::uint8_t sc, m;
    blocks::k4_scale_min(j, out_scales, sc, m);
    const float d = half_to_float(d_bits) * static_cast<float>(sc);
    if (d == 0.0f) continue;
    const float dm = half_to_float(dmin_bits) * static_cast<float>(m);
    for (std::size_t l = 0; l < 32; ++l)
      L[32 * j + l] = static_cast<std::uint8_t>(std::max(0, std::min(nmax, nearest_int((x[32 * j + l] + dm) / d))));
  }
}

}  // namespace

void q2_K(const float* x, std::size_t n, std::uint8_t* out) {
  using Lay = blocks::Q2_K;
  for (std::size_t b = 0; b < n / blocks::kQKK; ++b, x += blocks::kQKK, out += Lay::kBytes) {
    std::uint8_t L[256];
    float scales[16], mins[16], weights[16], max_scale = 0.0f, max_min = 0.0f;
    for (std::size_t j = 0; j < 16; ++j) {
      for (std::size_t l = 0; l < 16; ++l) weights[l] = std::fabs(x[16 * j + l]);
      scales[j] = quant_search::offset_levels(16, 3, x + 16 * j, weights, L + 16 * j, mins[j], -0.5f, 0.1f, 15, true);
      max_scale = std::max(max_scale, scales[j]);
      max_min = std::max(max_min, mins[j]);
    }
    std::uint8_t* sc = out + Lay::kScales;
    if (max_scale > 0.0f) {
      const float iscale = 15.0f / max_scale;
      for (std::size_t j = 0; j < 16; ++j) sc[j] = static_cast<std::uint8_t>(nearest_int(iscale * scales[j]));
      store_half(out + Lay::kD, max_scale / 15.0f);
    } else {
      std::memset(sc, 0, 16);
      store_half(out + Lay::kD, 0.0f);
    }
    if (max_min > 0.0f) {
      const float iscale = 15.0f / max_min;
      for (std::size_t j = 0; j < 16; ++j) sc[j] |= static_cast<std::uint8_t>(nearest_int(iscale * mins[j]) << 4);
      store_half(out + Lay::kDmin, max_min / 15.0f);
    } else {
      store_half(out + Lay::kDmin, 0.0f);
    }
    for (std::size_t j = 0; j < 16; ++j) {
      const float d = half_at(out + Lay::kD) * static_cast<float>(sc[j] & 0xF);
      if (d == 0.0f) continue;
      const float dm = half_at(out + Lay::kDmin) * static_cast<float>(sc[j] >> 4);
      for (std::size_t l = 0; l < 16; ++l)
        L[16 * j + l] = static_cast<std::uint8_t>(std::max(0, std::min(3, nearest_int((x[16 * j + l] + dm) / d))));
    }
    pack_2bit(L, out + Lay::kQs);
  }
}

void q3_K(const float* x, std::size_t n, std::uint8_t* out) {
  using Lay = blocks::Q3_K;
  for (std::size_t b = 0; b < n / blocks::kQKK; ++b, x += blocks::kQKK, out += Lay::kBytes) {
    std::int8_t L[256];
    float scales[16], max_scale = 0.0f, amax = 0.0f;
    for (std::size_t j = 0; j < 16; ++j) {
      scales[j] = quant_search::q3_levels(16, 4, x + 16 * j, L + 16 * j);
      if (std::fabs(scales[j]) > amax) {
        amax = std::fabs(scales[j]);
        max_scale = scales[j];
      }
    }
    std::uint8_t* sc = out + Lay::kScales;
    std::memset(sc, 0, 12);
    if (max_scale != 0.0f) {
      const float iscale = -32.0f / max_scale;
      for (std::size_t j = 0; j < 16; ++j) {
        const int l = std::max(-32, std::min(31, nearest_int(iscale * scales[j]))) + 32;
        if (j < 8)
          sc[j] = static_cast<std::uint8_t>(l & 0xF);
        else
          sc[j - 8] |= static_cast<std::uint8_t>((l & 0xF) << 4);
        sc[8 + j % 4] |= static_cast<std::uint8_t>((l >> 4) << (2 * (j / 4)));
      }
      store_half(out + Lay::kD, 1.0f / iscale);
    } else {
      store_half(out + Lay::kD, 0.0f);
    }
    for (std::size_t j = 0; j < 16; ++j) {
      const float d = half_at(out + Lay::kD) * static_cast<float>(blocks::q3k_scale(j, sc) - 32);
      if (d == 0.0f) continue;
      for (std::size_t l = 0; l < 16; ++l)
        L[16 * j + l] = static_cast<std::int8_t>(std::max(-4, std::min(3, nearest_int(x[16 * j + l] / d))) + 4);
    }
    // The high bit of element j goes to bit j/32 of hmask[j%32]; the low two bits stay in L.
    std::uint8_t* hmask = out + Lay::kHmask;
    std::memset(hmask, 0, 32);
    std::uint8_t low[256];
    for (std::size_t j = 0; j < 256; ++j) {
      if (L[j] > 3) hmask[j % 32] |= static_cast<std::uint8_t>(1u << (j / 32));
      low[j] = static_cast<std::uint8_t>(L[j] & 3);
    }
    pack_2bit(low, out + Lay::kQs);
  }
}

void q4_K(const float* x, std::size_t n, std::uint8_t* out) {
  using Lay = blocks::Q4_K;
  for (std::size_t b = 0; b < n / blocks::kQKK; ++b, x += blocks::kQKK, out += Lay::kBytes) {
    std::uint8_t L[256];
    std::uint16_t d, dmin;
    k4_levels(x, 15, -1.0f, 20, out + Lay::kScales, d, dmin, L);
    store_u16(out + Lay::kD, d);
    store_u16(out + Lay::kDmin, dmin);
    std::uint8_t* q = out + Lay::kQs;
    for (std::size_t j = 0; j < 256; j += 64, q += 32)
      for (std::size_t l = 0; l < 32; ++l) q[l] = static_cast<std::uint8_t>(L[j + l] | (L[j + l + 32] << 4));
  }
}

void q5_K(const float* x, std::size_t n, std::uint8_t* out) {
  using Lay = blocks::Q5_K;
  for (std::size_t b = 0; b < n / blocks::kQKK; ++b, x += blocks::kQKK, out += Lay::kBytes) {
    std::uint8_t L[256];
    std::uint16_t d, dmin;
    k4_levels(x, 31, -0.5f, 15, out + Lay::kScales, d, dmin, L);
    store_u16(out + Lay::kD, d);
    store_u16(out + Lay::kDmin, dmin);
    std::uint8_t* qh = out + Lay::kQh;
    std::uint8_t* ql = out + Lay::kQs;
    std::memset(qh, 0, 32);
    for (std::size_t j = 0; j < 256; j += 64, ql += 32)
      for (std::size_t l = 0; l < 32; ++l) {
        const std::uint8_t a = L[j + l], c = L[j + l + 32];
        // bit 4 of sub-block s = j/32 (and s + 1) into bit s (s + 1) of qh[l]
        qh[l] |= static_cast<std::uint8_t>(((a >> 4) << (j / 32)) | ((c >> 4) << (j / 32 + 1)));
        ql[l] = static_cast<std::uint8_t>((a & 0xF) | ((c & 0xF) << 4));
      }
  }
}

void q6_K(const float* x, std::size_t n, std::uint8_t* out) {
  using Lay = blocks::Q6_K;
  for (std::size_t b = 0; b < n / blocks::kQKK; ++b, x += blocks::kQKK, out += Lay::kBytes) {
    std::int8_t L[256];
    float scales[16], max_scale = 0.0f, max_abs = 0.0f;
    for (std::size_t j = 0; j < 16; ++j) {
      scales[j] = quant_search::symmetric_levels(16, 32, x + 16 * j, L + 16 * j, 1, nullptr);
      if (std::fabs(scales[j]) > max_abs) {
        max_abs = std::fabs(scales[j]);
        max_scale = scales[j];
      }
    }
    if (!(max_abs >= 1e-15f)) {
      std::memset(out, 0, Lay::kBytes);
      continue;
    }
    const float iscale = -128.0f / max_scale;
    store_half(out + Lay::kD, 1.0f / iscale);
    auto* sc = reinterpret_cast<std::int8_t*>(out + Lay::kScales);
    for (std::size_t j = 0; j < 16; ++j)
      sc[j] = static_cast<std::int8_t>(std::min(127, nearest_int(iscale * scales[j])));
    for (std::size_t j = 0; j < 16; ++j) {
      const float d = half_at(out + Lay::kD) * static_cast<float>(sc[j]);
      if (d == 0.0f) continue;
      for (std::size_t l = 0; l < 16; ++l)
        L[16 * j + l] = static_cast<std::int8_t>(std::max(-32, std::min(31, nearest_int(x[16 * j + l] / d))) + 32);
    }
    for (std::size_t h = 0; h < 2; ++h) {
      std::uint8_t* ql = out + Lay::kQl + 64 * h;
      std::uint8_t* qh = out + Lay::kQh + 32 * h;
      const std::int8_t* e = L + 128 * h;
      for (std::size_t l = 0; l < 32; ++l) {
        ql[l] = static_cast<std::uint8_t>((e[l] & 0xF) | ((e[l + 64] & 0xF) << 4));
        ql[l + 32] = static_cast<std::uint8_t>((e[l + 32] & 0xF) | ((e[l + 96] & 0xF) << 4));
        qh[l] = static_cast<std::uint8_t>((e[l] >> 4) | ((e[l + 32] >> 4) << 2) | ((e[l + 64] >> 4) << 4) |
                                          ((e[l + 96] >> 4) << 6));
      }
    }
  }
}

void iq4_xs(const float* x, std::size_t n, std::uint8_t* out) {
  using Lay = blocks::IQ4_XS;
  for (std::size_t b = 0; b < n / blocks::kQKK; ++b, x += blocks::kQKK, out += Lay::kBytes) {
    std::uint8_t L[256] = {};
    float scales[8], max_scale = 0.0f, amax = 0.0f;
    for (std::size_t j = 0; j < 8; ++j) {
      scales[j] = quant_search::iq4nl_group_scale(32, x + 32 * j, L + 32 * j, 7);
      if (std::fabs(scales[j]) > amax) {
        amax = std::fabs(scales[j]);
        max_scale = scales[j];
      }
    }
    const float d = -max_scale / 32.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    store_half(out + Lay::kD, d);
    std::uint16_t scales_h = 0;
    std::uint8_t* scales_l = out + Lay::kScalesL;
    std::memset(scales_l, 0, 4);
    for (std::size_t j = 0; j < 8; ++j) {
      const int l = std::max(-32, std::min(31, nearest_int(id * scales[j])));
      const float dl = d * static_cast<float>(l), idl = dl != 0.0f ? 1.0f / dl : 0.0f;
      for (std::size_t k = 0; k < 32; ++k)
        L[32 * j + k] = static_cast<std::uint8_t>(quant_search::nearest_iq4nl_index(idl * x[32 * j + k]));
      const int stored = l + 32;
      scales_l[j / 2] |= static_cast<std::uint8_t>((stored & 0xF) << (4 * (j % 2)));
      scales_h |= static_cast<std::uint16_t>((stored >> 4) << (2 * j));
    }
    store_u16(out + Lay::kScalesH, scales_h);
    std::uint8_t* qs = out + Lay::kQs;
    for (std::size_t j = 0; j < 8; ++j)
      for (std::size_t k = 0; k < 16; ++k)
        qs[16 * j + k] = static_cast<std::uint8_t>(L[32 * j + k] | (L[32 * j + 16 + k] << 4));
  }
}

}  // namespace veloxquant::quantize
