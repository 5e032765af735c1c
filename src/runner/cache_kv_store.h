// The runner's attention on the compressed veloxquant::KVCache (formats from the format table).
#pragma once

#include <cstddef>
#include <string>
#include <utility>

#include "runner/kv_store.h"
#include "veloxquant/kv_cache.h"

namespace veloxquant {

// The KVCache configuration CacheKvStore makes for a model shape (its scale, soft-capping and
// sliding-window layers included) and the commands' options.
CacheConfig cache_config(const KvShape& shape, const KvStoreOptions& options, std::size_t threads);

// "veloxquant KVCache K tq4 V tq3, layers 0,27 K q8 V q8, window 128, sinks 4".
std::string cache_description(const CacheConfig& c);

class CacheKvStore final : public KvStore {
 public:
  CacheKvStore(const KvShape& shape, const KvStoreOptions& options, std::size_t threads);
  explicit CacheKvStore(KVCache cache) : cache_(std::move(cache)) {}  // e.g. one load_cache read
  // Tokens appended, not held: a sliding-window layer evicts what its queries no longer see.
  std::size_t size() const override { return cache_.appended(cache_.config().layers - 1); }
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

  // Keeps the first n_tokens (KVCache::truncate: compressed tokens stay compressed; refused once a
  // sliding-window layer has evicted tokens).
  void truncate(std::size_t n_tokens) { cache_.truncate(n_tokens); }
  bool can_truncate(std::size_t n_tokens) const { return cache_.can_truncate(n_tokens); }
  const KVCache& cache() const { return cache_; }  // e.g. for save_cache

 private:
  KVCache cache_;
};

}  // namespace veloxquant
