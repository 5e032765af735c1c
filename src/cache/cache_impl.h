// The data behind KVCache (internal). Plain data so that a persistence module can write and read
// it: byte pages of records, ring buffers of exact records, outlier channel lists, seeds.
//
// Per layer and KV head, tokens are held in position order in three parts:
//   sinks   the first `sinks` tokens as records of the exact format (f32 by default)
//   pages   records of the key / value quantizers, page_tokens records per page; the first
//           `page_skip` records of pages[0] were evicted (max_tokens) and are not held
//   window  a ring of `window` exact records; slot of the j-th oldest = (window_start + j) % window
// Every KV head of a layer holds the same number of tokens, so the counters live in the layer.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "veloxquant/format.h"
#include "veloxquant/kv_cache.h"
#include "veloxquant/quantizer.h"

namespace veloxquant {

struct CachePage {
  std::vector<std::uint8_t> keys;    // [page_tokens][key code_size]
  std::vector<std::uint8_t> values;  // [page_tokens][value code_size]
};

struct CacheHead {
  std::vector<std::uint8_t> sink_keys, sink_values;      // [sinks held][exact code_size]
  std::vector<std::uint8_t> window_keys, window_values;  // ring [window][exact code_size]
  std::vector<CachePage> pages;
  std::uint64_t key_seed = 0, value_seed = 0;
  // Outlier channels (ascending) of formats with outliers; fixed when the first token of this
  // head is compressed (see docs/kv_cache.md) and kept until clear().
  std::vector<std::uint32_t> key_outliers, value_outliers;
  // Built from spec, seed and outlier list when the first token is compressed; immutable, so
  // copies of the cache share them.
  std::shared_ptr<const Quantizer> key_quantizer, value_quantizer;
};

struct CacheLayer {
  std::size_t sinks = 0;         // tokens held as sinks
  std::size_t page_skip = 0;     // evicted records at the front of pages[0]
  std::size_t paged = 0;         // records held in pages after page_skip
  std::size_t window_start = 0;  // ring slot of the oldest window token
  std::size_t window_count = 0;  // tokens held in the window
  std::size_t evicted = 0;       // tokens dropped (max_tokens, sliding window) since clear()
  std::vector<CacheHead> heads;  // [kv_heads]

  std::size_t size() const { return sinks + paged + window_count; }
};

// Nanosecond counter that attend() (const) may bump from several threads; copyable.
struct TimeCounter {
  std::atomic<std::uint64_t> ns{0};
  TimeCounter() = default;
  TimeCounter(const TimeCounter& o) : ns(o.ns.load()) {}
  TimeCounter& operator=(const TimeCounter& o) {
    ns.store(o.ns.load());
    return *this;
  }
  void add(std::uint64_t v) { ns.fetch_add(v, std::memory_order_relaxed); }
  double seconds() const { return static_cast<double>(ns.load()) * 1e-9; }
};

// The key and value formats of a layer (CacheConfig's defaults, or the layer's own).
struct LayerFormats {
  FormatSpec key_spec, value_spec;
  std::size_t key_outlier_count = 0, value_outlier_count = 0;  // spec.outliers_for_dim(head_dim)
  std::size_t key_code_size = 0, value_code_size = 0;
};

struct KVCache::Impl {
  CacheConfig config;
  FormatSpec exact_spec;
  std::size_t exact_code_size = 0;
  LayerFormats defaults;                   // of key_format / value_format
  std::vector<LayerFormats> formats;       // [layers]: defaults, or the layer's own
  float scale = 0.0f;                      // resolved attention scale
  std::shared_ptr<const Quantizer> exact;  // format of sinks and window (seed-independent)
  std::vector<CacheLayer> layers;
  TimeCounter encode_time, attend_time;

  explicit Impl(const CacheConfig& config);

  // The sliding window of a layer (0: none) and the sinks it keeps (none on a windowed layer: its
  // queries never see tokens beyond the window).
  std::size_t sliding_window(std::size_t layer) const {
    return config.sliding_windows.empty() ? 0 : config.sliding_windows[layer];
  }
  std::size_t layer_sinks(std::size_t layer) const { return sliding_window(layer) > 0 ? 0 : config.sinks; }
};

// Implemented in cache_append.cpp (append, truncate) and cache_attend.cpp.
void cache_append(KVCache::Impl& impl, std::size_t layer, std::size_t n_tokens, const float* k, const float* v);
void cache_attend(const KVCache::Impl& impl, std::size_t layer, std::size_t n_queries, const float* q, float* out);
void cache_truncate(KVCache::Impl& impl, CacheLayer& layer, std::size_t n_tokens);
// Drops the `count` oldest non-sink tokens of a layer (max_tokens eviction).
void cache_evict(KVCache::Impl& impl, CacheLayer& layer, std::size_t count);

}  // namespace veloxquant
