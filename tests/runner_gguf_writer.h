// Test helper: writes GGUF v3 files in memory (tiny random Llama models, metadata variants).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "math/prng.h"
#include "weights/weight_types.h"

namespace veloxquant::testing {

class GgufWriter {
 public:
  void kv_u32(const std::string& key, std::uint32_t v) {
    key_(key, 4);
    put(v);
  }
  void kv_f32(const std::string& key, float v) {
    key_(key, 6);
    put(v);
  }
  void kv_bool(const std::string& key, bool v) {
    key_(key, 7);
    put(static_cast<std::uint8_t>(v));
  }
  void kv_string(const std::string& key, const std::string& v) {
    key_(key, 8);
    str(v);
  }
  void kv_strings(const std::string& key, const std::vector<std::string>& v) {
    key_(key, 9);
    put(std::uint32_t{8});
    put(static_cast<std::uint64_t>(v.size()));
    for (const auto& s : v) str(s);
  }
  void kv_f32s(const std::string& key, const std::vector<float>& v) {
    key_(key, 9);
    put(std::uint32_t{6});
    put(static_cast<std::uint64_t>(v.size()));
    for (float f : v) put(f);
  }
  void kv_i32s(const std::string& key, const std::vector<std::int32_t>& v) {
    key_(key, 9);
    put(std::uint32_t{5});
    put(static_cast<std::uint64_t>(v.size()));
    for (auto i : v) put(i);
  }
  // type: any ggml type number of the weight-type table (0 f32, 1 f16, 8 q8_0, 12 q4_K, ...);
  // values are f32 and quantized here with the table's quantizer.
  void tensor(const std::string& name, std::vector<std::uint64_t> dims, std::uint32_t type,
              const std::vector<float>& values) {
    tensors_.push_back({name, std::move(dims), type, encode(type, values)});
  }

  std::vector<std::uint8_t> bytes() const {
    std::vector<std::uint8_t> out;
    auto put_to = [&out](const void* p, std::size_t n) {
      out.insert(out.end(), static_cast<const std::uint8_t*>(p), static_cast<const std::uint8_t*>(p) + n);
    };
    const std::uint32_t magic = 0x46554747u, version = 3;
    const std::uint64_t nt = tensors_.size(), nkv = n_kv_;
    put_to(&magic, 4);
    put_to(&version, 4);
    put_to(&nt, 8);
    put_to(&nkv, 8);
    put_to(kv_.data(), kv_.size());
    std::uint64_t offset = 0;
    for (const Tensor& t : tensors_) {
      const std::uint64_t len = t.name.size();
      put_to(&len, 8);
      put_to(t.name.data(), t.name.size());
      const std::uint32_t nd = static_cast<std::uint32_t>(t.dims.size());
      put_to(&nd, 4);
      for (std::uint64_t d : t.dims) put_to(&d, 8);
      put_to(&t.type, 4);
      put_to(&offset, 8);
      offset += (t.data.size() + 31) / 32 * 32;
    }
    out.resize((out.size() + 31) / 32 * 32, 0);
    for (const Tensor& t : tensors_) {
      put_to(t.data.data(), t.data.size());
      out.resize((out.size() + 31) / 32 * 32, 0);
    }
    return out;
  }

  // Values as the file stores them (after the type's rounding), for reference code.
  static std::vector<float> roundtrip(std::uint32_t type, const std::vector<float>& values) {
    const std::vector<std::uint8_t> b = encode(type, values);
    std::vector<float> out(values.size());
    find_weight_type(type)->dequantize(b.data(), values.size(), out.data());
    return out;
  }

 private:
  struct Tensor {
    std::string name;
    std::vector<std::uint64_t> dims;
    std::uint32_t type;
    std::vector<std::uint8_t> data;
  };
  template <typename T>
  void put(T v) {
    const auto* p = reinterpret_cast<const std::uint8_t*>(&v);
    kv_.insert(kv_.end(), p, p + sizeof(T));
  }
  void str(const std::string& s) {
    put(static_cast<std::uint64_t>(s.size()));
    kv_.insert(kv_.end(), s.begin(), s.end());
  }
  void key_(const std::string& key, std::uint32_t type) {
    ++n_kv_;
    str(key);
    put(type);
  }
  static std::vector<std::uint8_t> encode(std::uint32_t type, const std::vector<float>& v) {
    const WeightTypeInfo* t = find_weight_type(type);
    if (!t) throw std::invalid_argument("test writer: type " + std::to_string(type) + " is not in the table");
    std::vector<std::uint8_t> b(v.size() / t->block_elements * t->block_bytes);
    t->quantize(v.data(), v.size(), b.data());
    return b;
  }

