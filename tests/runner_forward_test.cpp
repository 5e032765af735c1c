// The runner's forward pass against a plain scalar reference written here, on tiny random
// models written as GGUF in memory (every weight type, tied and untied output, GQA).
//
// Float weight types multiply float activations: the logits match the double-precision
// reference to 1e-4 of their scale. Block types multiply the activations rounded to int8 blocks
// (weights/activation.h, as llama.cpp does), which moves every product by up to 1/254 of its
// block's largest input: per product a relative noise power of about (amax/rms)²/(12·127²) ≈
// 3e-5, over the 15 products that lead to a logit about 5e-4 of the logits' power (measured
// 2e-4 to 7e-4 on these models). Those are held to a normalized squared error of 2e-3 and top-1
// agreement at 20 of 23 positions; their kernels are checked exactly in weights_kernels_test.cpp.
// (Emulating the int8 rounding in the reference is no tighter test: one rounding that flips in
// an early layer moves later inputs across other rounding points, so the two diverge chaotically.)
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "runner/kv_store.h"
#include "runner/llama_forward.h"
#include "runner/llama_model.h"
#include "runner_gguf_writer.h"
#include "weights/weight_types.h"

namespace veloxquant {
namespace {

using Weights = std::map<std::string, std::vector<float>>;

// Straightforward double-precision Llama forward over the whole sequence; returns [n][vocab].
std::vector<double> reference_logits(const testing::TinyLlama& m, const Weights& w, const std::vector<int>& tokens) {
  const std::size_t n = tokens.size(), D = m.dim, hd = m.dim / m.heads, kvd = m.kv_heads * hd;
  auto matvec = [](const std::vector<float>& W, std::size_t rows, std::size_t cols, const std::vector<double>& x) {
    std::vector<double> y(rows, 0.0);
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t c = 0; c < cols; ++c) y[r] += double{W[r * cols + c]} * x[c];
    return y;
  };
  auto norm = [&](const std::vector<double>& x, const std::vector<float>& g) {
    double ss = 0;
    for (double v : x) ss += v * v;
    const double inv = 1.0 / std::sqrt(ss / static_cast<double>(x.size()) + m.eps);
    std::vector<double> y(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) y[i] = x[i] * inv * g[i];
    return y;
  };
  auto rope = [&](std::vector<double>& v, std::size_t pos) {  // adjacent pairs in each head
    for (std::size_t h = 0; h < v.size() / hd; ++h)
      for (std::size_t i = 0; i < hd / 2; ++i) {
        const double theta = static_cast<double>(pos) * std::pow(double{m.rope_base}, -2.0 * i / hd);
        double& a = v[h * hd + 2 * i];
        double& b = v[h * hd + 2 * i + 1];
        const double a0 = a, b0 = b;
        a = a0 * std::cos(theta) - b0 * std::sin(theta);
        b = a0 * std::sin(theta) + b0 * std::cos(theta);
      }
  };
  std::vector<std::vector<double>> x(n, std::vector<double>(D));
  for (std::size_t t = 0; t < n; ++t)
    for (std::size_t i = 0; i < D; ++i) x[t][i] = w.at("token_embd.weight")[tokens[t] * D + i];
  for (std::size_t l = 0; l < m.layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    std::vector<std::vector<double>> q(n), k(n), v(n);
    for (std::size_t t = 0; t < n; ++t) {
      const auto h = norm(x[t], w.at(p + "attn_norm.weight"));
      q[t] = matvec(w.at(p + "attn_q.weight"), D, D, h);
      k[t] = matvec(w.at(p + "attn_k.weight"), kvd, D, h);
      v[t] = matvec(w.at(p + "attn_v.weight"), kvd, D, h);
      rope(q[t], t);
      rope(k[t], t);
    }
    for (std::size_t t = 0; t < n; ++t) {
      std::vector<double> att(D, 0.0);
      for (std::size_t h = 0; h < m.heads; ++h) {
        const std::size_t g = h / (m.heads / m.kv_heads);
        std::vector<double> s(t + 1);
        double mx = -1e300, sum = 0;
        for (std::size_t j = 0; j <= t; ++j) {
          s[j] = 0;
          for (std::size_t i = 0; i < hd; ++i) s[j] += q[t][h * hd + i] * k[j][g * hd + i];
          s[j] /= std::sqrt(static_cast<double>(hd));
          mx = std::max(mx, s[j]);
        }
        for (double& e : s) sum += (e = std::exp(e - mx));
        for (std::size_t j = 0; j <= t; ++j)
          for (std::size_t i = 0; i < hd; ++i) att[h * hd + i] += s[j] / sum * v[j][g * hd + i];
      }
      const auto o = matvec(w.at(p + "attn_output.weight"), D, D, att);
      for (std::size_t i = 0; i < D; ++i) x[t][i] += o[i];
      const auto h2 = norm(x[t], w.at(p + "ffn_norm.weight"));
      auto gate = matvec(w.at(p + "ffn_gate.weight"), m.ffn, D, h2);
      const auto up = matvec(w.at(p + "ffn_up.weight"), m.ffn, D, h2);
      for (std::size_t i = 0; i < m.ffn; ++i) gate[i] = gate[i] / (1 + std::exp(-gate[i])) * up[i];
      const auto down = matvec(w.at(p + "ffn_down.weight"), D, m.ffn, gate);
      for (std::size_t i = 0; i < D; ++i) x[t][i] += down[i];
    }
  }
  const auto& out = w.count("output.weight") ? w.at("output.weight") : w.at("token_embd.weight");
  std::vector<double> logits;
  for (std::size_t t = 0; t < n; ++t) {
    const auto y = matvec(out, m.vocab, D, norm(x[t], w.at("output_norm.weight")));
    logits.insert(logits.end(), y.begin(), y.end());
  }
  return logits;
}

struct Case {
  std::uint32_t type;
  bool tied;
  std::size_t threads;
};

class RunnerForward : public ::testing::TestWithParam<Case> {};

TEST_P(RunnerForward, MatchesScalarReferenceBatchedAndIncremental) {
  const Case c = GetParam();
  testing::TinyLlama m;
  m.type = c.type;
  m.tied = c.tied;
  const bool int8_activations = find_weight_type(c.type)->activation != ActivationForm::kFloat;
  if (find_weight_type(c.type)->block_elements == 256) {  // rows of whole super-blocks
    m.dim = 256;
    m.ffn = 512;
  }
  std::vector<std::pair<std::string, std::vector<float>>> list;
  const auto bytes = testing::write_tiny_llama(m, 42 + c.type, list);
  const Weights w(list.begin(), list.end());
  const LlamaModel model = LlamaModel::from_gguf(GgufFile::from_bytes(bytes));
  ASSERT_EQ(model.config().vocab, m.vocab);
  ASSERT_EQ(model.config().head_dim, m.dim / m.heads);

  std::vector<int> tokens;
  for (int i = 0; i < 23; ++i) tokens.push_back((i * 37 + 5) % static_cast<int>(m.vocab));
  const std::vector<double> ref = reference_logits(m, w, tokens);

  ThreadPool pool(c.threads);
  const LlamaConfig& cfg = model.config();
  const std::vector<std::int32_t> ids(tokens.begin(), tokens.end());

  // Whole sequence in one batch.
  ExactKvStore store({cfg.layers, cfg.heads, cfg.kv_heads, cfg.head_dim}, pool);
  LlamaSession session(model, store, pool);
  std::vector<float> logits(ids.size() * m.vocab);
  session.forward(ids.data(), ids.size(), logits.data(), true);
  double worst = 0, scale = 0;
  for (std::size_t i = 0; i < logits.size(); ++i) {
    worst = std::max(worst, std::abs(logits[i] - ref[i]));
    scale = std::max(scale, std::abs(ref[i]));
  }

  // A prefix batch, then one token at a time (the decode path) must agree too.
  ExactKvStore store2({cfg.layers, cfg.heads, cfg.kv_heads, cfg.head_dim}, pool);
  LlamaSession session2(model, store2, pool);
  std::vector<float> decoded(ids.size() * m.vocab), last(m.vocab);
  session2.forward(ids.data(), 7, last.data(), false);
  std::copy(last.begin(), last.end(), decoded.begin() + 6 * m.vocab);
  for (std::size_t t = 7; t < ids.size(); ++t) {
    session2.forward(ids.data() + t, 1, last.data(), false);
    std::copy(last.begin(), last.end(), decoded.begin() + t * m.vocab);
  }

  if (int8_activations) {
    // Normalized squared error and top-1 agreement over the positions each path computed.
    auto check = [&](const std::vector<float>& got, std::size_t first, const char* what) {
      double err = 0, power = 0;
      std::size_t agree = 0;
      for (std::size_t t = first; t < ids.size(); ++t) {
        std::size_t a = 0, b = 0;
        for (std::size_t v = 0; v < m.vocab; ++v) {
          const double g = got[t * m.vocab + v], r = ref[t * m.vocab + v];
          err += (g - r) * (g - r);
          power += r * r;
          if (g > got[t * m.vocab + a]) a = v;
          if (r > ref[t * m.vocab + b]) b = v;
        }
        agree += a == b;
      }
      EXPECT_LE(err / power, 2e-3) << what;
      EXPECT_GE(agree * 23, 20 * (ids.size() - first)) << what << ": top-1 agrees at " << agree << " positions";
    };
    check(logits, 0, "batched");
    check(decoded, 6, "prefix, then one token at a time");
  } else {
    EXPECT_LE(worst, 1e-4 * std::max(1.0, scale)) << "batched, scale " << scale;
    for (std::size_t t = 6; t < ids.size(); ++t)
      for (std::size_t v = 0; v < m.vocab; ++v)
        ASSERT_NEAR(decoded[t * m.vocab + v], ref[t * m.vocab + v], 1e-4 * std::max(1.0, scale)) << "token " << t;
  }
  EXPECT_EQ(store2.size(), ids.size());
  EXPECT_EQ(store2.memory_bytes(), 2 * cfg.layers * ids.size() * cfg.kv_heads * cfg.head_dim * sizeof(float));
}

INSTANTIATE_TEST_SUITE_P(Types, RunnerForward,
                         ::testing::Values(Case{0, false, 1}, Case{0, true, 3}, Case{1, false, 2}, Case{30, false, 1},
                                           Case{8, true, 2}, Case{8, false, 1}, Case{2, false, 1}, Case{3, true, 2},
                                           Case{6, false, 1}, Case{7, false, 2}, Case{10, false, 1}, Case{11, true, 1},
                                           Case{12, false, 2}, Case{12, true, 1}, Case{13, false, 1}, Case{14, true, 2},
                                           Case{20, false, 1}, Case{23, false, 2}),
                         [](const auto& info) {
                           return std::string("type") + std::to_string(info.param.type) +
                                  (info.param.tied ? "_tied" : "_untied") + "_threads" +
                                  std::to_string(info.param.threads);
                         });

TEST(RunnerForward, RejectsTokenOutsideVocabulary) {
  testing::TinyLlama m;
  std::vector<std::pair<std::string, std::vector<float>>> list;
  const LlamaModel model = LlamaModel::from_gguf(GgufFile::from_bytes(testing::write_tiny_llama(m, 1, list)));
  ThreadPool pool(1);
  const LlamaConfig& c = model.config();
  ExactKvStore store({c.layers, c.heads, c.kv_heads, c.head_dim}, pool);
  LlamaSession session(model, store, pool);
  const std::int32_t bad[] = {3, static_cast<std::int32_t>(m.vocab)};
  std::vector<float> logits(m.vocab);
  EXPECT_THROW(session.forward(bad, 2, logits.data(), false), std::invalid_argument);
  EXPECT_EQ(store.size(), 0u);
}

}  // namespace
}  // namespace veloxquant
