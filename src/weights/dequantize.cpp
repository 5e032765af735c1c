#include "weights/dequantize.h"

#include <cstring>

#include "util/half.h"
#include "weights/block_layout.h"

namespace veloxquant::dequant {

namespace {

using blocks::half_at;
using blocks::u32_at;

}  // namespace

void f32(const std::uint8_t* in, std::size_t n, float* out) { std::memcpy(out, in, n * sizeof(float)); }

void f16(const std::uint8_t* in, std::size_t n, float* out) {
  for (std::size_t i = 0; i < n; ++i) out[i] = half_at(in + 2 * i);
}

void bf16(const std::uint8_t* in, std::size_t n, float* out) {
  for (std::size_t i = 0; i < n; ++i) out[i] = bf16_to_float(load_u16(in + 2 * i));
}

void q4_0(const std::uint8_t* in, std::size_t n, float* out) {
  using L = blocks::Q4_0;
  for (std::size_t b = 0; b < n / blocks::kQK; ++b, in += L::kBytes, out += blocks::kQK) {
    const float d = half_at(in + L::kD);
    for (std::size_t j = 0; j < 16; ++j) {
      out[j] = static_cast<float>((in[L::kQs + j] & 0xF) - 8) * d;
      out[j + 16] = static_cast<float>((in[L::kQs + j] >> 4) - 8) * d;
    }
  }
}

void q4_1(const std::uint8_t* in, std::size_t n, float* out) {
  using L = blocks::Q4_1;
  for (std::size_t b = 0; b < n / blocks::kQK; ++b, in += L::kBytes, out += blocks::kQK) {
    const float d = half_at(in + L::kD), m = half_at(in + L::kM);
    for (std::size_t j = 0; j < 16; ++j) {
      out[j] = static_cast<float>(in[L::kQs + j] & 0xF) * d + m;
      out[j + 16] = static_cast<float>(in[L::kQs + j] >> 4) * d + m;
    }
  }
}

void q5_0(const std::uint8_t* in, std::size_t n, float* out) {
  using L = blocks::Q5_0;
  for (std::size_t b = 0; b < n / blocks::kQK; ++b, in += L::kBytes, out += blocks::kQK) {
    const float d = half_at(in + L::kD);
    const std::uint32_t qh = u32_at(in + L::kQh);
    for (std::size_t j = 0; j < 16; ++j) {
      const int h0 = static_cast<int>((qh >> j) & 1) << 4, h1 = static_cast<int>((qh >> (j + 16)) & 1) << 4;
      out[j] = static_cast<float>(((in[L::kQs + j] & 0xF) | h0) - 16) * d;
      out[j + 16] = static_cast<float>(((in[L::kQs + j] >> 4) | h1) - 16) * d;
    }
  }
}

void q5_1(const std::uint8_t* in, std::size_t n, float* out) {
  using L = blocks::Q5_1;
  for (std::size_t b = 0; b < n / blocks::kQK; ++b, in += L::kBytes, out += blocks::kQK) {
    const float d = half_at(in + L::kD), m = half_at(in + L::kM);
    const std::uint32_t qh = u32_at(in + L::kQh);
    for (std::size_t j = 0; j < 16; ++j) {
      const int h0 = static_cast<int>((qh >> j) & 1) << 4, h1 = static_cast<int>((qh >> (j + 16)) & 1) << 4;
      out[j] = static_cast<float>((in[L::kQs + j] & 0xF) | h0) * d + m;
      out[j + 16] = static_cast<float>((in[L::kQs + j] >> 4) | h1) * d + m;
    }
  }
}

void q8_0(const std::uint8_t* in, std::size_t n, float* out) {
  using L = blocks::Q8_0;
  for (std::size_t b = 0; b < n / blocks::kQK; ++b, in += L::kBytes, out += blocks::kQK) {
    const float d = half_at(in + L::kD);
    for (std::size_t j = 0; j < 32; ++j) out[j] = static_cast<float>(static_cast<std::int8_t>(in[L::kQs + j])) * d;
  }
}

void iq4_nl(const std::uint8_t* in, std::size_t n, float* out) {
  using L = blocks::IQ4_NL;
  for (std::size_t b = 0; b < n / blocks::kQK; ++b, in += L::kBytes, out += blocks::kQK) {
    const float d = half_at(in + L::kD);
    for (std::size_t j = 0; j < 16; ++j) {
      out[j] = d * static_cast<float>(blocks::kIq4nlValues[in[L::kQs + j] & 0xF]);
      out[j + 16] = d * static_cast<float>(blocks::kIq4nlValues[in[L::kQs + j] >> 4]);
    }
  }
}

void q2_K(const std::uint8_t* in, std::size_t n, float* out) {
  using L = blocks::Q2_K;
  for (std::size_t b = 0; b < n / blocks::kQKK; ++b, in += L::kBytes) {
    const float d = half_at(in + L::kD), dmin = half_at(in + L::kDmin);
    const std::uint8_t* sc = in + L::kScales;
    for (std::size_t half = 0; half < 2; ++half) {
      const std::uint8_t* q = in + L::kQs + 32 * half;
      for (std::size_t k = 0; k < 4; ++k)
        for (std::size_t part = 0; part < 2; ++part) {
          const std::uint8_t s = *sc++;
          const float dl = d * static_cast<float>(s & 0xF), ml = dmin * static_cast<float>(s >> 4);
          for (std::size_t l = 0; l < 16; ++l) *out++ = dl * static_cast<float>((q[l + 16 * part] >> (2 * k)) & 3) - ml;
        }
    }
  }
}

void q3_K(const std::uint8_t* in, std::size_t n, float* out) {
  using L = blocks::Q3_K;
  for (std::size_t b = 0; b < n / blocks::kQKK; ++b, in += L::kBytes) {
    const float d = half_at(in + L::kD);
    const std::uint8_t* hm = in + L::kHmask;
    std::size_t sub = 0;
    for (std::size_t half = 0; half < 2; ++half) {
      const std::uint8_t* q = in + L::kQs + 32 * half;
      for (std::size_t k = 0; k < 4; ++k) {
        const std::uint8_t bit = static_cast<std::uint8_t>(1u << (4 * half + k));
        for (std::size_t part = 0; part < 2; ++part, ++sub) {
          const float dl = d * static_cast<float>(blocks::q3k_scale(sub, in + L::kScales) - 32);
          for (std::size_t l = 16 * part; l < 16 * part + 16; ++l) {
            const int v = ((q[l] >> (2 * k)) & 3) - ((hm[l] & bit) ? 0 : 4);
            *out++ = dl * static_cast<float>(v);
          }
        }
      }
    }
  }
}

void q4_K(const std::uint8_t* in, std::size_t n, float* out) {
  using L = blocks::Q4_K;
  for (std::size_t b = 0; b < n / blocks::kQKK; ++b, in += L::kBytes) {
    const float d = half_at(in + L::kD), dmin = half_at(in + L::kDmin);
    for (std::size_t j = 0; j < 4; ++j) {
      const std::uint8_t* q = in + L::kQs + 32 * j;
      std::uint8_t sc, m;
      blocks::k4_scale_min(2 * j, in + L::kScales, sc, m);
      const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
      blocks::k4_scale_min(2 * j + 1, in + L::kScales, sc, m);
      const float d2 = d * static_cast<float>(sc), m2 = dmin * static_cast<float>(m);
      for (std::size_t l = 0; l < 32; ++l) *out++ = d1 * static_cast<float>(q[l] & 0xF) - m1;
      for (std::size_t l = 0; l < 32; ++l) *out++ = d2 * static_cast<float>(q[l] >> 4) - m2;
    }
  }
}

void q5_K(const std::uint8_t* in, std::size_t n, float* out) {
  using L = blocks::Q5_K;
  for (std::size_t b = 0; b < n / blocks::kQKK; ++b, in += L::kBytes) {
    const float d = half_at(in + L::kD), dmin = half_at(in + L::kDmin);
    const std::uint8_t* qh = in + L::kQh;
    for (std::size_t j = 0; j < 4; ++j) {
      const std::uint8_t* ql = in + L::kQs + 32 * j;
      std::uint8_t sc, m;
      blocks::k4_scale_min(2 * j, in + L::kScales, sc, m);
      const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
      blocks::k4_scale_min(2 * j + 1, in + L::kScales, sc, m);
      const float d2 = d * static_cast<float>(sc), m2 = dmin * static_cast<float>(m);
      const std::uint8_t u1 = static_cast<std::uint8_t>(1u << (2 * j)), u2 = static_cast<std::uint8_t>(2u << (2 * j));
      for (std::size_t l = 0; l < 32; ++l)
        *out++ = d1 * static_cast<float>((ql[l] & 0xF) + ((qh[l] & u1) ? 16 : 0)) - m1;
      for (std::size_t l = 0; l < 32; ++l)
        *out++ = d2 * static_cast<float>((ql[l] >> 4) + ((qh[l] & u2) ? 16 : 0)) - m2;
    }
  }
}

void q6_K(const std::uint8_t* in, std::size_t n, float* out) {
  using L = blocks::Q6_K;
  for (std::size_t b = 0; b < n / blocks::kQKK; ++b, in += L::kBytes) {
    const float d = half_at(in + L::kD);
    const auto* sc = reinterpret_cast<const std::int8_t*>(in + L::kScales);
    for (std::size_t half = 0; half < 2; ++half, out += 128, sc += 8) {
      const std::uint8_t* ql = in + L::kQl + 64 * half;
      const std::uint8_t* qh = in + L::kQh + 32 * half;
      for (std::size_t l = 0; l < 32; ++l) {
        const std::size_t is = l / 16;
        const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        out[l] = d * static_cast<float>(sc[is]) * static_cast<float>(q1);
        out[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
        out[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
        out[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
      }
    }
  }
}

void iq4_xs(const std::uint8_t* in, std::size_t n, float* out) {
  using L = blocks::IQ4_XS;
  for (std::size_t b = 0; b < n / blocks::kQKK; ++b, in += L::kBytes) {
    const float d = half_at(in + L::kD);
    const std::uint16_t scales_h = load_u16(in + L::kScalesH);
    for (std::size_t sub = 0; sub < 8; ++sub, out += 32) {
      const float dl = d * static_cast<float>(blocks::iq4xs_scale(sub, scales_h, in + L::kScalesL) - 32);
      const std::uint8_t* qs = in + L::kQs + 16 * sub;
      for (std::size_t j = 0; j < 16; ++j) {
        out[j] = dl * static_cast<float>(blocks::kIq4nlValues[qs[j] & 0xF]);
        out[j + 16] = dl * static_cast<float>(blocks::kIq4nlValues[qs[j] >> 4]);
      }
    }
  }
}

}  // namespace veloxquant::dequant
