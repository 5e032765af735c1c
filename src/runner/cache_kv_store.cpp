#include "runner/cache_kv_store.h"

#include <cstdio>

namespace veloxquant {

CacheConfig cache_config(const KvShape& shape, const KvStoreOptions& o, std::size_t threads) {
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

KvBits CacheKvStore::bits_per_coord() const {
  const CacheStats s = cache_.stats();
  return {s.key_bits_per_coord, s.value_bits_per_coord};
}

std::pair<double, double> CacheKvStore::seconds() const {
  const CacheStats s = cache_.stats();
  return {s.encode_seconds, s.attend_seconds};
}

}  // namespace veloxquant
