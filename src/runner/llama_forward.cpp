#include "runner/llama_forward.h"

#include "util/half.h"

#include <cmath>
#include <stdexcept>
#include <string>

namespace veloxquant {

void rms_norm(const float* x, const float* weight, std::size_t n, std::size_t dim, double eps, float* y) {
  for (std::size_t t = 0; t < n; ++t) {
    const float* xt = x + t * dim;
    float* yt = y + t * dim;
    double ss = 0.0;
    for (std::size_t i = 0; i < dim; ++i) ss += static_cast<double>(xt[i]) * xt[i];
    const float inv = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(dim) + eps));
    for (std::size_t i = 0; i < dim; ++i) yt[i] = xt[i] * inv * weight[i];
  }
}

namespace {

Rope make_rope(const LlamaConfig& c, double base, double freq_scale, const std::vector<float>& divisors) {
  Rope r{c.arch->rope, c.head_dim, {}};
  for (std::size_t i = 0; i < c.rope_dim / 2; ++i) {
    double f = std::pow(base, -2.0 * static_cast<double>(i) / static_cast<double>(c.rope_dim));
    if (freq_scale != 1.0) f *= freq_scale;
    if (!divisors.empty()) f /= divisors[i];
    r.inv_freq.push_back(f);
  }
  return r;
}

}  // namespace

ModelRopes make_ropes(const LlamaModel& model) {
  const LlamaConfig& c = model.config();
  Rope global = make_rope(c, c.rope_base, c.rope_freq_scale, model.rope_freqs());
  Rope local = c.local_rope_base > 0.0 ? make_rope(c, c.local_rope_base, 1.0, {}) : global;
  return {std::move(global), std::move(local)};
}

void apply_rope(const Rope& rope, float* x, std::size_t n, std::size_t heads, std::size_t pos0) {
  // The second element of pair i: right after the first, or half the rotated dimensions later.
  const std::size_t half = rope.inv_freq.size();
  for (std::size_t t = 0; t < n; ++t) {
    const double pos = static_cast<double>(pos0 + t);
    for (std::size_t i = 0; i < half; ++i) {
      const double angle = pos * rope.inv_freq[i];
      const float c = static_cast<float>(std::cos(angle)), s = static_cast<float>(std::sin(angle));
      const std::size_t first = rope.kind == RopeKind::kAdjacentPairs ? 2 * i : i;
      const std::size_t second = rope.kind == RopeKind::kAdjacentPairs ? 2 * i + 1 : i + half;
      for (std::size_t h = 0; h < heads; ++h) {
        float* p = x + (t * heads + h) * rope.head_dim;
        const float a = p[first], b = p[second];
        p[first] = a * c - b * s;
        p[second] = a * s + b * c;
      }
    }
  }
}

namespace {

float gelu_f16_table(float x) {
  // ggml_gelu_f32 on the f16 input, stored as f16 (ggml_table_gelu_f16).
  const float h = half_to_float(float_to_half(x));
  const float y = 0.5f * h * (1.0f + std::tanh(0.79788456080286535587989211986876f * h * (1.0f + 0.044715f * h * h)));
  return half_to_float(float_to_half(y));
}

void add_bias(const std::vector<float>& bias, std::size_t n, float* y) {
  for (std::size_t t = 0; t < n; ++t)
    for (std::size_t i = 0; i < bias.size(); ++i) y[t * bias.size() + i] += bias[i];
}

}  // namespace

void finish_qkv(const LlamaConfig& c, const LlamaLayer& L, std::size_t n, float* q, float* k, float* v) {
  if (!L.bq.empty()) {
    add_bias(L.bq, n, q);
    add_bias(L.bk, n, k);
    add_bias(L.bv, n, v);
  }
  // Every head is a row of head_dim for the norm; rms_norm reads a row before writing it.
  if (!L.q_norm.empty()) rms_norm(q, L.q_norm.data(), n * c.heads, c.head_dim, c.rms_eps, q);
  if (!L.k_norm.empty()) rms_norm(k, L.k_norm.data(), n * c.kv_heads, c.head_dim, c.rms_eps, k);
}

