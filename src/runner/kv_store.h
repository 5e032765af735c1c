// Where the runner keeps keys and values and computes attention. Two implementations: the
// plain exact f32 attention (the reference every cache format is compared with) and the
// compressed veloxquant::KVCache.
// Layouts: k, v [tokens][kv_heads][head_dim]; q, out [queries][heads][head_dim].
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "util/thread_pool.h"

namespace veloxquant {

struct KvBits {
  double key = 0.0, value = 0.0;  // stored bits per coordinate, scales included
};

// The attention a store computes. Beyond the sizes, gemma2's: a softmax scale other than
// 1/√head_dim, scores soft-capped (s → softcap·tanh(s/softcap), as llama.cpp does before the
// softmax) and sliding-window layers (windows[l] > 0: a query sees its last windows[l] tokens).
struct KvShape {
  std::size_t layers = 0, heads = 0, kv_heads = 0, head_dim = 0;
  float scale = 0.0f;                     // 0: 1/√head_dim
  float softcap = 0.0f;                   // 0: none
  std::vector<std::size_t> windows = {};  // per layer; empty or 0: every token
  bool operator==(const KvShape&) const = default;
};

class KvStore {
 public:
  virtual ~KvStore() = default;
  // Tokens appended to every layer (the next position); a compressed cache's sliding-window layers
  // hold fewer.
  virtual std::size_t size() const = 0;
  virtual void append(std::size_t layer, std::size_t n_tokens, const float* k, const float* v) = 0;
  // Causal attention of the newest n_queries tokens of `layer` (softmax scale 1/√head_dim).
  virtual void attend(std::size_t layer, std::size_t n_queries, const float* q, float* out) = 0;
  virtual void clear() = 0;
  virtual std::size_t memory_bytes() const = 0;
  virtual std::string description() const = 0;
  virtual KvBits bits_per_coord() const = 0;  // measured on the tokens held
  virtual KvShape shape() const = 0;          // what it was made for (the forward passes check it)
  // Time spent inside the store since it was made, in seconds: appending (encoding) and
  // attending; {0, 0} where the store does not measure it.
  virtual std::pair<double, double> seconds() const { return {0.0, 0.0}; }
};

// Exact attention on f32 keys and values (score, softmax with max subtraction, weighted sum); the
// soft-capping and the windows of the shape are a mask and a tanh here (all tokens stay stored).
class ExactKvStore final : public KvStore {
 public:
  ExactKvStore(const KvShape& shape, ThreadPool& pool);
  std::size_t size() const override { return sizes_.empty() ? 0 : sizes_.back(); }
  void append(std::size_t layer, std::size_t n_tokens, const float* k, const float* v) override;
  void attend(std::size_t layer, std::size_t n_queries, const float* q, float* out) override;
  void clear() override;
  std::size_t memory_bytes() const override;
  std::string description() const override { return "exact f32 attention"; }
  KvBits bits_per_coord() const override { return {32.0, 32.0}; }
  KvShape shape() const override { return shape_; }

 private:
  KvShape shape_;
  ThreadPool& pool_;
  std::vector<std::vector<float>> k_, v_;  // per layer, [tokens][kv_heads][head_dim]
  std::vector<std::size_t> sizes_;         // tokens per layer
};

// What the commands ask for: "exact" selects ExactKvStore; any other name is a cache format.
struct KvStoreOptions {
  std::string key_format = "exact";
  std::string value_format = "exact";
  std::size_t window = 128;  // exact recent tokens of the compressed cache
  std::size_t sinks = 4;     // exact first tokens of the compressed cache
  std::uint64_t seed = 0;
  // Per-layer formats of the compressed cache, "LIST=FORMAT[;LIST=FORMAT…]" (see layer_formats),
  // e.g. "0,1,-1,-2=q8": the first and last two layers' keys at q8. Empty: none.
  std::string key_layers, value_layers;
};

// The per-layer format names of a spec "LIST=FORMAT[;LIST=FORMAT…]" for `layers` layers: entry l
// is layer l's format, "" where the spec names none (the default format); empty for an empty spec.
// LIST is comma-separated layer indices, negative ones counted from the end (-1: the last); a
// later group overrides an earlier one. Throws std::invalid_argument naming `option` and the bad
// part (an index out of range, a missing '=', an unknown format).
std::vector<std::string> layer_formats(const std::string& spec, std::size_t layers, const std::string& option);

// Throws std::invalid_argument naming a bad format.
std::unique_ptr<KvStore> make_kv_store(const KvStoreOptions& options, const KvShape& shape, ThreadPool& pool);

}  // namespace veloxquant
