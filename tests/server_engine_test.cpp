// The server's engine on the shared model: outputs against a one-session reference, batching and
// prefix reuse that change nothing, admission by KV memory, the queue, cancellation, and sessions
// saved to and restored from a directory (also across a restart).
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "runner/cache_kv_store.h"
#include "runner/llama_forward.h"
#include "runner/llama_model.h"
#include "runner/tokenizer.h"
#include "server/engine.h"
#include "server/kv_memory.h"
#include "server/text_stream.h"
#include "weights/model_convert.h"

namespace veloxquant::server {
namespace {

const std::string kModel = std::string(VELOXQUANT_SHARED_DIR) + "/models/tiny-llama-5m-f32.gguf";

struct Shared {
  LlamaModel model = LlamaModel::load(kModel);
  Tokenizer tokenizer = Tokenizer::from_gguf(model.file());
};

Shared& shared() {
  static Shared s;
  return s;
}

class ServerEngine : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kModel)) GTEST_SKIP() << "no shared model at " << kModel;
  }
  static EngineOptions options() {
    EngineOptions o;
    o.cache.key_format = "tq4";
    o.cache.value_format = "tq3";
    o.cache.window = 0;
    o.cache.sinks = 4;
    o.ctx = 256;
    o.max_sessions = 4;
    o.kv_budget = 64u << 20;
    o.queue_timeout_s = 30;
    o.prefill_chunk = 48;  // several chunks per prompt, interleaved with other sessions' decoding
    return o;
  }
  std::unique_ptr<Engine> engine(const EngineOptions& o) {
    return std::make_unique<Engine>(shared().model, shared().tokenizer, o, pool_,
                                    [this](const std::string& m) { log_.push_back(m); });
  }
  GenerationJob job(const std::string& prompt, std::size_t max_tokens, double temperature = 0.0, std::uint64_t seed = 0,
                    std::vector<std::string> stop = {}) {
    GenerationJob j;
    j.prompt = shared().tokenizer.encode(prompt, true);
    j.max_tokens = max_tokens;
    j.sampling = {temperature, temperature > 0 ? 0.9 : 1.0, seed};
    j.stop = std::move(stop);
    return j;
  }

  ThreadPool pool_{2};
  std::vector<std::string> log_;
};

struct Outcome {
  std::string text;
  GenerationResult result;
  std::optional<ApiError> error;
};

Outcome collect(const std::shared_ptr<Generation>& g) {
  Outcome o;
  o.error = g->wait_admitted();
  if (o.error) return o;
  while (!g->wait_output(o.text, std::chrono::milliseconds(200))) {
  }
  o.error = g->error();
  o.result = g->result();
  return o;
}

// Greedy decoding with LlamaSession on a cache of the engine's configuration.
std::string reference_text(const GenerationJob& job, const EngineOptions& o, const LlamaModel& model = shared().model) {
  const LlamaConfig& c = model.config();
  ThreadPool pool(1);
  CacheKvStore store(c.kv_shape(), o.cache, 1);
  LlamaSession session(model, store, pool);
  std::vector<float> logits(c.vocab);
  session.forward(job.prompt.data(), job.prompt.size(), logits.data(), false);
  TextStream text(job.stop);
  std::string out;
  for (std::size_t n = 0; n < job.max_tokens && !text.stopped(); ++n) {
    const auto t = static_cast<std::int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    if (t == shared().tokenizer.eos()) break;
    out += text.push(shared().tokenizer.token_text(t));
    session.forward(&t, 1, logits.data(), false);
  }
  return out + text.finish();
}

