// C API: the KV cache, its statistics and persistence.
#include <string>
#include <utility>
#include <vector>

#include "cache/persist.h"
#include "capi/capi_status.h"
#include "veloxquant/kv_cache.h"
#include "veloxquant/veloxquant.h"

struct vq_cache {
  veloxquant::KVCache cache;
  // What vq_cache_get_config points to for the per-layer lists (NULL when a list is empty).
  std::vector<const char*> key_names, value_names;

  explicit vq_cache(veloxquant::KVCache c) : cache(std::move(c)) {
    const veloxquant::CacheConfig& cc = cache.config();
    for (const std::string& name : cc.layer_key_formats) key_names.push_back(name.c_str());
    for (const std::string& name : cc.layer_value_formats) value_names.push_back(name.c_str());
  }
};

namespace {

using veloxquant::capi::fail;
using veloxquant::capi::guarded;

veloxquant::CacheConfig to_cpp(const vq_cache_config& c) {
  veloxquant::CacheConfig out;
  out.layers = c.layers;
  out.kv_heads = c.kv_heads;
  out.q_heads = c.q_heads;
  out.head_dim = c.head_dim;
  out.key_format = c.key_format;
  out.value_format = c.value_format;
  out.exact_format = c.exact_format;
  out.window = c.window;
  out.sinks = c.sinks;
  out.max_tokens = c.max_tokens;
  out.calibration_tokens = c.calibration_tokens;
  out.page_tokens = c.page_tokens;
  out.seed = c.seed;
  out.scale = c.scale;
  out.threads = c.threads;
  out.softcap = c.softcap;
  if (c.sliding_windows) out.sliding_windows.assign(c.sliding_windows, c.sliding_windows + c.layers);
  for (const auto& [names, list] : {std::pair{c.layer_key_formats, &out.layer_key_formats},
                                    std::pair{c.layer_value_formats, &out.layer_value_formats}})
    if (names)
      for (std::size_t l = 0; l < c.layers; ++l) list->push_back(names[l] ? names[l] : "");
  return out;
}

// Pointers into `c` (its strings live as long as the cache).
vq_cache_config to_c(const veloxquant::CacheConfig& c) {
  vq_cache_config out;
  out.layers = c.layers;
  out.kv_heads = c.kv_heads;
  out.q_heads = c.q_heads;
  out.head_dim = c.head_dim;
  out.key_format = c.key_format.c_str();
  out.value_format = c.value_format.c_str();
  out.exact_format = c.exact_format.c_str();
  out.window = c.window;
  out.sinks = c.sinks;
  out.max_tokens = c.max_tokens;
  out.calibration_tokens = c.calibration_tokens;
  out.page_tokens = c.page_tokens;
  out.seed = c.seed;
  out.scale = c.scale;
  out.threads = c.threads;
  out.softcap = c.softcap;
  out.sliding_windows = c.sliding_windows.empty() ? nullptr : c.sliding_windows.data();
  out.layer_key_formats = nullptr;  // set by vq_cache_get_config, which has the cache's name arrays
  out.layer_value_formats = nullptr;
  return out;
}

}  // namespace

