#include "runner/cache_kv_store.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <string>

namespace veloxquant {

CacheConfig cache_config(const KvShape& shape, const KvStoreOptions& o, std::size_t threads) {
  // KVCache::attend has a scale but no tanh on the scores, and one eviction policy for all layers.
  const bool windowed = std::any_of(shape.windows.begin(), shape.windows.end(), [](std::size_t w) { return w > 0; });
  if (shape.softcap != 0.0f || windowed)
    throw std::invalid_argument(
        "cache formats '" + o.key_format + "'/'" + o.value_format + "' cannot attend for this model: it needs " +
        (shape.softcap != 0.0f ? std::string("attention logit soft-capping") : std::string()) +
        (shape.softcap != 0.0f && windowed ? " and " : "") + (windowed ? "sliding-window layers" : "") +
        ", which the compressed KVCache does not do; only the exact attention does (run and perplexity with "
        "--cache-k exact --cache-v exact)");
  CacheConfig c;
  c.layers = shape.layers;
  c.kv_heads = shape.kv_heads;
  c.q_heads = shape.heads;
  c.head_dim = shape.head_dim;
  c.key_format = o.key_format;
  c.value_format = o.value_format;
  c.window = o.window;
  c.sinks = o.sinks;
  c.seed = o.seed;
  c.scale = shape.scale;
  c.threads = threads;
  return c;
}

CacheKvStore::CacheKvStore(const KvShape& shape, const KvStoreOptions& options, std::size_t threads)
    : cache_(cache_config(shape, options, threads)) {}

std::string CacheKvStore::description() const {
  const CacheConfig& c = cache_.config();
  return "veloxquant KVCache K " + c.key_format + " V " + c.value_format + ", window " + std::to_string(c.window) +
         ", sinks " + std::to_string(c.sinks);
}

KvShape CacheKvStore::shape() const {
  const CacheConfig& c = cache_.config();
  return {c.layers, c.q_heads, c.kv_heads, c.head_dim, c.scale};
}

KvBits CacheKvStore::bits_per_coord() const {
  const CacheStats s = cache_.stats();
  return {s.key_bits_per_coord, s.value_bits_per_coord};
}

std::pair<double, double> CacheKvStore::seconds() const {
  const CacheStats s = cache_.stats();
  return {s.encode_seconds, s.attend_seconds};
}

}  // namespace veloxquant