// The admission's prediction is the allocation itself, for several cache configurations and
// uneven appends; with sliding-window layers, a bound of it.
TEST_F(ServerEngine, KvMemoryModelEqualsMemoryBytes) {
  const LlamaConfig& c = shared().model.config();
  struct Cfg {
    const char *k, *v;
    std::size_t window, sinks;
    bool sliding;             // gemma-like: every other layer keeps a sliding window of 100 tokens
    const char* layers = "";  // per-layer key formats
  };
  for (const Cfg f : {Cfg{"tq4", "tq3", 0, 4, false}, Cfg{"f16", "f16", 128, 4, false},
                      Cfg{"tq2.5", "tq2.5", 0, 0, false}, Cfg{"q4", "tq4:extra=16", 16, 2, false},
                      Cfg{"f32", "f32", 0, 0, false}, Cfg{"tq4", "tq3", 0, 4, true}, Cfg{"f16", "tq4", 16, 4, true},
                      Cfg{"tq3", "tq3", 0, 4, false, "0,-1=q8;1=f32"}, Cfg{"tq3", "tq3", 16, 4, true, "0,-1=q8"}}) {
    KvStoreOptions o;
    o.key_format = f.k;
    o.value_format = f.v;
    o.key_layers = f.layers;
    o.window = f.window;
    o.sinks = f.sinks;
    KvShape shape{c.layers, c.heads, c.kv_heads, c.head_dim};
    if (f.sliding)
      for (std::size_t l = 0; l < c.layers; ++l) shape.windows.push_back(l % 2 == 0 ? 100 : 0);
    const CacheConfig cc = cache_config(shape, o, 1);
    const KvMemoryModel memory(cc, 700);
    KVCache cache(cc);
    SplitMix64 rng(3);
    EXPECT_EQ(memory.bytes(0), cache.memory_bytes());
    for (std::size_t n = 1; cache.appended() + n <= 700; n = n * 5 % 97 + 1) {
      std::vector<float> k(n * c.kv_heads * c.head_dim), v(k.size());
      for (float& x : k) x = static_cast<float>(rng.normal());
      for (float& x : v) x = static_cast<float>(rng.normal());
      for (std::size_t l = 0; l < c.layers; ++l) cache.append(l, n, k.data(), v.data());
      if (f.sliding)  // what the local layers hold depends on the appends: the model bounds it
        ASSERT_GE(memory.bytes(cache.appended()), cache.memory_bytes())
            << f.k << "/" << f.v << " at " << cache.appended();
      else
        ASSERT_EQ(memory.bytes(cache.appended()), cache.memory_bytes())
            << f.k << "/" << f.v << " at " << cache.appended();
    }
    EXPECT_EQ(memory.f16_bytes(10), 10u * c.layers * c.kv_heads * c.head_dim * 4);
  }
}

TEST_F(ServerEngine, GreedyOutputEqualsOneSessionReference) {
  const EngineOptions o = options();
  auto e = engine(o);
  for (const char* prompt : {"The kernel", "Python is a programming language that"}) {
    const GenerationJob j = job(prompt, 40);
    const Outcome out = collect(e->submit(j));
    ASSERT_FALSE(out.error) << out.error->what();
    EXPECT_EQ(out.text, reference_text(j, o)) << prompt;
    EXPECT_EQ(out.result.prompt_tokens, j.prompt.size());
    EXPECT_EQ(out.result.completion_tokens, 40u);
    EXPECT_EQ(out.result.finish_reason, "length");
  }
}

// Requests decoded together, prefilled in chunks between the others' steps, give what each gives
// alone on an engine with one slot — greedy and sampled alike.
TEST_F(ServerEngine, ConcurrentRequestsEqualTheSameRequestsAlone) {
  const char* prompts[] = {"The kernel", "A file",     "Python", "The kernel uses", "In this section we describe the",
                           "Memory",     "The kernel", "Use the"};
  std::vector<GenerationJob> jobs;
  for (std::size_t i = 0; i < 8; ++i)
    jobs.push_back(job(prompts[i], 10 + 7 * i, i % 3 == 2 ? 0.8 : 0.0, 100 + i,
                       i == 5 ? std::vector<std::string>{"."} : std::vector<std::string>{}));
  EngineOptions o = options();
  auto together = engine(o);
  std::vector<std::shared_ptr<Generation>> gs;
  for (const GenerationJob& j : jobs) gs.push_back(together->submit(j));
  std::vector<Outcome> outs;
  for (const auto& g : gs) outs.push_back(collect(g));
  const EngineStats s = together->stats();
  EXPECT_GT(s.step_sessions, s.steps) << "no step ran more than one session";

  o.max_sessions = 1;
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    auto alone = engine(o);  // fresh: nothing to reuse
    const Outcome out = collect(alone->submit(jobs[i]));
    ASSERT_FALSE(outs[i].error) << outs[i].error->what();
    EXPECT_EQ(outs[i].text, out.text) << "request " << i;
    EXPECT_EQ(outs[i].result.completion_tokens, out.result.completion_tokens) << "request " << i;
    EXPECT_EQ(outs[i].result.finish_reason, out.result.finish_reason) << "request " << i;
  }
}

