// The runner's attention on the compressed veloxquant::KVCache (formats from the format table).
#pragma once

#include <cstddef>
#include <string>
#include <utility>

#include "runner/kv_store.h"
#include "veloxquant/kv_cache.h"

namespace veloxquant {

// The KVCache configuration CacheKvStore makes for a model shape and the commands' options;
// throws std::invalid_argument for a shape with soft-capping or sliding windows.
CacheConfig cache_config(const KvShape& shape, const KvStoreOptions& options, std::size_t threads);

class CacheKvStore final : public KvStore {
 public:
  CacheKvStore(const KvShape& shape, const KvStoreOptions& options, std::size_t threads);
  explicit CacheKvStore(KVCache cache) : cache_(std::move(cache)) {}  // e.g. one load_cache read
  std::size_t size() const override { return cache_.size(cache_.config().layers - 1); }
  void append(std::size_t layer, std::size_t n_tokens, const float* k, const float* v) override {
    cache_.append(layer, n_tokens, k, v);
  }
  void attend(std::size_t layer, std::size_t n_queries, const float* q, float* out) override {
    cache_.attend(layer, n_queries, q, out);
  }
  void clear() override { cache_.clear(); }
  std::size_t memory_bytes() const override { return cache_.memory_bytes(); }
  std::string description() const override;
  KvBits bits_per_coord() const override;
  KvShape shape() const override;
  std::pair<double, double> seconds() const override;

  // Keeps the first n_tokens (KVCache::truncate: compressed tokens stay compressed).
  void truncate(std::size_t n_tokens) { cache_.truncate(n_tokens); }
  const KVCache& cache() const { return cache_; }  // e.g. for save_cache

 private:
  KVCache cache_;
};

}  // namespace veloxquant
