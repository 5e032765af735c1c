// BatchForward (several sequences per step) against LlamaSession (one sequence), and the property
// the server's reproducibility rests on: a token's logits depend only on the tokens before it, not
// on how they were grouped into calls, batched with other sequences, or truncated and re-appended.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "math/prng.h"
#include "runner/batch_forward.h"
#include "runner/cache_kv_store.h"
#include "runner/kv_store.h"
#include "runner/llama_forward.h"
#include "runner/llama_model.h"
#include "runner/matmul.h"
#include "runner_gguf_writer.h"

namespace veloxquant {
namespace {

LlamaModel tiny_model(std::uint32_t type = 0) {
  testing::TinyLlama m;
  m.vocab = 96;
  m.dim = 64;  // head_dim 16
  m.ffn = 96;
  m.type = type;
  std::vector<std::pair<std::string, std::vector<float>>> weights;
  return LlamaModel::from_gguf(GgufFile::from_bytes(testing::write_tiny_llama(m, 11 + type, weights)));
}

std::vector<std::int32_t> token_ids(std::size_t n, std::size_t vocab, std::uint64_t seed) {
  SplitMix64 rng(seed);
  std::vector<std::int32_t> ids(n);
  for (auto& t : ids) t = static_cast<std::int32_t>(rng.next() % vocab);
  return ids;
}

std::unique_ptr<KvStore> make_store(const LlamaModel& model, const std::string& format, ThreadPool& pool,
                                    std::size_t window = 0, std::size_t sinks = 4) {
  const LlamaConfig& c = model.config();
  KvStoreOptions o;
  o.key_format = o.value_format = format;
  o.window = window;
  o.sinks = sinks;
  o.seed = 5;
  return make_kv_store(o, {c.layers, c.heads, c.kv_heads, c.head_dim}, pool);
}

// Logits after every token, fed one at a time through LlamaSession: [n][vocab].
std::vector<float> stepwise_logits(const LlamaModel& model, KvStore& store, ThreadPool& pool,
                                   const std::vector<std::int32_t>& ids) {
  const std::size_t vocab = model.config().vocab;
  LlamaSession session(model, store, pool);
  std::vector<float> out(ids.size() * vocab);
  for (std::size_t t = 0; t < ids.size(); ++t) session.forward(&ids[t], 1, out.data() + t * vocab, false);
  return out;
}

bool same_bits(const float* a, const float* b, std::size_t n) { return std::memcmp(a, b, n * sizeof(float)) == 0; }

// The product of a row must not depend on the other rows of the call, for every weight type.
TEST(BatchForward, MatmulRowDoesNotDependOnTheBatch) {
  for (std::uint32_t type : {0u, 1u, 8u, 30u}) {
    LlamaModel model = tiny_model(type);
    for (const std::string scheme : {"", "tq4", "q4"}) {
      if (!scheme.empty()) {
        model = tiny_model(type);
        model.quantize_weights(scheme, 3);
      }
      const WeightView& w = model.layers()[0].w_gate;  // 96 × 64
      SplitMix64 rng(type + 17);
      std::vector<float> x(9 * w.cols);
      for (float& v : x) v = static_cast<float>(rng.normal());
      for (std::size_t threads : {1, 3}) {
        ThreadPool pool(threads);
        std::vector<float> alone(9 * w.rows), batch(9 * w.rows);
        for (std::size_t t = 0; t < 9; ++t) matmul(w, x.data() + t * w.cols, 1, alone.data() + t * w.rows, pool);
        for (std::size_t n = 2; n <= 9; ++n) {
          matmul(w, x.data(), n, batch.data(), pool);
          for (std::size_t t = 0; t < n; ++t)
            ASSERT_TRUE(same_bits(batch.data() + t * w.rows, alone.data() + t * w.rows, w.rows))
                << "type " << type << " weights '" << scheme << "' token " << t << " of " << n << ", threads "
                << threads;
        }
      }
    }
  }
}

// Three sequences of different lengths: prompts together in one step, then decode steps together;
// each sequence's logits equal LlamaSession's on its own store, bit for bit.
TEST(BatchForward, EqualsOneSequenceAtATime) {
  const LlamaModel model = tiny_model();
  const std::size_t vocab = model.config().vocab;
  ThreadPool pool(2);
  for (const std::string format : {"exact", "f32", "f16", "tq3", "q4"}) {
    const std::vector<std::vector<std::int32_t>> seqs = {token_ids(9, vocab, 1), token_ids(1, vocab, 2),
                                                         token_ids(30, vocab, 3)};
    const std::size_t decode_steps = 6;
    std::vector<std::unique_ptr<KvStore>> stores, alone_stores;
    std::vector<std::vector<float>> logits(3, std::vector<float>(vocab)), alone(3, std::vector<float>(vocab));
    std::vector<std::unique_ptr<LlamaSession>> sessions;
    for (std::size_t s = 0; s < 3; ++s) {
      stores.push_back(make_store(model, format, pool));
      alone_stores.push_back(make_store(model, format, pool));
      sessions.push_back(std::make_unique<LlamaSession>(model, *alone_stores[s], pool));
    }
    BatchForward batch(model, pool);
    std::vector<SequenceStep> steps;
    for (std::size_t s = 0; s < 3; ++s)
      steps.push_back({stores[s].get(), seqs[s].data(), seqs[s].size(), logits[s].data()});
    batch.run(steps);
    for (std::size_t s = 0; s < 3; ++s) sessions[s]->forward(seqs[s].data(), seqs[s].size(), alone[s].data(), false);
    for (std::size_t step = 0; step <= decode_steps; ++step) {
      for (std::size_t s = 0; s < 3; ++s)
        ASSERT_TRUE(same_bits(logits[s].data(), alone[s].data(), vocab))
            << format << " sequence " << s << " step " << step;
      if (step == decode_steps) break;
      std::vector<std::int32_t> next(3);
      steps.clear();
      for (std::size_t s = 0; s < 3; ++s) {
        next[s] = static_cast<std::int32_t>((step * 7 + s * 13) % vocab);
        if (s == 1 && step % 2 == 1) continue;  // sequences come and go between steps
        steps.push_back({stores[s].get(), &next[s], 1, logits[s].data()});
        sessions[s]->forward(&next[s], 1, alone[s].data(), false);
      }
      batch.run(steps);
    }
    for (std::size_t s = 0; s < 3; ++s) EXPECT_EQ(stores[s]->size(), alone_stores[s]->size());
  }
}

// With no exact window every token is stored the same way whatever its age, so a whole prompt, a
// prompt in uneven chunks and token-by-token decode give the same bits, and so does a cache cut
// back with truncate and fed again (the server's prefix reuse). Sinks are fixed positions, so they
// keep this. Formats with outlier channels choose them from the first tokens compressed, and an
// exact window holds the newest tokens of the moment: both depend on how tokens arrived.
TEST(BatchForward, LogitsDependOnlyOnThePrefixWithoutAWindow) {
  const LlamaModel model = tiny_model();
  const std::size_t vocab = model.config().vocab;
  ThreadPool pool(2);
  const std::vector<std::int32_t> ids = token_ids(300, vocab, 9);  // crosses a page of 256 records
  for (const std::string format : {"exact", "f16", "tq3", "tq4", "q4", "q8"}) {
    auto ref_store = make_store(model, format, pool);
    const std::vector<float> ref = stepwise_logits(model, *ref_store, pool, ids);

    auto whole_store = make_store(model, format, pool);
    std::vector<float> whole(ids.size() * vocab);
    LlamaSession(model, *whole_store, pool).forward(ids.data(), ids.size(), whole.data(), true);
    EXPECT_TRUE(same_bits(whole.data(), ref.data(), whole.size())) << format << ": whole prompt";

    auto chunk_store = make_store(model, format, pool);
    BatchForward batch(model, pool);
    std::vector<float> last(vocab);
    for (std::size_t at = 0, len = 1; at < ids.size(); at += len, len = len * 3 % 61 + 1) {
      len = std::min(len, ids.size() - at);
      batch.run({{chunk_store.get(), ids.data() + at, len, last.data()}});
      ASSERT_TRUE(same_bits(last.data(), ref.data() + (at + len - 1) * vocab, vocab)) << format << ": chunk at " << at;
    }

    if (format == "exact") continue;
    // Cut back to 37 and 270 tokens (inside the sinks' successors and inside the second page),
    // then feed other tokens: the logits are those of a cache that never saw the removed ones.
    for (std::size_t keep : {37u, 270u}) {
      auto* cut = dynamic_cast<CacheKvStore*>(chunk_store.get());
      ASSERT_NE(cut, nullptr);
      std::vector<std::int32_t> other = token_ids(20, vocab, 100 + keep);
      std::vector<std::int32_t> fresh_ids(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(keep));
      fresh_ids.insert(fresh_ids.end(), other.begin(), other.end());
      auto fresh_store = make_store(model, format, pool);
      const std::vector<float> fresh = stepwise_logits(model, *fresh_store, pool, fresh_ids);
      auto again = std::make_unique<CacheKvStore>(cut->cache());  // a copy, cut back
      again->truncate(keep);
      ASSERT_EQ(again->size(), keep);
      batch.run({{again.get(), other.data(), other.size(), last.data()}});
      EXPECT_TRUE(same_bits(last.data(), fresh.data() + (fresh_ids.size() - 1) * vocab, vocab))
          << format << ": truncated to " << keep;
      EXPECT_EQ(again->memory_bytes(), fresh_store->memory_bytes()) << format << ": truncated to " << keep;
    }
  }
}

TEST(BatchForward, RejectsBadStepsBeforeChangingAnyStore) {
  const LlamaModel model = tiny_model();
  ThreadPool pool(1);
  auto a = make_store(model, "f16", pool), b = make_store(model, "f16", pool);
  BatchForward batch(model, pool);
  const std::int32_t good[] = {1, 2}, bad[] = {3, 96};
  EXPECT_THROW(batch.run({{a.get(), good, 2, nullptr}, {b.get(), bad, 2, nullptr}}), std::invalid_argument);
  EXPECT_THROW(batch.run({{a.get(), good, 2, nullptr}, {a.get(), good, 1, nullptr}}), std::invalid_argument);
  EXPECT_THROW(batch.run({{a.get(), good, 0, nullptr}}), std::invalid_argument);
  EXPECT_EQ(a->size(), 0u);
  EXPECT_EQ(b->size(), 0u);
}

}  // namespace
}  // namespace veloxquant