// With an exact window, what a cache holds depends on how the prompt was cut into chunks; the
// engine cuts every prompt at the same places whatever else runs, so concurrency still changes no
// reply (prefix reuse would: these prompts share no prefix).
TEST_F(ServerEngine, ConcurrencyChangesNoReplyWithAnExactWindowEither) {
  std::ifstream in(std::string(VELOXQUANT_SHARED_DIR) + "/models/test.txt");
  const std::string text((std::istreambuf_iterator<char>(in)), {});
  EngineOptions o = options();
  o.cache.window = 16;
  o.cache.key_format = o.cache.value_format = "tq2";  // coarse, so that a different cut shows in the text
  o.max_sessions = 6;                                 // a slot each: no session is taken over
  std::vector<GenerationJob> jobs;
  const char* starts[] = {"Kernel", "Python", "Memory", "Device", "Files", "Network"};
  for (std::size_t i = 0; i < 6; ++i)
    jobs.push_back(job(std::string(starts[i]) + text.substr(3000 + 700 * i, 150 + 60 * i), 40));
  auto together = engine(o);
  std::vector<std::shared_ptr<Generation>> gs;
  for (const GenerationJob& j : jobs) gs.push_back(together->submit(j));
  std::vector<Outcome> outs;
  for (const auto& g : gs) outs.push_back(collect(g));
  EXPECT_EQ(together->stats().reused_tokens, 0u);
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    ASSERT_GT(jobs[i].prompt.size(), o.prefill_chunk);
    auto alone = engine(o);
    EXPECT_EQ(outs[i].text, collect(alone->submit(jobs[i])).text) << "request " << i;
  }
}

// A continuation of a finished conversation reuses its cache (truncated to the common prefix) and
// replies exactly as a fresh engine does.
TEST_F(ServerEngine, PrefixReuseContinuesACachedSessionWithTheSameOutput) {
  const EngineOptions o = options();
  auto e = engine(o);
  const GenerationJob first = job("The kernel", 30);
  const Outcome a = collect(e->submit(first));
  ASSERT_FALSE(a.error);
  const GenerationJob next = job("The kernel" + a.text + " The", 20);
  const Outcome b = collect(e->submit(next));
  ASSERT_FALSE(b.error);
  EXPECT_GE(b.result.reused_tokens, first.prompt.size() + 25);  // the retokenized text may differ at the seam
  EXPECT_EQ(e->stats().reused_tokens, b.result.reused_tokens);
  EXPECT_EQ(b.text, reference_text(next, o));
  EXPECT_EQ(e->stats().sessions.size(), 1u);  // the same session continued
}

TEST_F(ServerEngine, StopStringsEndTheText) {
  const EngineOptions o = options();
  auto e = engine(o);
  const std::string full = collect(e->submit(job("Python is a programming language that", 60))).text;
  ASSERT_GT(full.size(), 12u);
  const std::string stop = full.substr(full.size() / 2, 3);
  const Outcome out = collect(e->submit(job("Python is a programming language that", 60, 0.0, 0, {stop})));
  EXPECT_EQ(out.text, full.substr(0, full.find(stop)));
  EXPECT_EQ(out.result.finish_reason, "stop");
}

