// The Llama forward pass: token embedding (× √dim for gemma2), per layer RMSNorm → Q/K/V (+
// biases, per-head Q/K RMSNorm where the architecture has them) → RoPE (the architecture's kind)
// → attention through a KvStore → output projection (→ post-norm) → residual, RMSNorm → gated MLP
// (SwiGLU or GeGLU) (→ post-norm) → residual; then output norm, the vocabulary projection and the
// final soft-capping where the architecture has them.
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

// The rope of a model: the angle of frequency i at position p is p · inv_freq[i], inv_freq[i] =
// freq_scale · base^(−2i/rope_dim) / rope_freqs[i] (rope_freqs 1 when absent), for i < rope_dim / 2.
struct Rope {
  RopeKind kind = RopeKind::kAdjacentPairs;
  std::size_t head_dim = 0;
  std::vector<double> inv_freq;
};
// The ropes of the global layers and of the sliding-window ones: the same but where the
// architecture gives local layers their own base (gemma3: base 10000, freq_scale 1, no rope_freqs).
struct ModelRopes {
  Rope global, local;
  const Rope& of_layer(const LlamaConfig& c, std::size_t layer) const { return c.is_local(layer) ? local : global; }
};
ModelRopes make_ropes(const LlamaModel& model);

// Rotates n tokens × heads vectors of head_dim at positions pos0, pos0 + 1, …: the pairs
// (x[2i], x[2i+1]) for kAdjacentPairs, (x[i], x[i + rope_dim/2]) for kNeoxHalves; dimensions past
// rope_dim stay.
void apply_rope(const Rope& rope, float* x, std::size_t n, std::size_t heads, std::size_t pos0);

// What a layer does to n tokens' Q/K/V projections before rope: adds the biases and applies the
// per-head Q/K RMSNorms that it has (both are empty for llama).
void finish_qkv(const LlamaConfig& c, const LlamaLayer& L, std::size_t n, float* q, float* k, float* v);

// gate = act(gate) · up for n values. GELU is ggml's CPU GELU: tanh form, looked up from a table
// of f16 inputs and outputs (GGML_GELU_FP16), 0 below −10 and x above 10.
void gated_activation(Activation act, float* gate, const float* up, std::size_t n);

// x = cap · tanh(x / cap) for n values; nothing when cap is 0.
void soft_cap(float cap, float* x, std::size_t n);

// Throws std::invalid_argument when the store does not attend as the model needs (another
// scale, soft-capping or window; e.g. a store made from the sizes alone for gemma2).
void check_store(const LlamaConfig& c, const KvStore& store);

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
  void product(const WeightView& w, const float* x, std::size_t n, float* y);

  const LlamaModel& model_;
  KvStore& store_;
  ThreadPool& pool_;
  ModelRopes ropes_;
  std::vector<float> x_, h_, q_, k_, v_, att_, gate_, up_;
  Observer observer_;
};

// y = x / sqrt(mean(x²) + eps) · weight, for n rows of dim elements.
void rms_norm(const float* x, const float* weight, std::size_t n, std::size_t dim, double eps, float* y);

}  // namespace veloxquant
