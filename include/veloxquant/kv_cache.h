// A multi-layer KV cache that stores keys and values compressed and attends on the codes.
//
// Per layer and KV head, tokens live in three parts, in position order:
//   sinks     the first `sinks` tokens, exact (exact_format: f32, f16 or bf16)
//   pages     compressed records in pages of `page_tokens` tokens (codes together)
//   window    the newest `window` tokens, exact (exact_format); a token leaving it is compressed
// Layouts: k, v are [tokens][kv_heads][head_dim]; q and out are [queries][q_heads][head_dim].
// Query head h reads KV head h / (q_heads / kv_heads) (grouped-query attention).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace veloxquant {

struct CacheConfig {
  std::size_t layers = 1;
  std::size_t kv_heads = 1;
  std::size_t q_heads = 1;  // multiple of kv_heads
  std::size_t head_dim = 128;
  std::string key_format = "tq3";  // any name parse_format() accepts
  std::string value_format = "tq3";
  // Per-layer formats (e.g. the first and last layers at q8, as vLLM's TurboQuant presets keep
  // them): entry l, when not "", replaces key_format / value_format for layer l. Size 0 or `layers`.
  std::vector<std::string> layer_key_formats, layer_value_formats;
  std::size_t window = 128;  // exact recent tokens (0 allowed)
  std::size_t sinks = 4;     // exact first tokens (0 allowed)
  // Storage of sinks and window: f32, f16, bf16, or "auto" = f32 when a key or value format is
  // f32 (an exact cache stays exact), else f16 (the precision of the f16 baseline; an f32 window
  // would cost as much as 1 311 tq3 records per head).
  std::string exact_format = "auto";
  std::size_t max_tokens = 0;            // 0: unbounded; else evict the oldest non-sink tokens
  std::size_t calibration_tokens = 128;  // tokens that choose the outlier channels
  std::size_t page_tokens = 256;
  std::uint64_t seed = 0;
  float scale = 0.0f;  // attention scale; 0 means 1/√head_dim
  // Attention logit soft-capping (gemma2): a score s = q·k·scale becomes softcap·tanh(s/softcap)
  // before the softmax. 0: off; else finite and > 0.
  float softcap = 0.0f;
  // Sliding-window layers (gemma2's local layers): a query of layer l sees its last
  // sliding_windows[l] tokens, itself included, and the layer keeps only what its next queries can
  // see (older tokens are evicted after each append; such a layer keeps no sinks). Empty, or 0 for
  // a layer: every token. Size 0 or `layers`.
  std::vector<std::size_t> sliding_windows;
  std::size_t threads = 1;
};

// The formats layer l of a cache of `c` stores its keys / values in.
inline const std::string& key_format_of(const CacheConfig& c, std::size_t l) {
  return l < c.layer_key_formats.size() && !c.layer_key_formats[l].empty() ? c.layer_key_formats[l] : c.key_format;
}
inline const std::string& value_format_of(const CacheConfig& c, std::size_t l) {
  return l < c.layer_value_formats.size() && !c.layer_value_formats[l].empty() ? c.layer_value_formats[l]
                                                                               : c.value_format;
}

// exact_format with "auto" resolved: f32 when any layer's key or value format is f32, else f16.
std::string resolved_exact_format(const CacheConfig& c);

struct CacheStats {
  std::size_t tokens = 0;      // tokens of layer 0
  std::size_t code_bytes = 0;  // compressed records, keys + values
  std::size_t key_code_bytes = 0;
  std::size_t value_code_bytes = 0;
  std::size_t window_bytes = 0;
  std::size_t sink_bytes = 0;
  std::size_t outlier_bytes = 0;    // outlier channel lists
  double key_bits_per_coord = 0.0;  // measured over compressed tokens
  double value_bits_per_coord = 0.0;
  double encode_seconds = 0.0;
  double attend_seconds = 0.0;
};

class KVCache {
 public:
  explicit KVCache(const CacheConfig& config);
  ~KVCache();
  KVCache(const KVCache& other);
  KVCache& operator=(const KVCache& other);
  KVCache(KVCache&&) noexcept;
  KVCache& operator=(KVCache&&) noexcept;

  const CacheConfig& config() const;
  std::size_t size(std::size_t layer = 0) const;  // tokens held in a layer
  // Tokens appended to a layer since clear(): held + evicted (max_tokens, sliding windows), so the
  // position of the next token.
  std::size_t appended(std::size_t layer = 0) const;

  // Appends n_tokens tokens to one layer. Throws std::invalid_argument (cache unchanged) on a
  // bad layer, non-finite input, or a value an fp16 field of the formats cannot hold (above 65504
  // in an f16 window, a norm above 16384 for tq/tqp/qjl/polar; docs/reliability.md).
  void append(std::size_t layer, std::size_t n_tokens, const float* k, const float* v);
  // Causal attention for the newest n_queries tokens of the layer: query i sees every token up
  // to position size − n_queries + i (on a sliding-window layer, only the last window of them).
  // n_queries ≤ size(layer); on a sliding-window layer that evicted tokens, at most the tokens of
  // the last append (the earlier ones' windows are gone).
  void attend(std::size_t layer, std::size_t n_queries, const float* q, float* out) const;

  // Keeps the first n_tokens of every layer. Throws std::invalid_argument (cache unchanged) when a
  // sliding-window layer has evicted tokens and would be cut below what it was appended.
  void truncate(std::size_t n_tokens);
  bool can_truncate(std::size_t n_tokens) const;  // whether truncate(n_tokens) would succeed
  void clear();

  std::size_t memory_bytes() const;  // payload bytes actually allocated
  CacheStats stats() const;

  // The stored pages, windows, outlier lists and seeds (defined in src/cache/cache_impl.h) for
  // persistence and tests.
  struct Impl;
  const Impl& internals() const { return *impl_; }
  Impl& internals() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace veloxquant