void gated_activation(Activation act, float* gate, const float* up, std::size_t n) {
  if (act == Activation::kSilu) {
    for (std::size_t i = 0; i < n; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
    return;
  }
  for (std::size_t i = 0; i < n; ++i) {
    const float g = gate[i];
    gate[i] = (g <= -10.0f ? 0.0f : g >= 10.0f ? g : gelu_f16_table(g)) * up[i];
  }
}

void soft_cap(float cap, float* x, std::size_t n) {
  if (cap == 0.0f) return;
  const float inv = 1.0f / cap;
  for (std::size_t i = 0; i < n; ++i) x[i] = cap * std::tanh(x[i] * inv);
}

void check_store(const LlamaConfig& c, const KvStore& store) {
  const KvShape want = c.kv_shape(), have = store.shape();
  if (have.scale != want.scale || have.softcap != want.softcap || have.windows != want.windows)
    throw std::invalid_argument(
        "the KV store was made for another attention than this model's (scale, soft-capping "
        "or sliding windows); make it from LlamaConfig::kv_shape()");
}

LlamaSession::LlamaSession(const LlamaModel& model, KvStore& store, ThreadPool& pool)
    : model_(model), store_(store), pool_(pool), ropes_(make_ropes(model)) {
  check_store(model.config(), store);
}

void LlamaSession::forward(const std::int32_t* tokens, std::size_t n, float* logits, bool all_logits) {
  if (n == 0) return;
  const LlamaConfig& c = model_.config();
  for (std::size_t t = 0; t < n; ++t)
    if (tokens[t] < 0 || static_cast<std::size_t>(tokens[t]) >= c.vocab)
      throw std::invalid_argument("token id " + std::to_string(tokens[t]) + " is outside the vocabulary of " +
                                  std::to_string(c.vocab));
  const std::size_t dim = c.dim, q_dim = c.q_dim(), kv_dim = c.kv_heads * c.head_dim;
  x_.resize(n * dim);
  h_.resize(n * dim);
  q_.resize(n * q_dim);
  k_.resize(n * kv_dim);
  v_.resize(n * kv_dim);
  att_.resize(n * q_dim);
  gate_.resize(n * c.ffn);
  up_.resize(n * c.ffn);
  const std::size_t pos0 = store_.size();

  for (std::size_t t = 0; t < n; ++t) dequantize_row(model_.token_embedding(), tokens[t], x_.data() + t * dim);
  if (c.embedding_scale != 1.0f)
    for (float& v : x_) v *= c.embedding_scale;

  for (std::size_t l = 0; l < c.layers; ++l) {
    const LlamaLayer& L = model_.layers()[l];
    rms_norm(x_.data(), L.attn_norm.data(), n, dim, c.rms_eps, h_.data());
    product(L.wq, h_.data(), n, q_.data());
    product(L.wk, h_.data(), n, k_.data());
    product(L.wv, h_.data(), n, v_.data());
    finish_qkv(c, L, n, q_.data(), k_.data(), v_.data());
    apply_rope(ropes_.of_layer(c, l), q_.data(), n, c.heads, pos0);
    apply_rope(ropes_.of_layer(c, l), k_.data(), n, c.kv_heads, pos0);
    store_.append(l, n, k_.data(), v_.data());
    store_.attend(l, n, q_.data(), att_.data());
    product(L.wo, att_.data(), n, h_.data());
    if (!L.post_attn_norm.empty()) rms_norm(h_.data(), L.post_attn_norm.data(), n, dim, c.rms_eps, h_.data());
    for (std::size_t i = 0; i < n * dim; ++i) x_[i] += h_[i];

    rms_norm(x_.data(), L.ffn_norm.data(), n, dim, c.rms_eps, h_.data());
    product(L.w_gate, h_.data(), n, gate_.data());
    product(L.w_up, h_.data(), n, up_.data());
    gated_activation(c.arch->activation, gate_.data(), up_.data(), n * c.ffn);
    product(L.w_down, gate_.data(), n, h_.data());
    if (!L.post_ffn_norm.empty()) rms_norm(h_.data(), L.post_ffn_norm.data(), n, dim, c.rms_eps, h_.data());
    for (std::size_t i = 0; i < n * dim; ++i) x_[i] += h_[i];
  }

  const std::size_t first = all_logits ? 0 : n - 1;
  const std::size_t rows = n - first;
  rms_norm(x_.data() + first * dim, model_.output_norm().data(), rows, dim, c.rms_eps, h_.data());
  product(model_.output(), h_.data(), rows, logits);
  soft_cap(c.final_softcap, logits, rows * c.vocab);
}

void LlamaSession::product(const WeightView& w, const float* x, std::size_t n, float* y) {
  if (observer_) observer_(w, x, n);
  matmul(w, x, n, y, pool_.for_work(w.rows * w.cols * n));
}

}  // namespace veloxquant
