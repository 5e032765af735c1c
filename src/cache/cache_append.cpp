// append: new tokens fill the sinks, then enter the exact window; tokens pushed out of the window
// (or every token, with window = 0) are encoded into the pages in batches, oldest first.
#include <algorithm>
#include <vector>

#include "cache/cache_impl.h"
#include "cache/outlier_channels.h"
#include "cache/page_records.h"

namespace veloxquant {

namespace {

constexpr std::size_t kEncodeBatch = 256;  // tokens gathered per quantizer encode call

// The tokens of one append call in position order, seen by one KV head: sinks, window ring, then
// the call's window-bound tokens. Compressed tokens take the exact format's round trip first,
// so a token is encoded the same way whether it waited in the window or not.
struct Stream {
  const KVCache::Impl& impl;
  const CacheLayer& layer;
  const float* k;  // the call's window-bound tokens (after those that became sinks): [n][kv_heads][head_dim]
  const float* v;
  std::size_t n;
  std::vector<std::uint8_t>& record;  // scratch for one exact record

  // Exact values of window-stream token j (j < window_count: the ring; then the call's tokens).
  void window_token(const CacheHead& head, std::size_t h, std::size_t j, float* key, float* value) const {
    const std::size_t d = impl.config.head_dim, es = impl.exact_code_size;
    if (j < layer.window_count) {
      const std::size_t slot = (layer.window_start + j) % impl.config.window;
      impl.exact->decode(1, head.window_keys.data() + slot * es, key);
      impl.exact->decode(1, head.window_values.data() + slot * es, value);
      return;
    }
    const std::size_t t = j - layer.window_count, heads = impl.config.kv_heads;
    impl.exact->encode(1, k + (t * heads + h) * d, record.data());
    impl.exact->decode(1, record.data(), key);
    impl.exact->encode(1, v + (t * heads + h) * d, record.data());
    impl.exact->decode(1, record.data(), value);
  }
};

// Chooses the outlier channels of a head from its first calibration_tokens tokens (sinks, window,
// then the call's tokens) and builds its quantizers.
void build_quantizers(const KVCache::Impl& impl, const LayerFormats& f, const Stream& stream, CacheHead& head,
                      std::size_t h) {
  const CacheConfig& c = impl.config;
  const std::size_t d = c.head_dim;
  if (f.key_outlier_count > 0 || f.value_outlier_count > 0) {
    const std::size_t held = stream.layer.sinks + stream.layer.window_count + stream.n;
    const std::size_t n = std::min(c.calibration_tokens, held);
    std::vector<float> keys(n * d), values(n * d);
    for (std::size_t t = 0; t < n; ++t) {
      if (t < stream.layer.sinks) {
        impl.exact->decode(1, head.sink_keys.data() + t * impl.exact_code_size, keys.data() + t * d);
        impl.exact->decode(1, head.sink_values.data() + t * impl.exact_code_size, values.data() + t * d);
      } else {
        stream.window_token(head, h, t - stream.layer.sinks, keys.data() + t * d, values.data() + t * d);
      }
    }
    head.key_outliers = choose_outlier_channels(n, d, keys.data(), f.key_outlier_count);
    head.value_outliers = choose_outlier_channels(n, d, values.data(), f.value_outlier_count);
  }
  head.key_quantizer = make_quantizer(f.key_spec, d, head.key_seed, head.key_outliers);
  head.value_quantizer = make_quantizer(f.value_spec, d, head.value_seed, head.value_outliers);
}

}  // namespace

void cache_append(KVCache::Impl& impl, std::size_t layer_index, std::size_t n_tokens, const float* k, const float* v) {
  const CacheConfig& c = impl.config;
  CacheLayer& layer = impl.layers[layer_index];
  const std::size_t d = c.head_dim, heads = c.kv_heads, es = impl.exact_code_size;
  const std::size_t token_floats = heads * d;

  // 1. Sinks: reserved once for all `sinks` tokens (they never grow past it).
  const std::size_t sinks = impl.layer_sinks(layer_index);
  const std::size_t to_sinks = std::min(n_tokens, sinks - layer.sinks);
  if (to_sinks > 0) {
    for (std::size_t h = 0; h < heads; ++h) {
      CacheHead& head = layer.heads[h];
      if (head.sink_keys.capacity() < sinks * es) {
        head.sink_keys.reserve(sinks * es);
        head.sink_values.reserve(sinks * es);
      }
      head.sink_keys.resize((layer.sinks + to_sinks) * es);
      head.sink_values.resize((layer.sinks + to_sinks) * es);
      for (std::size_t t = 0; t < to_sinks; ++t) {
        impl.exact->encode(1, k + t * token_floats + h * d, head.sink_keys.data() + (layer.sinks + t) * es);
        impl.exact->encode(1, v + t * token_floats + h * d, head.sink_values.data() + (layer.sinks + t) * es);
      }
    }
    layer.sinks += to_sinks;
  }
  const std::size_t rest = n_tokens - to_sinks;
  if (rest == 0) return;  // only sinks: no window layer (they keep none), no max_tokens (it exceeds sinks)
  k += to_sinks * token_floats;
  v += to_sinks * token_floats;

  // 2. The window stream (ring, then the call's tokens): its oldest `overflow` tokens go to the
  //    pages, the newest `keep` stay exact.
  const std::size_t total = layer.window_count + rest;
  const std::size_t keep = std::min(c.window, total);
  const std::size_t overflow = total - keep;
  // Per-thread buffers: a decode step appends one token per call, so they are reused, not reallocated.
  thread_local std::vector<std::uint8_t> record, key_records, value_records;
  thread_local std::vector<float> keys, values;
  record.resize(es);
  const Stream stream{impl, layer, k, v, rest, record};
  if (overflow > 0) {
    keys.resize(std::min(kEncodeBatch, overflow) * d);
    values.resize(keys.size());
    const LayerFormats& f = impl.formats[layer_index];
    key_records.resize(std::min(kEncodeBatch, overflow) * f.key_code_size);
    value_records.resize(std::min(kEncodeBatch, overflow) * f.value_code_size);
    for (std::size_t h = 0; h < heads; ++h)
      if (!layer.heads[h].key_quantizer) build_quantizers(impl, f, stream, layer.heads[h], h);
    const std::size_t page_tokens = c.page_tokens, kcs = f.key_code_size, vcs = f.value_code_size;
    for (std::size_t done = 0; done < overflow;) {
      // One batch never crosses a page boundary, so it is one encode call per head and part.
      const std::size_t index = layer.page_skip + layer.paged;
      const std::size_t slot = index % page_tokens;
      const std::size_t n = std::min({kEncodeBatch, overflow - done, page_tokens - slot});
      for (std::size_t h = 0; h < heads; ++h) {
        CacheHead& head = layer.heads[h];
        for (std::size_t j = 0; j < n; ++j) stream.window_token(head, h, done + j, &keys[j * d], &values[j * d]);
        if (index / page_tokens == head.pages.size()) {
          head.pages.push_back(
              CachePage{std::vector<std::uint8_t>(page_tokens * kcs), std::vector<std::uint8_t>(page_tokens * vcs)});
        }
        CachePage& page = head.pages[index / page_tokens];
        // Encoded as records, then put into the pages' layouts.
        head.key_quantizer->encode(n, keys.data(), key_records.data());
        for (std::size_t j = 0; j < n; ++j)
          put_page_record(impl, *head.key_quantizer, BlockOrder::kKeys, key_records.data() + j * kcs, page.keys.data(),
                          slot + j);
        head.value_quantizer->encode(n, values.data(), value_records.data());
        for (std::size_t j = 0; j < n; ++j)
          put_page_record(impl, *head.value_quantizer, BlockOrder::kValues, value_records.data() + j * vcs,
                          page.values.data(), slot + j);
      }
      layer.paged += n;
      done += n;
    }
  }

  // 3. Update the ring: drop the compressed ring tokens, push the call's tokens that stay exact.
  const std::size_t from_ring = std::min(overflow, layer.window_count);
  const std::size_t from_call = overflow - from_ring;
  if (keep > 0) {
    const std::size_t w = c.window;
    layer.window_start = (layer.window_start + from_ring) % w;
    layer.window_count -= from_ring;
    for (std::size_t h = 0; h < heads; ++h) {
      CacheHead& head = layer.heads[h];
      if (head.window_keys.empty()) {
        head.window_keys.resize(w * es);
        head.window_values.resize(w * es);
      }
      for (std::size_t t = from_call; t < rest; ++t) {
        const std::size_t slot = (layer.window_start + layer.window_count + (t - from_call)) % w;
        impl.exact->encode(1, k + t * token_floats + h * d, head.window_keys.data() + slot * es);
        impl.exact->encode(1, v + t * token_floats + h * d, head.window_values.data() + slot * es);
      }
    }
    layer.window_count += rest - from_call;
  } else {
    layer.window_start = 0;
    layer.window_count = 0;
  }

  // Eviction. A sliding-window layer keeps what this call's queries can see: the newest token's
  // window and, for the call's earlier tokens, the window − 1 tokens before the call.
  std::size_t keep_at_most = c.max_tokens > 0 ? c.max_tokens : layer.size();
  if (const std::size_t w = impl.sliding_window(layer_index); w > 0)
    keep_at_most = std::min(keep_at_most, w - 1 + n_tokens);
  if (layer.size() > keep_at_most) cache_evict(impl, layer, layer.size() - keep_at_most);
}

void cache_evict(KVCache::Impl& impl, CacheLayer& layer, std::size_t count) {
  const std::size_t page_tokens = impl.config.page_tokens;
  const std::size_t from_pages = std::min(count, layer.paged);
  layer.page_skip += from_pages;
  layer.paged -= from_pages;
  const std::size_t dead_pages = layer.page_skip / page_tokens;
  if (dead_pages > 0) {
    for (CacheHead& head : layer.heads)
      head.pages.erase(head.pages.begin(), head.pages.begin() + static_cast<std::ptrdiff_t>(dead_pages));
    layer.page_skip -= dead_pages * page_tokens;
  }
  const std::size_t from_window = std::min(count - from_pages, layer.window_count);
  if (from_window > 0) {
    layer.window_start = (layer.window_start + from_window) % impl.config.window;
    layer.window_count -= from_window;
  }
  layer.evicted += from_pages + from_window;
}

void cache_truncate(KVCache::Impl& impl, CacheLayer& layer, std::size_t n_tokens) {
  if (n_tokens >= layer.size()) return;
  std::size_t remove = layer.size() - n_tokens;
  const std::size_t from_window = std::min(remove, layer.window_count);
  layer.window_count -= from_window;
  remove -= from_window;
  const std::size_t from_pages = std::min(remove, layer.paged);
  layer.paged -= from_pages;
  remove -= from_pages;
  // Free the pages past the last held record (all of them when no record is left).
  const std::size_t page_tokens = impl.config.page_tokens;
  if (layer.paged == 0) layer.page_skip = 0;
  const std::size_t used_pages = (layer.page_skip + layer.paged + page_tokens - 1) / page_tokens;
  for (CacheHead& head : layer.heads) head.pages.resize(std::min(head.pages.size(), used_pages));
  if (remove > 0) {
    layer.sinks -= remove;
    const std::size_t es = impl.exact_code_size;
    for (CacheHead& head : layer.heads) {
      head.sink_keys.resize(layer.sinks * es);
      head.sink_values.resize(layer.sinks * es);
    }
  }
}

}  // namespace veloxquant
