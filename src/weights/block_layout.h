// The byte layouts of ggml's quantized blocks (ggml-common.h), as offsets into one block, and the
// small decoders of their packed scales. All multi-byte fields are little-endian; fp16 fields are
// IEEE half. Blocks are read through these offsets with memcpy-based loads, so a block may start
// at any address.
//
// Element e of a block (0 ≤ e < elements) is encoded as follows (value = what ggml dequantizes):
//   q4_0   (32, 18 B)  d f16 @0, qs[16] @2. q = qs[e%16] low nibble (e < 16) or high nibble; d·(q − 8)
//   q4_1   (32, 20 B)  d @0, m @2, qs[16] @4. same nibbles; d·q + m
//   q5_0   (32, 22 B)  d @0, qh u32 @2, qs[16] @6. q = nibble | (bit e of qh) << 4; d·(q − 16)
//   q5_1   (32, 24 B)  d @0, m @2, qh @4, qs[16] @8. same; d·q + m
//   q8_0   (32, 34 B)  d @0, int8 qs[32] @2; d·qs[e]
//   iq4_nl (32, 18 B)  d @0, qs[16] @2. nibbles as q4_0; d·kIq4nlValues[q]
//   q2_K  (256, 84 B)  scales[16] @0 (low 4 bits: scale, high 4 bits: min, per 16 elements),
//                      qs[64] @16, d @80, dmin @82.
//                      q = (qs[32·(e/128) + e%32] >> 2·((e%128)/32)) & 3; d·sc·q − dmin·m
//   q3_K (256, 110 B)  hmask[32] @0, qs[64] @32, scales[12] @96 (16 six-bit scales, q3k_scale), d @108.
//                      q = low 2 bits as q2_K, minus 4 unless bit e/32 of hmask[e%32] is set;
//                      d·(s − 32)·q with s = q3k_scale(e/16)
//   q4_K (256, 144 B)  d @0, dmin @2, scales[12] @4 (8 six-bit scales and mins, k4_scale_min),
//                      qs[128] @16. q = qs[32·(e/64) + e%32] low nibble if e%64 < 32, else high;
//                      d·sc·q − dmin·m, (sc, m) of sub-block e/32
//   q5_K (256, 176 B)  d @0, dmin @2, scales[12] @4, qh[32] @16, qs[128] @48.
//                      q = q4_K's nibble | bit e/32 of qh[e%32] << 4; d·sc·q − dmin·m
//   q6_K (256, 210 B)  ql[128] @0, qh[64] @128, int8 scales[16] @192, d @208. With h = e/128,
//                      l = e%32, k = (e%128)/32: q = nibble of ql[64h + l + 32·(k&1)] (low for k < 2)
//                      | ((qh[32h + l] >> 2k) & 3) << 4; d·scales[e/16]·(q − 32)
//   iq4_xs (256, 136 B) d @0, scales_h u16 @2, scales_l[4] @4, qs[128] @8. Sub-block b = e/32 has the
//                      six-bit scale ls = nibble b%2 of scales_l[b/2] | ((scales_h >> 2b) & 3) << 4;
//                      q = nibble of qs[16b + e%16] (low for e%32 < 16); d·(ls − 32)·kIq4nlValues[q]
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "util/half.h"

namespace veloxquant::blocks {

// The fp16 field at p as float, the little-endian u32 at p (fields may be unaligned).
inline float half_at(const std::uint8_t* p) { return half_to_float(load_u16(p)); }
inline std::uint32_t u32_at(const std::uint8_t* p) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

inline constexpr std::size_t kQK = 32;    // elements of the 32-element block types
inline constexpr std::size_t kQKK = 256;  // elements of a K-quant super-block (and iq4_xs)

// The 16 values of iq4_nl and iq4_xs codes (ggml's kvalues_iq4nl).
inline constexpr std::int8_t kIq4nlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                                 1,    13,   25,  38,  53,  69,  89,  113};

struct Q4_0 {
  static constexpr std::size_t kBytes = 18, kD = 0, kQs = 2;
};
struct Q4_1 {
  static constexpr std::size_t kBytes = 20, kD = 0, kM = 2, kQs = 4;
};
struct Q5_0 {
  static constexpr std::size_t kBytes = 22, kD = 0, kQh = 2, kQs = 6;
};
struct Q5_1 {
  static constexpr std::size_t kBytes = 24, kD = 0, kM = 2, kQh = 4, kQs = 8;
};
struct Q8_0 {
  static constexpr std::size_t kBytes = 34, kD = 0, kQs = 2;
};
struct IQ4_NL {
  static constexpr std::size_t kBytes = 18, kD = 0, kQs = 2;
};
struct Q2_K {
  static constexpr std::size_t kBytes = 84, kScales = 0, kQs = 16, kD = 80, kDmin = 82;
};
struct Q3_K {
  static constexpr std::size_t kBytes = 110, kHmask = 0, kQs = 32, kScales = 96, kD = 108;
};
struct Q4_K {
  static constexpr std::size_t kBytes = 144, kD = 0, kDmin = 2, kScales = 4, kQs = 16;
};
struct Q5_K {
  static constexpr std::size_t kBytes = 176, kD = 0, kDmin = 2, kScales = 4, kQh = 16, kQs = 48;
};
struct Q6_K {
  static constexpr std::size_t kBytes = 210, kQl = 0, kQh = 128, kScales = 192, kD = 208;
};
struct IQ4_XS {
  static constexpr std::size_t kBytes = 136, kD = 0, kScalesH = 2, kScalesL = 4, kQs = 8;
};

// q4_K / q5_K: the six-bit scale and min of sub-block j (0..7) from the 12 packed bytes
// (ggml's get_scale_min_k4): j < 4 in the low six bits of bytes j and j+4; j ≥ 4 split into the
// nibbles of byte j+4 and the top two bits of bytes j−4 and j.
inline void k4_scale_min(std::size_t j, const std::uint8_t* s, std::uint8_t& scale, std::uint8_t& min) {
  if (j < 4) {
    scale = s[j] & 63;
    min = s[j + 4] & 63;
  } else {
    scale = static_cast<std::uint8_t>((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
    min = static_cast<std::uint8_t>((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
  }
}

// q3_K: the six-bit scale (0..63, used as s − 32) of sub-block j (0..15): the low four bits are
// nibble j/8 of byte j%8, the high two bits are bits 2·(j/4) of byte 8 + j%4.
inline int q3k_scale(std::size_t j, const std::uint8_t* s) {
  const int low = (s[j % 8] >> (4 * (j / 8))) & 0xF;
  const int high = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
  return low | (high << 4);
}

// iq4_xs: the six-bit scale (used as ls − 32) of sub-block b (0..7).
inline int iq4xs_scale(std::size_t b, std::uint16_t scales_h, const std::uint8_t* scales_l) {
  return ((scales_l[b / 2] >> (4 * (b % 2))) & 0xF) | (((scales_h >> (2 * b)) & 3) << 4);
}

}  // namespace veloxquant::blocks
