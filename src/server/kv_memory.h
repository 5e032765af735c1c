// What a session's KV cache will cost, for admission: KVCache::memory_bytes() of a cache holding
// n tokens, measured once at start-up on a one-layer, one-head cache of the server's
// configuration per kind of layer (its formats; every head of such layers allocates alike, and
// record sizes do not depend on the values), so the prediction is the allocation itself, not a
// formula of it. Sliding-window
// layers are measured as layers without sinks that keep every token: what they hold depends on how
// the tokens were cut into appends, and never exceeds that (an upper bound for admission).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "veloxquant/kv_cache.h"

namespace veloxquant::server {

class KvMemoryModel {
 public:
  // config: the sessions' cache configuration; max_tokens: the longest session (the context).
  KvMemoryModel(const CacheConfig& config, std::size_t max_tokens);

  // memory_bytes() of a fresh cache after appending `tokens` (≤ max_tokens) tokens.
  std::size_t bytes(std::size_t tokens) const;
  // What the same tokens take as plain f16 keys and values: tokens · layers · kv_heads · head_dim · 2 · 2.
  std::size_t f16_bytes(std::size_t tokens) const;
  std::size_t max_tokens() const { return max_tokens_; }

 private:
  // Layers that allocate alike: the same key and value formats, and a sliding window or none.
  struct LayerKind {
    std::string key_format, value_format;
    bool windowed = false;
    std::size_t heads = 0;              // such layers · kv_heads
    std::vector<std::size_t> per_head;  // [tokens] bytes of one KV head of such a layer
  };
  std::vector<LayerKind> kinds_;
  std::size_t max_tokens_ = 0;
  std::size_t f16_per_token_ = 0;
};

}  // namespace veloxquant::server