// Admission by memory: with room for one full-context session at a time, three of them run one
// after the other and the admitted bytes never exceed the budget; one that can never fit is 429.
TEST_F(ServerEngine, AdmissionKeepsTheCachesWithinTheBudget) {
  EngineOptions o = options();
  o.ctx = 200;
  {
    auto probe = engine(o);
    o.kv_budget = probe->memory().bytes(200) * 3 / 2;
  }
  auto e = engine(o);
  std::vector<std::shared_ptr<Generation>> gs;
  for (const char* p : {"The kernel", "A file", "Memory"}) {
    GenerationJob j = job(p, 0);
    j.max_tokens = 200 - j.prompt.size();
    gs.push_back(e->submit(j));
  }
  std::size_t most_active = 0, most_reserved = 0;
  for (bool done = false; !done;) {
    const EngineStats s = e->stats();
    std::size_t active = 0;
    for (const SessionInfo& x : s.sessions) active += x.active;
    most_active = std::max(most_active, active);
    most_reserved = std::max(most_reserved, s.kv_reserved);
    ASSERT_LE(s.kv_bytes, o.kv_budget);
    done = s.finished == 3;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  for (const auto& g : gs) EXPECT_FALSE(collect(g).error);
  EXPECT_EQ(most_active, 1u);
  EXPECT_LE(most_reserved, o.kv_budget);
  EXPECT_EQ(e->stats().reservation_overruns, 0u);

  o.kv_budget = e->memory().bytes(50) - 1;
  auto small = engine(o);
  GenerationJob j = job("The kernel", 0);
  j.max_tokens = 50 - j.prompt.size();
  try {
    small->submit(j);
    FAIL() << "accepted a request larger than the budget";
  } catch (const ApiError& err) {
    EXPECT_EQ(err.status, 429);
    EXPECT_EQ(err.code, "kv_budget_exceeded");
  }
  EXPECT_EQ(small->stats().refused_budget, 1u);
}

TEST_F(ServerEngine, FullQueueAndQueueTimeoutAre503) {
  EngineOptions o = options();
  o.max_sessions = 1;
  o.max_queue = 1;
  o.queue_timeout_s = 0.3;
  o.ctx = 4096;  // the first request runs far longer than the timeout (cancelled at the end)
  auto e = engine(o);
  auto running = e->submit(job("The kernel", 4000));
  ASSERT_FALSE(running->wait_admitted());
  auto waiting = e->submit(job("A file", 5));
  try {
    e->submit(job("Memory", 5));
    FAIL() << "a third request was queued";
  } catch (const ApiError& err) {
    EXPECT_EQ(err.status, 503);
    EXPECT_EQ(err.code, "queue_full");
  }
  const std::optional<ApiError> timed_out = waiting->wait_admitted();
  ASSERT_TRUE(timed_out) << "admitted while the only slot was busy";
  EXPECT_EQ(timed_out->status, 503);
  EXPECT_EQ(timed_out->code, "queue_timeout");
  running->cancel();
  collect(running);
}

// A request whose client left ends at the next step and frees its slot for the next request.
TEST_F(ServerEngine, CancelFreesTheSlot) {
  EngineOptions o = options();
  o.max_sessions = 1;
  o.ctx = 4096;  // long enough not to end before the cancel
  auto e = engine(o);
  auto g = e->submit(job("The kernel", 4000));
  ASSERT_FALSE(g->wait_admitted());
  std::string text;
  while (text.size() < 10 && !g->wait_output(text, std::chrono::milliseconds(100))) {
  }
  g->cancel();
  const Outcome out = collect(g);
  EXPECT_EQ(out.result.finish_reason, "cancelled");
  EXPECT_LT(out.result.completion_tokens, 4000u);
  const Outcome next = collect(e->submit(job("A file", 5)));
  EXPECT_FALSE(next.error);
  EXPECT_EQ(e->stats().cancelled, 1u);
}

class TempDir {
 public:
  TempDir() : path_(std::filesystem::temp_directory_path() / ("vq_sessions_" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

// One slot: a second conversation evicts the first to the directory; continuing the first loads it
// back (its tokens are reused, the reply is a fresh engine's); after a restart the directory still
// holds both, and a damaged file is skipped with a message.
TEST_F(ServerEngine, SessionsAreSavedRestoredAndSurviveARestart) {
  TempDir dir;
  EngineOptions o = options();
  o.max_sessions = 1;
  o.session_dir = dir.str();
  std::string first_text;
  {
    auto e = engine(o);
    first_text = collect(e->submit(job("The kernel", 30))).text;
    EXPECT_FALSE(collect(e->submit(job("Python is", 10))).error);
    EXPECT_EQ(e->stats().saved, 1u);  // the first, evicted
    const GenerationJob next = job("The kernel" + first_text + " The", 12);
    const Outcome b = collect(e->submit(next));
    EXPECT_EQ(e->stats().restored, 1u);
    EXPECT_GE(b.result.reused_tokens, 25u);
    EXPECT_EQ(b.text, reference_text(next, o));
  }  // shutdown saves the session in memory
  auto again = engine(o);
  EXPECT_EQ(again->stats().saved_sessions, 2u);
  const GenerationJob next = job("The kernel" + first_text + " The", 12);
  const Outcome c = collect(again->submit(next));
  EXPECT_EQ(again->stats().restored, 1u);
  EXPECT_GE(c.result.reused_tokens, 25u);
  EXPECT_EQ(c.text, reference_text(next, o));
  again.reset();

  // Damage one .tokens file: the next engine skips it and says why.
  for (const auto& f : std::filesystem::directory_iterator(dir.str()))
    if (f.path().extension() == ".tokens") {
      std::fstream file(f.path(), std::ios::in | std::ios::out | std::ios::binary);
      file.seekp(50);
      file.put('\x7f');
      break;
    }
  log_.clear();
  auto third = engine(o);
  EXPECT_EQ(third->stats().saved_sessions, 1u);
  bool told = false;
  for (const std::string& m : log_) told |= m.find("checksum mismatch") != std::string::npos;
  EXPECT_TRUE(told);
}

// gemma2's sliding-window layers evict what their queries no longer see, so a session can be cut
// back only to where they still hold it: the engine reuses one the prompt continues whole, computes
// afresh one it would have to cut, and replies as one session does either way.
TEST_F(ServerEngine, SlidingWindowSessionsAreReusedOnlyWhereTheirLayersCanBeCut) {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("veloxquant_engine_gemma2_" + std::to_string(::getpid()) + ".gguf"))
          .string();
  write_synthetic_model(
      path, parse_synthetic_shape("dim=64,layers=2,heads=4,kv_heads=2,ffn=128,vocab=4096,arch=gemma2,window=4"),
      shared().model.file(), parse_type_scheme("f32"), 1, pool_);
  const LlamaModel gemma2 = LlamaModel::load(path);
  std::filesystem::remove(path);
  const Tokenizer tokenizer = Tokenizer::from_gguf(gemma2.file());
  EngineOptions o = options();
  o.max_sessions = 1;
  Engine e(gemma2, tokenizer, o, pool_, [](const std::string&) {});

  const GenerationJob first = job("In this section we describe the kernel", 1);
  ASSERT_GT(first.prompt.size(), 4u);  // longer than the window: the next append evicts
  ASSERT_FALSE(collect(e.submit(first)).error);
  const GenerationJob next = job("In this section we describe the kernel and the memory it uses", 12);
  ASSERT_EQ(std::vector<std::int32_t>(next.prompt.begin(), next.prompt.begin() + first.prompt.size()), first.prompt);
  const Outcome b = collect(e.submit(next));
  ASSERT_FALSE(b.error) << b.error->what();
  EXPECT_EQ(b.result.reused_tokens, first.prompt.size());
  EXPECT_EQ(b.text, reference_text(next, o, gemma2));

  const GenerationJob other = job("In this section we describe a file", 12);  // shares a prefix it cannot cut to
  const Outcome c = collect(e.submit(other));
  ASSERT_FALSE(c.error) << c.error->what();
  EXPECT_EQ(c.result.reused_tokens, 0u);
  EXPECT_EQ(c.text, reference_text(other, o, gemma2));
  EXPECT_EQ(e.stats().reused_tokens, first.prompt.size());
}

}  // namespace
}  // namespace veloxquant::server