  std::vector<std::uint8_t> kv_;
  std::uint64_t n_kv_ = 0;
  std::vector<Tensor> tensors_;
};

// A tiny random Llama model: the reference weights (as stored) are returned through `weights`
// keyed by tensor name.
struct TinyLlama {
  std::size_t vocab = 64, dim = 32, layers = 2, ffn = 64, heads = 4, kv_heads = 2;
  float rope_base = 10000.0f, eps = 1e-5f;
  bool tied = false;
  std::uint32_t type = 0;  // matrices' ggml type
};

inline std::vector<std::uint8_t> write_tiny_llama(const TinyLlama& m, std::uint64_t seed,
                                                  std::vector<std::pair<std::string, std::vector<float>>>& weights) {
  GgufWriter w;
  w.kv_string("general.architecture", "llama");
  w.kv_u32("general.alignment", 32);
  w.kv_u32("llama.context_length", 128);
  w.kv_u32("llama.embedding_length", static_cast<std::uint32_t>(m.dim));
  w.kv_u32("llama.block_count", static_cast<std::uint32_t>(m.layers));
  w.kv_u32("llama.feed_forward_length", static_cast<std::uint32_t>(m.ffn));
  w.kv_u32("llama.attention.head_count", static_cast<std::uint32_t>(m.heads));
  w.kv_u32("llama.attention.head_count_kv", static_cast<std::uint32_t>(m.kv_heads));
  w.kv_f32("llama.rope.freq_base", m.rope_base);
  w.kv_f32("llama.attention.layer_norm_rms_epsilon", m.eps);
  SplitMix64 rng(seed);
  auto add = [&](const std::string& name, std::size_t rows, std::size_t cols, float scale, std::uint32_t type,
                 float offset) {
    std::vector<float> v(rows * cols);
    for (float& x : v) x = offset + scale * static_cast<float>(rng.normal());
    std::vector<std::uint64_t> dims =
        rows == 1 ? std::vector<std::uint64_t>{cols} : std::vector<std::uint64_t>{cols, rows};
    w.tensor(name, dims, type, v);
    weights.emplace_back(name, GgufWriter::roundtrip(type, v));
  };
  const std::size_t hd = m.dim / m.heads, kv = m.kv_heads * hd;
  add("token_embd.weight", m.vocab, m.dim, 1.0f, m.type, 0.0f);
  for (std::size_t l = 0; l < m.layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    const float s = 1.0f / std::sqrt(static_cast<float>(m.dim));
    add(p + "attn_norm.weight", 1, m.dim, 0.1f, 0, 1.0f);
    add(p + "attn_q.weight", m.dim, m.dim, 2 * s, m.type, 0.0f);
    add(p + "attn_k.weight", kv, m.dim, 2 * s, m.type, 0.0f);
    add(p + "attn_v.weight", kv, m.dim, s, m.type, 0.0f);
    add(p + "attn_output.weight", m.dim, m.dim, s, m.type, 0.0f);
    add(p + "ffn_norm.weight", 1, m.dim, 0.1f, 0, 1.0f);
    add(p + "ffn_gate.weight", m.ffn, m.dim, s, m.type, 0.0f);
    add(p + "ffn_up.weight", m.ffn, m.dim, s, m.type, 0.0f);
    add(p + "ffn_down.weight", m.dim, m.ffn, 1.0f / std::sqrt(static_cast<float>(m.ffn)), m.type, 0.0f);
  }
  add("output_norm.weight", 1, m.dim, 0.1f, 0, 1.0f);
  if (!m.tied) add("output.weight", m.vocab, m.dim, 1.0f / std::sqrt(static_cast<float>(m.dim)), m.type, 0.0f);
  return w.bytes();
}

}  // namespace veloxquant::testing
