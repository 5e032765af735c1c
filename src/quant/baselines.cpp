// Uncompressed and llama.cpp-style baselines: f32, f16, bf16, q8 (int8 per vector + fp16 scale),
// q4 (q4_0: groups of 32, fp16 scale d = max/−8, nibble q = round(x/d) + 8, low nibbles hold the
// group's first 16 values). Their work domain is the identity.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "kernels/kernels.h"
#include "quant/quantizers.h"
#include "util/half.h"

namespace veloxquant {

namespace {

std::uint16_t checked_half(float v, const std::string& format, std::size_t vector) {
  const std::uint16_t h = float_to_half(v);
  if (std::isinf(half_to_float(h)))
    throw std::invalid_argument(format + " encode: scale " + std::to_string(v) + " of vector " +
                                std::to_string(vector) + " exceeds the fp16 range (max 65504)");
  return h;
}

class F32Quantizer final : public BlockDecodedQuantizer {
 public:
  F32Quantizer(const FormatSpec& s, std::size_t d) : BlockDecodedQuantizer(s, d, 0) {}
  std::size_t code_size() const override { return 4 * dim(); }
  void score(std::size_t nq, const float* q, std::size_t n, const std::uint8_t* codes, float* out) const override {
    kernels::score_f32(reinterpret_cast<const float*>(codes), dim(), dim(), n, nq, q, dim(), out);
  }
  void accumulate(std::size_t nq, const float* w, std::size_t n, const std::uint8_t* codes, float* acc) const override {
    kernels::accumulate_f32(reinterpret_cast<const float*>(codes), dim(), dim(), n, nq, w, acc, dim());
  }

 protected:
  void encode_checked(std::size_t n, const float* x, std::uint8_t* codes) const override {
    std::memcpy(codes, x, n * code_size());
  }
  void decode_work(std::size_t n, const std::uint8_t* codes, float* out) const override {
    std::memcpy(out, codes, n * code_size());
  }
};

// |x| > 65504 is stored as Inf: refuse it, as the fp16 scales of q8 and q4 are (codes of earlier
// vectors may be written, as there). Checked on the halves (Inf = 0x7C00 after the sign), a
// compare-and-or over 16-bit lanes that costs a fraction of the conversion.
void check_half_range(std::size_t count, const float* x, const std::uint16_t* h, std::size_t dim,
                      const FormatSpec& format) {  // named only when throwing: no string per call
  std::uint16_t inf = 0;
  for (std::size_t i = 0; i < count; ++i) inf |= static_cast<std::uint16_t>((h[i] & 0x7FFFu) == 0x7C00u);
  if (!inf) return;
  for (std::size_t i = 0; i < count; ++i)
    if ((h[i] & 0x7FFFu) == 0x7C00u)
      throw std::invalid_argument(format.name() + " encode: value " + std::to_string(x[i]) + " of vector " +
                                  std::to_string(i / dim) + " at coordinate " + std::to_string(i % dim) +
                                  " exceeds the fp16 range (max 65504)");
}

class F16Quantizer final : public BlockDecodedQuantizer {
 public:
  F16Quantizer(const FormatSpec& s, std::size_t d) : BlockDecodedQuantizer(s, d, 0) {}
  std::size_t code_size() const override { return 2 * dim(); }
  void score(std::size_t nq, const float* q, std::size_t n, const std::uint8_t* codes, float* out) const override {
    kernels::score_f16(reinterpret_cast<const std::uint16_t*>(codes), dim(), dim(), n, nq, q, dim(), out);
  }
  void accumulate(std::size_t nq, const float* w, std::size_t n, const std::uint8_t* codes, float* acc) const override {
    kernels::accumulate_f16(reinterpret_cast<const std::uint16_t*>(codes), dim(), dim(), n, nq, w, acc, dim());
  }

 protected:
  // Records are 2-byte aligned wherever the library stores them (pages, windows, numpy arrays).
  void encode_checked(std::size_t n, const float* x, std::uint8_t* codes) const override {
    kernels::floats_to_halves(n * dim(), x, reinterpret_cast<std::uint16_t*>(codes));
    check_half_range(n * dim(), x, reinterpret_cast<const std::uint16_t*>(codes), dim(), spec());
  }
  void decode_work(std::size_t n, const std::uint8_t* codes, float* out) const override {
    kernels::halves_to_floats(n * dim(), reinterpret_cast<const std::uint16_t*>(codes), out);
  }
};

class BF16Quantizer final : public BlockDecodedQuantizer {
 public:
  BF16Quantizer(const FormatSpec& s, std::size_t d) : BlockDecodedQuantizer(s, d, 0) {}
  std::size_t code_size() const override { return 2 * dim(); }

