// What a session's KV cache will cost, for admission: KVCache::memory_bytes() of a cache holding
// n tokens, measured once at start-up on a one-layer, one-head cache of the server's
// configuration (every head of every layer allocates alike, and record sizes do not depend on
// the values), so the prediction is the allocation itself, not a formula of it.
#pragma once

#include <cstddef>
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
  std::size_t max_tokens() const { return per_head_.size() - 1; }

 private:
  std::vector<std::size_t> per_head_;  // [tokens] bytes of one layer's KV head
  std::size_t heads_ = 0;              // layers · kv_heads
  std::size_t f16_per_token_ = 0;
};

}  // namespace veloxquant::server
