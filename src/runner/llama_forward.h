// The Llama forward pass: token embedding, per layer RMSNorm → Q/K/V → RoPE (adjacent pairs,
// llama.cpp's normal mode for `llama`) → attention through a KvStore → output projection →
// residual, RMSNorm → SwiGLU MLP → residual; then output norm and the vocabulary projection.
// Several tokens go through together (batched prefill): every matmul sees all of them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "runner/kv_store.h"
#include "runner/llama_model.h"
#include "util/thread_pool.h"

namespace veloxquant {

class LlamaSession {
 public:
  LlamaSession(const LlamaModel& model, KvStore& store, ThreadPool& pool);

  // Runs n tokens at positions store.size() .. store.size() + n − 1 and appends their keys and
  // values to the store. Writes logits [n][vocab] when all_logits, else only the last token's
  // [vocab]. Throws std::invalid_argument on a token id outside the vocabulary.
  void forward(const std::int32_t* tokens, std::size_t n, float* logits, bool all_logits);

  std::size_t position() const { return store_.size(); }

  // Called with every matrix and its input [n][w.cols] before the product (calibration).
  using Observer = std::function<void(const WeightView& w, const float* x, std::size_t n)>;
  void set_observer(Observer observer) { observer_ = std::move(observer); }

 private:
  void rope(float* x, std::size_t n, std::size_t heads, std::size_t pos0) const;
  void product(const WeightView& w, const float* x, std::size_t n, float* y);

  const LlamaModel& model_;
  KvStore& store_;
  ThreadPool& pool_;
  std::vector<double> inv_freq_;  // base^(−2i/rope_dim)
  std::vector<float> x_, h_, q_, k_, v_, att_, gate_, up_;
  Observer observer_;
};

// y = x / sqrt(mean(x²) + eps) · weight, for n rows of dim elements.
void rms_norm(const float* x, const float* weight, std::size_t n, std::size_t dim, double eps, float* y);

// RoPE of the model: base^(−2i/rope_dim) for i < rope_dim / 2, and the rotation of the adjacent
// pairs (x[2i], x[2i+1]) of n tokens × heads vectors of head_dim at positions pos0, pos0 + 1, …
std::vector<double> rope_frequencies(const LlamaConfig& c);
void apply_rope(const std::vector<double>& inv_freq, float* x, std::size_t n, std::size_t heads, std::size_t head_dim,
                std::size_t pos0);

}  // namespace veloxquant