 protected:
  void encode_checked(std::size_t n, const float* x, std::uint8_t* codes) const override {
    for (std::size_t i = 0; i < n * dim(); ++i) store_u16(codes + 2 * i, float_to_bf16(x[i]));
  }
  void decode_work(std::size_t n, const std::uint8_t* codes, float* out) const override {
    for (std::size_t i = 0; i < n * dim(); ++i) out[i] = bf16_to_float(load_u16(codes + 2 * i));
  }
};

class Q8Quantizer final : public BlockDecodedQuantizer {
 public:
  Q8Quantizer(const FormatSpec& s, std::size_t d) : BlockDecodedQuantizer(s, d, 0) {}
  std::size_t code_size() const override { return 2 + dim(); }
  // Fused on the records (no decoded block): the same bits as decode_work + score_f32.
  void score(std::size_t nq, const float* q, std::size_t n, const std::uint8_t* codes, float* out) const override {
    kernels::score_q8(codes, code_size(), dim(), n, nq, q, dim(), out);
  }
  void accumulate(std::size_t nq, const float* w, std::size_t n, const std::uint8_t* codes, float* acc) const override {
    kernels::accumulate_q8(codes, code_size(), dim(), n, nq, w, acc, dim());
  }

 protected:
  void encode_checked(std::size_t n, const float* x, std::uint8_t* codes) const override {
    for (std::size_t t = 0; t < n; ++t) {
      const float* v = x + t * dim();
      std::uint8_t* rec = codes + t * code_size();
      float amax = 0.0f;
      for (std::size_t j = 0; j < dim(); ++j) amax = std::max(amax, std::fabs(v[j]));
      const std::uint16_t h = checked_half(amax / 127.0f, name(), t);
      const float scale = half_to_float(h);
      store_u16(rec, h);
      const float inv = scale > 0.0f ? 1.0f / scale : 0.0f;
      for (std::size_t j = 0; j < dim(); ++j)
        rec[2 + j] =
            static_cast<std::uint8_t>(static_cast<std::int8_t>(std::clamp(std::lround(v[j] * inv), -127L, 127L)));
    }
  }
  void decode_work(std::size_t n, const std::uint8_t* codes, float* out) const override {
    for (std::size_t t = 0; t < n; ++t)
      for (std::size_t j = 0; j < dim(); ++j) out[t * dim() + j] = kernels::q8_value(codes + t * code_size(), j);
  }
};

class Q4Quantizer final : public BlockDecodedQuantizer {
 public:
  static constexpr std::size_t kGroup = kernels::kQ4Group, kGroupBytes = kernels::kQ4GroupBytes;
  Q4Quantizer(const FormatSpec& s, std::size_t d) : BlockDecodedQuantizer(s, d, 0) {}
  std::size_t code_size() const override { return (dim() + kGroup - 1) / kGroup * kGroupBytes; }
  // Fused on the records (no decoded block): the same bits as decode_work + score_f32.
  void score(std::size_t nq, const float* q, std::size_t n, const std::uint8_t* codes, float* out) const override {
    kernels::score_q4(codes, code_size(), dim(), n, nq, q, dim(), out);
  }
  void accumulate(std::size_t nq, const float* w, std::size_t n, const std::uint8_t* codes, float* acc) const override {
    kernels::accumulate_q4(codes, code_size(), dim(), n, nq, w, acc, dim());
  }

 protected:
  void encode_checked(std::size_t n, const float* x, std::uint8_t* codes) const override {
    float group[kGroup];
    for (std::size_t t = 0; t < n; ++t) {
      std::uint8_t* rec = codes + t * code_size();
      for (std::size_t g0 = 0; g0 < dim(); g0 += kGroup) {
        const std::size_t len = std::min(kGroup, dim() - g0);
        std::fill(group, group + kGroup, 0.0f);  // a partial last group is zero-padded
        std::copy(x + t * dim() + g0, x + t * dim() + g0 + len, group);
        const std::uint16_t h = checked_half(kernels::q4_signed_max(group, kGroup) / -8.0f, name(), t);
        const float d = half_to_float(h);
        const float inv = d != 0.0f ? 1.0f / d : 0.0f;
        std::uint8_t* block = rec + g0 / kGroup * kGroupBytes;
        store_u16(block, h);
        for (std::size_t j = 0; j < kGroup / 2; ++j) {
          const int lo = kernels::q4_nibble(group[j] * inv);
          const int hi = kernels::q4_nibble(group[j + kGroup / 2] * inv);
          block[2 + j] = static_cast<std::uint8_t>(lo | (hi << 4));
        }
      }
    }
  }
  void decode_work(std::size_t n, const std::uint8_t* codes, float* out) const override {
    for (std::size_t t = 0; t < n; ++t)
      for (std::size_t j = 0; j < dim(); ++j) out[t * dim() + j] = kernels::q4_value(codes + t * code_size(), j);
  }
};

}  // namespace

std::unique_ptr<Quantizer> make_baseline_quantizer(const FormatSpec& spec, std::size_t dim) {
  switch (spec.method) {
    case Method::kF32:
      return std::make_unique<F32Quantizer>(spec, dim);
    case Method::kF16:
      return std::make_unique<F16Quantizer>(spec, dim);
    case Method::kBF16:
      return std::make_unique<BF16Quantizer>(spec, dim);
    case Method::kQ8:
      return std::make_unique<Q8Quantizer>(spec, dim);
    case Method::kQ4:
      return std::make_unique<Q4Quantizer>(spec, dim);
    default:
      throw std::invalid_argument("not a baseline format: " + spec.name());
  }
}

}  // namespace veloxquant
