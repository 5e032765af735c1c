// Quantizers of the float types and the 32-element block types (q4_0 … q8_0, iq4_nl).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "util/half.h"
#include "weights/block_layout.h"
#include "weights/quantize.h"
#include "weights/quantize_search.h"

namespace veloxquant::quantize {

namespace {

// ggml's (int)(v) with v ≥ 0 followed by MIN(hi, ·), defined for every float (NaN gives 0).
int truncate_level(float v, int hi) {
  if (!(v >= 0.0f)) return 0;
  if (v >= static_cast<float>(hi)) return hi;
  return static_cast<int>(v);
}

void store_half(std::uint8_t* p, float v) { store_u16(p, float_to_half(v)); }

// The element of largest magnitude (the first one on ties).
float signed_max(const float* x, std::size_t n) {
  float amax = 0.0f, max = 0.0f;
  for (std::size_t j = 0; j < n; ++j)
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  return max;
}

// Symmetric 4/5-bit: levels round(x/d) + offset with d = max / −offset (q4_0, q5_0).
void symmetric_block(const float* x, int offset, int hi, std::uint8_t* levels, float& d) {
  d = signed_max(x, blocks::kQK) / static_cast<float>(-offset);
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (std::size_t j = 0; j < blocks::kQK; ++j)
    levels[j] = static_cast<std::uint8_t>(truncate_level(x[j] * id + (static_cast<float>(offset) + 0.5f), hi));
}

// Asymmetric 4/5-bit: levels round((x − min)/d) with d = (max − min)/hi (q4_1, q5_1).
void offset_block(const float* x, int hi, std::uint8_t* levels, float& d, float& min) {
  min = x[0];
  float max = x[0];
  for (std::size_t j = 1; j < blocks::kQK; ++j) {
    min = std::min(min, x[j]);
    max = std::max(max, x[j]);
  }
  d = (max - min) / static_cast<float>(hi);
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (std::size_t j = 0; j < blocks::kQK; ++j)
    levels[j] = static_cast<std::uint8_t>(truncate_level((x[j] - min) * id + 0.5f, hi));
}

// Low nibbles of elements 0..15, high nibbles of 16..31.
void pack_nibbles(const std::uint8_t* levels, std::uint8_t* qs) {
  for (std::size_t j = 0; j < 16; ++j)
    qs[j] = static_cast<std::uint8_t>((levels[j] & 0xF) | ((levels[j + 16] & 0xF) << 4));
}

// Bit 4 of element j's level goes to bit j of the 32-bit qh.
void pack_high_bits(const std::uint8_t* levels, std::uint8_t* qh) {
  std::uint32_t bits = 0;
  for (std::size_t j = 0; j < 32; ++j) bits |= static_cast<std::uint32_t>((levels[j] >> 4) & 1) << j;
  std::memcpy(qh, &bits, 4);
}

}  // namespace

void f32(const float* x, std::size_t n, std::uint8_t* out) { std::memcpy(out, x, n * sizeof(float)); }

void f16(const float* x, std::size_t n, std::uint8_t* out) {
  for (std::size_t i = 0; i < n; ++i) store_u16(out + 2 * i, float_to_half(x[i]));
}

void bf16(const float* x, std::size_t n, std::uint8_t* out) {
  for (std::size_t i = 0; i < n; ++i) store_u16(out + 2 * i, float_to_bf16(x[i]));
}

void q4_0(const float* x, std::size_t n, std::uint8_t* out) {
  using L = blocks::Q4_0;
  for (std::size_t b = 0; b < n / blocks::kQK; ++b, x += blocks::kQK, out += L::kBytes) {
    std::uint8_t levels[32];
    float d;
    symmetric_block(x, 8, 15, levels, d);
    store_half(out + L::kD, d);
    pack_nibbles(levels, out + L::kQs);
  }
}

void q4_1(const float* x, std::size_t n, std::uint8_t* out) {
  using L = blocks::Q4_1;
  for (std::size_t b = 0; b < n / blocks::kQK; ++b, x += blocks::kQK, out += L::kBytes) {
    std::uint8_t levels[32];
    float d, min;
    offset_block(x, 15, levels, d, min);
    store_half(out + L::kD, d);
    store_half(out + L::kM, min);
    pack_nibbles(levels, out + L::kQs);
  }
}

void q5_0(const float* x, std::size_t n, std::uint8_t* out) {
  using L = blocks::Q5_0;
  for (std::size_t b = 0; b < n / blocks::kQK; ++b, x += blocks::kQK, out += L::kBytes) {
    std::uint8_t levels[32];
    float d;
    symmetric_block(x, 16, 31, levels, d);
    store_half(out + L::kD, d);
    pack_high_bits(levels, out + L::kQh);
    pack_nibbles(levels, out + L::kQs);
  }
}

void q5_1(const float* x, std::size_t n, std::uint8_t* out) {
  using L = blocks::Q5_1;
  for (std::size_t b = 0; b < n / blocks::kQK; ++b, x += blocks::kQK, out += L::kBytes) {
    std::uint8_t levels[32];
    float d, min;
    offset_block(x, 31, levels, d, min);
    store_half(out + L::kD, d);
    store_half(out + L::kM, min);
    pack_high_bits(levels, out + L::kQh);
    pack_nibbles(levels, out + L::kQs);
  }
}

void q8_0(const float* x, std::size_t n, std::uint8_t* out) {
  using L = blocks::Q8_0;
  for (std::size_t b = 0; b < n / blocks::kQK; ++b, x += blocks::kQK, out += L::kBytes) {
    float amax = 0.0f;
    for (std::size_t j = 0; j < blocks::kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    store_half(out + L::kD, d);
    for (std::size_t j = 0; j < blocks::kQK; ++j) {
      const float v = std::round(x[j] * id);  // half away from zero, as ggml's roundf
      out[L::kQs + j] = static_cast<std::uint8_t>(static_cast<std::int8_t>(std::max(-127.0f, std::min(127.0f, v))));
    }
  }
}

void iq4_nl(const float* x, std::size_t n, std::uint8_t* out) {
  using L = blocks::IQ4_NL;
  for (std::size_t b = 0; b < n / blocks::kQK; ++b, x += blocks::kQK, out += L::kBytes) {
    std::uint8_t levels[32];
    const float d = quant_search::iq4nl_group_scale(blocks::kQK, x, levels, 7);
    store_half(out + L::kD, d);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (std::size_t j = 0; j < blocks::kQK; ++j)
      levels[j] = static_cast<std::uint8_t>(quant_search::nearest_iq4nl_index(id * x[j]));
    pack_nibbles(levels, out + L::kQs);
  }
}

}  // namespace veloxquant::quantize
