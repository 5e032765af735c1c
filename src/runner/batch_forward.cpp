#include "runner/batch_forward.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <stdexcept>
#include <string>

#include "runner/llama_forward.h"
#include "runner/matmul.h"

namespace veloxquant {

BatchForward::BatchForward(const LlamaModel& model, ThreadPool& pool)
    : model_(model), pool_(pool), ropes_(make_ropes(model)) {}

void BatchForward::run(const std::vector<SequenceStep>& steps) {
  if (steps.empty()) return;
  const LlamaConfig& c = model_.config();
  std::size_t rows = 0, with_logits = 0;
  std::set<const KvStore*> stores;
  for (std::size_t s = 0; s < steps.size(); ++s) {
    const SequenceStep& step = steps[s];
    if (!step.store || step.n == 0 || !step.tokens)
      throw std::invalid_argument("BatchForward: step " + std::to_string(s) + " has no store or no tokens");
    if (!stores.insert(step.store).second)
      throw std::invalid_argument("BatchForward: step " + std::to_string(s) + " uses a store of an earlier step");
    for (std::size_t t = 0; t < step.n; ++t)
      if (step.tokens[t] < 0 || static_cast<std::size_t>(step.tokens[t]) >= c.vocab)
        throw std::invalid_argument("token id " + std::to_string(step.tokens[t]) + " is outside the vocabulary of " +
                                    std::to_string(c.vocab));
    check_store(c, *step.store);
    rows += step.n;
    if (step.logits) ++with_logits;
  }
  const std::size_t dim = c.dim, q_dim = c.q_dim(), kv_dim = c.kv_heads * c.head_dim;
  x_.resize(rows * dim);
  h_.resize(rows * dim);
  q_.resize(rows * q_dim);
  k_.resize(rows * kv_dim);
  v_.resize(rows * kv_dim);
  att_.resize(rows * q_dim);
  gate_.resize(rows * c.ffn);
  up_.resize(rows * c.ffn);

  std::vector<std::size_t> first_row(steps.size()), pos0(steps.size());
  for (std::size_t s = 0, r = 0; s < steps.size(); r += steps[s].n, ++s) {
    first_row[s] = r;
    pos0[s] = steps[s].store->size();
    for (std::size_t t = 0; t < steps[s].n; ++t)
      dequantize_row(model_.token_embedding(), static_cast<std::size_t>(steps[s].tokens[t]), x_.data() + (r + t) * dim);
  }
  if (c.embedding_scale != 1.0f)
    for (float& v : x_) v *= c.embedding_scale;

  for (std::size_t l = 0; l < c.layers; ++l) {
    const LlamaLayer& L = model_.layers()[l];
    rms_norm(x_.data(), L.attn_norm.data(), rows, dim, c.rms_eps, h_.data());
    matmul(L.wq, h_.data(), rows, q_.data(), pool_);
    matmul(L.wk, h_.data(), rows, k_.data(), pool_);
    matmul(L.wv, h_.data(), rows, v_.data(), pool_);
    finish_qkv(c, L, rows, q_.data(), k_.data(), v_.data());
    for (std::size_t s = 0; s < steps.size(); ++s) {  // attention: each sequence on its own store
      const std::size_t r = first_row[s], n = steps[s].n;
      apply_rope(ropes_.of_layer(c, l), q_.data() + r * q_dim, n, c.heads, pos0[s]);
      apply_rope(ropes_.of_layer(c, l), k_.data() + r * kv_dim, n, c.kv_heads, pos0[s]);
      steps[s].store->append(l, n, k_.data() + r * kv_dim, v_.data() + r * kv_dim);
      steps[s].store->attend(l, n, q_.data() + r * q_dim, att_.data() + r * q_dim);
    }
    matmul(L.wo, att_.data(), rows, h_.data(), pool_);
    if (!L.post_attn_norm.empty()) rms_norm(h_.data(), L.post_attn_norm.data(), rows, dim, c.rms_eps, h_.data());
    for (std::size_t i = 0; i < rows * dim; ++i) x_[i] += h_[i];

    rms_norm(x_.data(), L.ffn_norm.data(), rows, dim, c.rms_eps, h_.data());
    matmul(L.w_gate, h_.data(), rows, gate_.data(), pool_);
    matmul(L.w_up, h_.data(), rows, up_.data(), pool_);
    gated_activation(c.arch->activation, gate_.data(), up_.data(), rows * c.ffn);
    matmul(L.w_down, gate_.data(), rows, h_.data(), pool_);
    if (!L.post_ffn_norm.empty()) rms_norm(h_.data(), L.post_ffn_norm.data(), rows, dim, c.rms_eps, h_.data());
    for (std::size_t i = 0; i < rows * dim; ++i) x_[i] += h_[i];
  }

  if (with_logits == 0) return;
  // Only the last token of each step that wants logits goes through the vocabulary projection.
  last_.resize(with_logits * dim);
  logits_.resize(with_logits * c.vocab);
  std::size_t m = 0;
  for (std::size_t s = 0; s < steps.size(); ++s)
    if (steps[s].logits) {
      const std::size_t r = first_row[s] + steps[s].n - 1;
      std::copy_n(x_.data() + r * dim, dim, last_.data() + m++ * dim);
    }
  rms_norm(last_.data(), model_.output_norm().data(), with_logits, dim, c.rms_eps, h_.data());
  matmul(model_.output(), h_.data(), with_logits, logits_.data(), pool_);
  soft_cap(c.final_softcap, logits_.data(), with_logits * c.vocab);
  m = 0;
  for (const SequenceStep& step : steps)
    if (step.logits) std::copy_n(logits_.data() + m++ * c.vocab, c.vocab, step.logits);
}

}  // namespace veloxquant
