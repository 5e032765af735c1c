#include "runner/cache_kv_store.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace veloxquant {

CacheConfig cache_config(const KvShape& shape, const KvStoreOptions& o, std::size_t threads) {
  CacheConfig c;
  c.layers = shape.layers;
  c.kv_heads = shape.kv_heads;
  c.q_heads = shape.heads;
  c.head_dim = shape.head_dim;
  c.key_format = o.key_format;
  c.value_format = o.value_format;
  c.layer_key_formats = layer_formats(o.key_layers, shape.layers, "--cache-k-layers");
  c.layer_value_formats = layer_formats(o.value_layers, shape.layers, "--cache-v-layers");
  c.window = o.window;
  c.sinks = o.sinks;
  c.seed = o.seed;
  c.scale = shape.scale;
  c.softcap = shape.softcap;
  c.sliding_windows = shape.windows;
  c.threads = threads;
  return c;
}

namespace {

// ", layers 0,1 K q8 V tq3" for the layers whose formats differ from the defaults ("" when none).
std::string layer_overrides(const CacheConfig& c) {
  std::vector<std::pair<std::string, std::string>> formats;  // (key, value), by first layer
  std::vector<std::string> lists;                            // their layers
  for (std::size_t l = 0; l < c.layers; ++l) {
    const std::pair<std::string, std::string> f{key_format_of(c, l), value_format_of(c, l)};
    if (f.first == c.key_format && f.second == c.value_format) continue;
    const auto at = static_cast<std::size_t>(std::find(formats.begin(), formats.end(), f) - formats.begin());
    if (at == formats.size()) {
      formats.push_back(f);
      lists.emplace_back();
    }
    if (!lists[at].empty()) lists[at] += ',';
    lists[at] += std::to_string(l);
  }
  std::string out;
  for (std::size_t i = 0; i < formats.size(); ++i)
    out += ", layers " + lists[i] + " K " + formats[i].first + " V " + formats[i].second;
  return out;
}

}  // namespace

CacheKvStore::CacheKvStore(const KvShape& shape, const KvStoreOptions& options, std::size_t threads)
    : cache_(cache_config(shape, options, threads)) {}

std::string CacheKvStore::description() const { return cache_description(cache_.config()); }

std::string cache_description(const CacheConfig& c) {
  return "veloxquant KVCache K " + c.key_format + " V " + c.value_format + layer_overrides(c) + ", window " +
         std::to_string(c.window) + ", sinks " + std::to_string(c.sinks);
}

KvShape CacheKvStore::shape() const {
  const CacheConfig& c = cache_.config();
  return {c.layers, c.q_heads, c.kv_heads, c.head_dim, c.scale, c.softcap, c.sliding_windows};
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