extern "C" {

void vq_cache_config_init(vq_cache_config* config) {
  if (!config) return;
  static const veloxquant::CacheConfig defaults;  // its strings outlive every caller
  *config = to_c(defaults);
}

vq_status vq_cache_create(const vq_cache_config* config, vq_cache** out) {
  if (!out) return fail(VQ_INVALID_ARGUMENT, "vq_cache_create: out is NULL");
  *out = nullptr;
  if (!config) return fail(VQ_INVALID_ARGUMENT, "vq_cache_create: config is NULL");
  if (!config->key_format || !config->value_format || !config->exact_format)
    return fail(VQ_INVALID_ARGUMENT, "vq_cache_create: a format string is NULL");
  return guarded([&] { *out = new vq_cache(veloxquant::KVCache(to_cpp(*config))); });
}

void vq_cache_destroy(vq_cache* cache) { delete cache; }

vq_status vq_cache_get_config(const vq_cache* cache, vq_cache_config* out) {
  if (!cache || !out) return fail(VQ_INVALID_ARGUMENT, "vq_cache_get_config: cache or out is NULL");
  *out = to_c(cache->cache.config());
  out->layer_key_formats = cache->key_names.empty() ? nullptr : cache->key_names.data();
  out->layer_value_formats = cache->value_names.empty() ? nullptr : cache->value_names.data();
  return VQ_OK;
}

vq_status vq_cache_append(vq_cache* cache, size_t layer, size_t n_tokens, const float* k, const float* v) {
  if (!cache) return fail(VQ_INVALID_ARGUMENT, "vq_cache_append: cache is NULL");
  return guarded([&] { cache->cache.append(layer, n_tokens, k, v); });
}

vq_status vq_cache_attend(const vq_cache* cache, size_t layer, size_t n_queries, const float* q, float* out) {
  if (!cache) return fail(VQ_INVALID_ARGUMENT, "vq_cache_attend: cache is NULL");
  return guarded([&] { cache->cache.attend(layer, n_queries, q, out); });
}

vq_status vq_cache_tokens(const vq_cache* cache, size_t layer, size_t* out) {
  if (!cache || !out) return fail(VQ_INVALID_ARGUMENT, "vq_cache_tokens: cache or out is NULL");
  return guarded([&] { *out = cache->cache.size(layer); });
}

vq_status vq_cache_appended(const vq_cache* cache, size_t layer, size_t* out) {
  if (!cache || !out) return fail(VQ_INVALID_ARGUMENT, "vq_cache_appended: cache or out is NULL");
  return guarded([&] { *out = cache->cache.appended(layer); });
}

vq_status vq_cache_can_truncate(const vq_cache* cache, size_t n_tokens, int* out) {
  if (!cache || !out) return fail(VQ_INVALID_ARGUMENT, "vq_cache_can_truncate: cache or out is NULL");
  *out = cache->cache.can_truncate(n_tokens) ? 1 : 0;
  return VQ_OK;
}

vq_status vq_cache_truncate(vq_cache* cache, size_t n_tokens) {
  if (!cache) return fail(VQ_INVALID_ARGUMENT, "vq_cache_truncate: cache is NULL");
  return guarded([&] { cache->cache.truncate(n_tokens); });
}

vq_status vq_cache_clear(vq_cache* cache) {
  if (!cache) return fail(VQ_INVALID_ARGUMENT, "vq_cache_clear: cache is NULL");
  return guarded([&] { cache->cache.clear(); });
}

vq_status vq_cache_stats_get(const vq_cache* cache, vq_cache_stats* out) {
  if (!cache || !out) return fail(VQ_INVALID_ARGUMENT, "vq_cache_stats_get: cache or out is NULL");
  return guarded([&] {
    const veloxquant::CacheStats s = cache->cache.stats();
    out->tokens = s.tokens;
    out->memory_bytes = cache->cache.memory_bytes();
    out->code_bytes = s.code_bytes;
    out->key_code_bytes = s.key_code_bytes;
    out->value_code_bytes = s.value_code_bytes;
    out->window_bytes = s.window_bytes;
    out->sink_bytes = s.sink_bytes;
    out->outlier_bytes = s.outlier_bytes;
    out->key_bits_per_coord = s.key_bits_per_coord;
    out->value_bits_per_coord = s.value_bits_per_coord;
    out->encode_seconds = s.encode_seconds;
    out->attend_seconds = s.attend_seconds;
  });
}

vq_status vq_cache_save(const vq_cache* cache, const char* path) {
  if (!cache || !path) return fail(VQ_INVALID_ARGUMENT, "vq_cache_save: cache or path is NULL");
  return guarded([&] { veloxquant::save_cache(cache->cache, path); });
}

vq_status vq_cache_load(const char* path, vq_cache** out) {
  if (!out) return fail(VQ_INVALID_ARGUMENT, "vq_cache_load: out is NULL");
  *out = nullptr;
  if (!path) return fail(VQ_INVALID_ARGUMENT, "vq_cache_load: path is NULL");
  return guarded([&] { *out = new vq_cache(veloxquant::load_cache(path)); });
}

}  // extern "C"
