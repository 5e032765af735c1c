// The architectures as data (runner/architecture.h): loading refuses what does not belong, the
// rope kinds rotate the pairs they name, the optional parts change the numbers, and batched and
// single-sequence forward passes agree for every architecture. The comparison with llama.cpp is
// tests/reference_architecture_test.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

#include "io/gguf.h"
#include "io/gguf_write.h"
#include "runner/batch_forward.h"
#include "runner/cache_kv_store.h"
#include "runner/kv_store.h"
#include "runner/llama_forward.h"
#include "runner/llama_model.h"
#include "runner/perplexity.h"
#include "runner_gguf_writer.h"
#include "weights/model_convert.h"

namespace veloxquant {
namespace {

namespace fs = std::filesystem;

const std::string kShape = "dim=64,layers=2,heads=4,kv_heads=2,ffn=128,vocab=16,context=256";

// A random model of `arch` (f32 weights), as GGUF bytes.
std::vector<std::uint8_t> synthetic(const std::string& arch, const std::string& extra = "") {
  testing::GgufWriter tok;
  tok.kv_string("tokenizer.ggml.model", "llama");
  tok.kv_strings("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "a"});
  tok.kv_f32s("tokenizer.ggml.scores", {0, 0, 0, -1});
  tok.kv_i32s("tokenizer.ggml.token_type", {2, 3, 3, 1});
  const std::string path =
      (fs::temp_directory_path() / ("veloxquant_arch_" + std::to_string(::getpid()) + "_" + arch + ".gguf")).string();
  ThreadPool pool(1);
  write_synthetic_model(path, parse_synthetic_shape(kShape + ",arch=" + arch + extra),
                        GgufFile::from_bytes(tok.bytes()), parse_type_scheme("f32"), 3, pool);
  std::ifstream in(path, std::ios::binary);
  std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  fs::remove(path);
  return bytes;
}

// `bytes` with metadata replaced, tensors dropped, and f32 tensors added or replaced.
struct Edit {
  std::map<std::string, GgufValue> metadata;
  std::set<std::string> drop;
  std::map<std::string, std::vector<float>> vectors;  // 1-D f32 tensors
};
GgufFile edited(const std::vector<std::uint8_t>& bytes, const Edit& e) {
  const GgufFile in = GgufFile::from_bytes(bytes);
  std::map<std::string, GgufValue> metadata = in.metadata();
  for (const auto& [key, value] : e.metadata) metadata[key] = value;
  std::vector<GgufTensorOut> tensors;
  for (const GgufTensor& t : in.tensors())
    if (!e.drop.count(t.name) && !e.vectors.count(t.name)) tensors.push_back({t.name, t.dims, t.type, t.data, t.bytes});
  for (const auto& [name, v] : e.vectors)
    tensors.push_back(
        {name, {v.size()}, GgmlType::kF32, reinterpret_cast<const std::uint8_t*>(v.data()), 4 * v.size()});
  return GgufFile::from_bytes(write_gguf(metadata, tensors, in.alignment()));
}

std::string load_error(GgufFile file) {
  try {
    LlamaModel::from_gguf(std::move(file));
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(loaded)";
}

std::vector<float> logits(const LlamaModel& model) {
  ThreadPool pool(1);
  const LlamaConfig& c = model.config();
  const std::int32_t tokens[] = {1, 5, 9, 2, 3, 7, 11, 15};
  std::vector<float> out(8 * c.vocab);
  ExactKvStore store(c.kv_shape(), pool);
  LlamaSession(model, store, pool).forward(tokens, 8, out.data(), true);
  return out;
}

TEST(Architecture, UnknownOneIsRefusedByName) {
  Edit e;
  e.metadata["general.architecture"] = gguf_string("gptj");
  const std::string why = load_error(edited(synthetic("llama"), e));
  EXPECT_NE(why.find("'gptj'"), std::string::npos) << why;
  EXPECT_NE(why.find("'qwen3'"), std::string::npos) << why;  // and the supported ones
  EXPECT_THROW(parse_synthetic_shape(kShape + ",arch=gptj"), std::invalid_argument);
}

TEST(Architecture, MissingRequiredTensorIsNamed) {
  Edit norm;
  norm.drop = {"blk.1.attn_k_norm.weight"};
  std::string why = load_error(edited(synthetic("qwen3"), norm));
  EXPECT_NE(why.find("'blk.1.attn_k_norm.weight' is missing"), std::string::npos) << why;
  EXPECT_NE(why.find("qwen3"), std::string::npos) << why;
  Edit bias;
  bias.drop = {"blk.0.attn_v.bias"};
  why = load_error(edited(synthetic("qwen2"), bias));
  EXPECT_NE(why.find("'blk.0.attn_v.bias' is missing"), std::string::npos) << why;
}

TEST(Architecture, TensorOfAnotherArchitectureIsRefused) {
  // qwen3 has no biases; loading would ignore them, so the file is refused instead.
  Edit e;
  e.vectors["blk.0.attn_q.bias"] = std::vector<float>(4 * 16, 0.5f);
  const std::string why = load_error(edited(synthetic("qwen3", ",head_dim=16"), e));
  EXPECT_NE(why.find("'blk.0.attn_q.bias' is not part of architecture 'qwen3'"), std::string::npos) << why;
  // llama's biases are optional, but all three or none.
  Edit some;
  some.vectors["blk.1.attn_q.bias"] = std::vector<float>(64, 0.5f);
  EXPECT_NE(load_error(edited(synthetic("llama"), some)).find("not all three"), std::string::npos);
}

TEST(Architecture, KeyLengthSetsTheHeadSize) {
  const LlamaModel m = LlamaModel::from_gguf(GgufFile::from_bytes(synthetic("qwen3", ",head_dim=32")));
  EXPECT_EQ(m.config().head_dim, 32u);
  EXPECT_EQ(m.config().q_dim(), 128u);  // ≠ dim 64
  EXPECT_EQ(m.layers()[0].wq.rows, 128u);
  EXPECT_EQ(m.layers()[0].wo.cols, 128u);
  EXPECT_EQ(m.layers()[0].q_norm.size(), 32u);
  for (float v : logits(m)) ASSERT_TRUE(std::isfinite(v));
}

// Rope against the rotation written out: pair i of a head turns by pos · inv_freq[i]; the pairs
// are (2i, 2i+1) or (i, i + rope_dim/2); dimensions past rope_dim (6 of 8 here) stay.
TEST(Architecture, RopeKindsRotateTheirPairs) {
  for (const RopeKind kind : {RopeKind::kAdjacentPairs, RopeKind::kNeoxHalves}) {
    const Rope rope{kind, 8, {0.5, 0.25, 0.125}};
    std::vector<float> x(2 * 2 * 8);  // 2 tokens × 2 heads × 8
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 7) - 2.5f;
    std::vector<float> y = x;
    apply_rope(rope, y.data(), 2, 2, 5);
    for (std::size_t t = 0; t < 2; ++t)
      for (std::size_t h = 0; h < 2; ++h) {
        const float* a = x.data() + (t * 2 + h) * 8;
        const float* b = y.data() + (t * 2 + h) * 8;
        for (std::size_t i = 0; i < 3; ++i) {
          const std::size_t first = kind == RopeKind::kAdjacentPairs ? 2 * i : i;
          const std::size_t second = kind == RopeKind::kAdjacentPairs ? 2 * i + 1 : i + 3;
          const double angle = static_cast<double>(5 + t) * rope.inv_freq[i];
          EXPECT_NEAR(b[first], a[first] * std::cos(angle) - a[second] * std::sin(angle), 1e-6);
          EXPECT_NEAR(b[second], a[first] * std::sin(angle) + a[second] * std::cos(angle), 1e-6);
        }
        EXPECT_EQ(b[6], a[6]);
        EXPECT_EQ(b[7], a[7]);
      }
  }
}

TEST(Architecture, BiasesAndQkNormsChangeTheLogits) {
  const std::vector<std::uint8_t> qwen2 = synthetic("qwen2");
  const std::vector<float> with = logits(LlamaModel::from_gguf(GgufFile::from_bytes(qwen2)));
  Edit zero;
  for (std::size_t l = 0; l < 2; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    zero.vectors[p + "attn_q.bias"] = std::vector<float>(64, 0.0f);
    zero.vectors[p + "attn_k.bias"] = std::vector<float>(32, 0.0f);
    zero.vectors[p + "attn_v.bias"] = std::vector<float>(32, 0.0f);
  }
  EXPECT_NE(logits(LlamaModel::from_gguf(edited(qwen2, zero))), with);

  const std::vector<std::uint8_t> qwen3 = synthetic("qwen3");
  const std::vector<float> normed = logits(LlamaModel::from_gguf(GgufFile::from_bytes(qwen3)));
  Edit doubled;  // RMSNorm weights twice as large: q·k four times as large
  doubled.vectors["blk.0.attn_q_norm.weight"] = std::vector<float>(16, 2.0f);
  EXPECT_NE(logits(LlamaModel::from_gguf(edited(qwen3, doubled))), normed);
}

// Divisors of 2 on every frequency are linear scaling by 2 (the same doubles: both halve exactly).
TEST(Architecture, RopeFreqsDivideTheFrequencies) {
  const std::vector<std::uint8_t> llama = synthetic("llama");
  const std::vector<float> plain = logits(LlamaModel::from_gguf(GgufFile::from_bytes(llama)));
  Edit freqs;
  freqs.vectors["rope_freqs.weight"] = std::vector<float>(8, 2.0f);  // head_dim 16: 8 frequencies
  const LlamaModel divided = LlamaModel::from_gguf(edited(llama, freqs));
  EXPECT_EQ(divided.rope_freqs().size(), 8u);
  Edit linear;
  linear.metadata["llama.rope.scaling.type"] = gguf_string("linear");
  linear.metadata["llama.rope.scaling.factor"] = gguf_f32(2.0f);
  const LlamaModel scaled = LlamaModel::from_gguf(edited(llama, linear));
  EXPECT_EQ(scaled.config().rope_freq_scale, 0.5);
  EXPECT_EQ(logits(divided), logits(scaled));
  EXPECT_NE(logits(divided), plain);

  Edit yarn;
  yarn.metadata["llama.rope.scaling.type"] = gguf_string("yarn");
  EXPECT_NE(load_error(edited(llama, yarn)).find("'yarn'"), std::string::npos);
  Edit zero;
  zero.vectors["rope_freqs.weight"] = std::vector<float>(8, 0.0f);
  EXPECT_NE(load_error(edited(llama, zero)).find("rope_freqs.weight"), std::string::npos);
  // qwen2 has no rope_freqs in llama.cpp.
  EXPECT_NE(load_error(edited(synthetic("qwen2"), freqs)).find("not part of architecture 'qwen2'"), std::string::npos);
}

// The writer's Llama 3.1 table: 1 for the fast frequencies, 8 for wavelengths past 8192, rising
// in between; the model loads it as its divisors.
TEST(Architecture, WriterWritesLlama31RopeFreqs) {
  const std::vector<float> f = llama3_rope_freqs(500000.0, 64);
  ASSERT_EQ(f.size(), 32u);
  EXPECT_EQ(f.front(), 1.0f);
  EXPECT_EQ(f.back(), 8.0f);
  for (std::size_t i = 1; i < f.size(); ++i) EXPECT_GE(f[i], f[i - 1]) << i;
  EXPECT_GT(std::count_if(f.begin(), f.end(), [](float v) { return v > 1.0f && v < 8.0f; }), 0);
  const LlamaModel m =
      LlamaModel::from_gguf(GgufFile::from_bytes(synthetic("llama", ",rope_base=500000,rope_scaling=llama3")));
  EXPECT_EQ(m.rope_freqs(), llama3_rope_freqs(500000.0, 16));
  EXPECT_EQ(m.config().rope_base, 500000.0);
  EXPECT_THROW(parse_synthetic_shape(kShape + ",arch=qwen2,rope_scaling=llama3"), std::invalid_argument);
  EXPECT_THROW(parse_synthetic_shape(kShape + ",rope_scaling=yarn"), std::invalid_argument);
}

// phi3's fused tensors are read in place: Q, K, V and gate, up are row ranges of one tensor each.
TEST(Architecture, FusedTensorsAreRowViews) {
  const std::vector<std::uint8_t> bytes = synthetic("phi3");
  const LlamaModel m = LlamaModel::from_gguf(GgufFile::from_bytes(bytes));
  const GgufTensor& qkv = m.file().tensor("blk.1.attn_qkv.weight");
  const GgufTensor& gate_up = m.file().tensor("blk.1.ffn_up.weight");
  const LlamaLayer& L = m.layers()[1];
  EXPECT_EQ(L.wq.data, qkv.data);
  EXPECT_EQ(L.wk.data, qkv.data + 64 * L.wq.row_bytes);  // after q_dim 64 rows
  EXPECT_EQ(L.wv.data, qkv.data + 96 * L.wq.row_bytes);  // and kv_dim 32
  EXPECT_EQ(L.wv.rows, 32u);
  EXPECT_EQ(L.w_gate.data, gate_up.data);  // the gate half first, as ggml_swiglu reads it
  EXPECT_EQ(L.w_up.data, gate_up.data + 128 * L.w_gate.row_bytes);
  EXPECT_EQ(L.w_up.rows, 128u);
  EXPECT_EQ(m.config().arch->rope, RopeKind::kNeoxHalves);
}

// The same weights split into separate tensors, as qwen2 (NEOX rope too) with zero biases, give
// the same logits: the fused parts are the right rows in the right roles.
TEST(Architecture, FusedPhi3EqualsTheSplitTensors) {
  const std::vector<std::uint8_t> bytes = synthetic("phi3");
  const GgufFile phi3 = GgufFile::from_bytes(bytes);
  std::map<std::string, GgufValue> metadata;
  for (const auto& [key, value] : phi3.metadata())
    metadata[key.compare(0, 5, "phi3.") == 0 ? "qwen2." + key.substr(5) : key] = value;
  metadata["general.architecture"] = gguf_string("qwen2");
  std::vector<GgufTensorOut> tensors;
  const std::vector<float> zeros(64, 0.0f);
  auto rows = [&](const GgufTensor& t, const std::string& name, std::size_t first, std::size_t n) {
    const std::size_t row = t.bytes / t.dims[1];
    tensors.push_back({name, {t.dims[0], n}, t.type, t.data + first * row, n * row});
  };
  for (const GgufTensor& t : phi3.tensors()) {
    const std::size_t dot = t.name.find(".attn_qkv.");
    const std::string p = t.name.substr(0, t.name.find('.', 4) + 1);  // "blk.N."
    if (dot != std::string::npos) {
      rows(t, p + "attn_q.weight", 0, 64);
      rows(t, p + "attn_k.weight", 64, 32);
      rows(t, p + "attn_v.weight", 96, 32);
      for (const char* bias : {"attn_q.bias", "attn_k.bias", "attn_v.bias"})
        tensors.push_back({p + bias,
                           {std::string(bias) == "attn_q.bias" ? 64u : 32u},
                           GgmlType::kF32,
                           reinterpret_cast<const std::uint8_t*>(zeros.data()),
                           std::string(bias) == "attn_q.bias" ? 256u : 128u});
    } else if (t.name.find(".ffn_up.") != std::string::npos) {
      rows(t, p + "ffn_gate.weight", 0, 128);
      rows(t, p + "ffn_up.weight", 128, 128);
    } else {
      tensors.push_back({t.name, t.dims, t.type, t.data, t.bytes});
    }
  }
  const LlamaModel split = LlamaModel::from_gguf(GgufFile::from_bytes(write_gguf(metadata, tensors, phi3.alignment())));
  EXPECT_EQ(logits(split), logits(LlamaModel::from_gguf(GgufFile::from_bytes(bytes))));
}

TEST(Architecture, FusedAndSplitLayoutsAreNotMixed) {
  Edit separate;
  separate.vectors["blk.0.attn_q.weight"] = std::vector<float>(64, 0.0f);
  EXPECT_NE(
      load_error(edited(synthetic("phi3"), separate)).find("'blk.0.attn_q.weight' is not part of architecture 'phi3'"),
      std::string::npos);
  Edit gate;
  gate.vectors["blk.1.ffn_gate.weight"] = std::vector<float>(64, 0.0f);
  EXPECT_NE(load_error(edited(synthetic("phi3"), gate)).find("'blk.1.ffn_gate.weight' is not part"), std::string::npos);
  Edit fused;
  fused.vectors["blk.0.attn_qkv.weight"] = std::vector<float>(64, 0.0f);
  EXPECT_NE(load_error(edited(synthetic("llama"), fused)).find("'blk.0.attn_qkv.weight' is not part"),
            std::string::npos);
  Edit missing;
  missing.drop = {"blk.1.attn_qkv.weight"};
  EXPECT_NE(load_error(edited(synthetic("phi3"), missing)).find("blk.1.attn_qkv.weight"), std::string::npos);
  Edit longrope;  // Phi-3 128k's LongRoPE factors: a scaling the runner does not do
  longrope.vectors["rope_factors_long.weight"] = std::vector<float>(8, 1.0f);
  EXPECT_NE(load_error(edited(synthetic("phi3"), longrope)).find("'rope_factors_long.weight'"), std::string::npos);
  LlamaModel m = LlamaModel::from_gguf(GgufFile::from_bytes(synthetic("phi3")));
  EXPECT_THROW(m.quantize_weights("q8", 1), std::invalid_argument);
}

// gemma2's metadata becomes the config: caps from the keys, even layers local with the window,
// embeddings scaled by √dim; its tied output and post-norms are checked by name.
TEST(Architecture, Gemma2ReadsCapsWindowsAndNorms) {
  const std::vector<std::uint8_t> bytes = synthetic("gemma2", ",layers=3,window=5,attn_softcap=7");
  const LlamaModel m = LlamaModel::from_gguf(GgufFile::from_bytes(bytes));
  const LlamaConfig& c = m.config();
  EXPECT_EQ(c.attn_softcap, 7.0f);
  EXPECT_EQ(c.final_softcap, 30.0f);  // gemma2's default, written by the writer
  EXPECT_EQ(c.windows, (std::vector<std::size_t>{5, 0, 5}));
  EXPECT_EQ(c.embedding_scale, 8.0f);  // √64
  EXPECT_EQ(c.query_scale, 0.0f);      // 1/√head_dim: not the 46-layer 27B
  EXPECT_EQ(m.output().data, m.token_embedding().data);
  EXPECT_EQ(m.layers()[2].post_ffn_norm.size(), 64u);
  Edit pattern;  // sliding_window_pattern 3: layers 0 and 1 local, 2 global
  pattern.metadata["gemma2.attention.sliding_window_pattern"] = gguf_u32(3);
  EXPECT_EQ(LlamaModel::from_gguf(edited(bytes, pattern)).config().windows, (std::vector<std::size_t>{5, 5, 0}));

  Edit output;
  output.vectors["output.weight"] = std::vector<float>(64, 0.0f);
  EXPECT_NE(load_error(edited(bytes, output)).find("'output.weight' is not part of architecture 'gemma2'"),
            std::string::npos);
  Edit norm;
  norm.drop = {"blk.1.post_attention_norm.weight"};
  EXPECT_NE(load_error(edited(bytes, norm)).find("'blk.1.post_attention_norm.weight' is missing"), std::string::npos);
  Edit swa_base;  // gemma3's separate rope base of the local layers
  swa_base.metadata["gemma2.rope.freq_base_swa"] = gguf_f32(10.0f);
  EXPECT_NE(load_error(edited(bytes, swa_base)).find("freq_base_swa"), std::string::npos);
  Edit llama_norm;
  llama_norm.vectors["blk.0.post_ffw_norm.weight"] = std::vector<float>(64, 1.0f);
  EXPECT_NE(load_error(edited(synthetic("llama"), llama_norm)).find("not part of architecture 'llama'"),
            std::string::npos);
  EXPECT_THROW(parse_synthetic_shape(kShape + ",window=16"), std::invalid_argument);  // llama has no window
}

// gemma3: five local layers to one global, the local ones roped with base 10000 and no scaling
// whatever the global layers use; Q/K norms required; no soft-capping; without the window key
// every layer is global (as llama.cpp loads it).
TEST(Architecture, Gemma3ReadsWindowsRopesAndNorms) {
  const std::vector<std::uint8_t> bytes =
      synthetic("gemma3", ",layers=7,window=5,rope_base=1000000,rope_linear=8,head_dim=32");
  const LlamaModel m = LlamaModel::from_gguf(GgufFile::from_bytes(bytes));
  const LlamaConfig& c = m.config();
  EXPECT_EQ(c.windows, (std::vector<std::size_t>{5, 5, 5, 5, 5, 0, 5}));
  EXPECT_EQ(c.attn_softcap, 0.0f);
  EXPECT_EQ(c.final_softcap, 0.0f);
  EXPECT_EQ(c.embedding_scale, 8.0f);  // √64
  EXPECT_EQ(c.local_rope_base, 10000.0);
  EXPECT_EQ(m.layers()[0].q_norm.size(), 32u);
  const ModelRopes ropes = make_ropes(m);
  ASSERT_EQ(ropes.global.inv_freq.size(), 16u);
  for (std::size_t i = 0; i < 16; ++i) {
    const double e = -2.0 * static_cast<double>(i) / 32.0;
    EXPECT_DOUBLE_EQ(ropes.global.inv_freq[i], std::pow(1e6, e) / 8.0) << i;
    EXPECT_DOUBLE_EQ(ropes.local.inv_freq[i], std::pow(1e4, e)) << i;
  }
  EXPECT_EQ(&ropes.of_layer(c, 5), &ropes.global);
  EXPECT_EQ(&ropes.of_layer(c, 6), &ropes.local);
  const LlamaModel global = LlamaModel::from_gguf(GgufFile::from_bytes(synthetic("gemma3", ",layers=7,head_dim=32")));
  EXPECT_TRUE(global.config().windows.empty());
  EXPECT_EQ(global.config().local_rope_base, 0.0);
  Edit norm;
  norm.drop = {"blk.3.attn_k_norm.weight"};
  EXPECT_NE(load_error(edited(bytes, norm)).find("'blk.3.attn_k_norm.weight' is missing"), std::string::npos);
}

// Logits of `n` tokens through `store`: a prefill of `prefill` tokens, then one token at a time.
std::vector<float> run_on(const LlamaModel& m, KvStore& store, std::size_t n, std::size_t prefill) {
  ThreadPool pool(1);
  const std::size_t vocab = m.config().vocab;
  std::vector<std::int32_t> tokens(n);
  for (std::size_t i = 0; i < n; ++i) tokens[i] = static_cast<std::int32_t>((i * 7 + 3) % vocab);
  std::vector<float> out(n * vocab);
  LlamaSession session(m, store, pool);
  session.forward(tokens.data(), prefill, out.data(), true);
  for (std::size_t i = prefill; i < n; ++i) session.forward(&tokens[i], 1, out.data() + i * vocab, true);
  return out;
}

float max_abs(const std::vector<float>& a, const std::vector<float>& b) {
  float m = 0.0f;
  for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

// Runs every append and attend on the exact store (whose results the model gets) and on a cache
// store, and keeps the largest difference of their attention outputs.
class TeeStore final : public KvStore {
 public:
  TeeStore(ExactKvStore& exact, CacheKvStore& cache) : exact_(exact), cache_(cache) {}
  std::size_t size() const override { return exact_.size(); }
  void append(std::size_t layer, std::size_t n, const float* k, const float* v) override {
    exact_.append(layer, n, k, v);
    cache_.append(layer, n, k, v);
  }
  void attend(std::size_t layer, std::size_t n, const float* q, float* out) override {
    std::vector<float> other(n * exact_.shape().heads * exact_.shape().head_dim);
    exact_.attend(layer, n, q, out);
    cache_.attend(layer, n, q, other.data());
    for (std::size_t i = 0; i < other.size(); ++i) worst = std::max(worst, std::abs(other[i] - out[i]));
  }
  void clear() override {}
  std::size_t memory_bytes() const override { return 0; }
  std::string description() const override { return "tee"; }
  KvBits bits_per_coord() const override { return {}; }
  KvShape shape() const override { return exact_.shape(); }
  float worst = 0.0f;

 private:
  ExactKvStore& exact_;
  CacheKvStore& cache_;
};

// gemma2 on the compressed cache: soft-capped scores and sliding-window layers inside
// KVCache::attend. With the f32 format every attention output on the model's own q/k/v equals the
// exact store's to float rounding (prefill and decode, with and without exact window and sinks),
// and so do the logits, to 2e-4 of their range: GeGLU rounds GELU's input to f16 (ggml's table),
// which turns 1e-7 differences into f16 steps of 5e-4 (llama, without it: 4e-7). The local layers
// keep only their window; the logit error grows as the cache bits fall. A store made from the
// sizes alone is still refused rather than attending otherwise.
TEST(Architecture, Gemma2RunsOnTheCompressedCache) {
  const LlamaModel m = LlamaModel::from_gguf(
      GgufFile::from_bytes(synthetic("gemma2", ",layers=3,head_dim=32,window=5,attn_softcap=2,final_softcap=3")));
  const LlamaConfig& c = m.config();
  ThreadPool pool(1);
  const std::size_t n = 40, prefill = 12;
  ExactKvStore exact(c.kv_shape(), pool);
  const std::vector<float> want = run_on(m, exact, n, prefill);
  float range = 0.0f;
  for (const float x : want) range = std::max(range, std::abs(x));
  const std::pair<std::size_t, std::size_t> parts[] = {{0, 0}, {4, 2}, {16, 3}};  // window, sinks
  for (const auto& [window, sinks] : parts) {
    KvStoreOptions f32;
    f32.key_format = f32.value_format = "f32";
    f32.window = window;
    f32.sinks = sinks;
    CacheKvStore store(c.kv_shape(), f32, 1);
    EXPECT_LE(max_abs(run_on(m, store, n, prefill), want), 2e-4f * range) << window << "/" << sinks;
    EXPECT_EQ(store.size(), n);
    EXPECT_EQ(store.cache().size(0), 5u);  // the window of the local layers: 5 tokens
    EXPECT_EQ(store.cache().size(1), n);
    EXPECT_EQ(store.cache().size(2), 5u);
    ExactKvStore reference(c.kv_shape(), pool);
    CacheKvStore cache(c.kv_shape(), f32, 1);
    TeeStore tee(reference, cache);
    run_on(m, tee, n, prefill);
    EXPECT_LE(tee.worst, 2e-6f) << window << "/" << sinks;
  }
  float previous = 0.0f;
  for (const char* format : {"f16", "q8", "tq4"}) {
    KvStoreOptions o;
    o.key_format = o.value_format = format;
    o.window = o.sinks = 0;
    CacheKvStore store(c.kv_shape(), o, 1);
    const float error = max_abs(run_on(m, store, n, prefill), want);
    EXPECT_GT(error, previous) << format;
    EXPECT_TRUE(std::isfinite(error)) << format;
    previous = error;
  }

  ExactKvStore plain({c.layers, c.heads, c.kv_heads, c.head_dim}, pool);
  EXPECT_THROW(LlamaSession(m, plain, pool), std::invalid_argument);
  BatchForward batch(m, pool);
  const std::int32_t token = 1;
  std::vector<float> out(c.vocab);
  EXPECT_THROW(batch.run({{&plain, &token, 1, out.data()}}), std::invalid_argument);
  EXPECT_EQ(plain.size(), 0u);
}

// tq4 keys and values (every token compressed) against our own exact attention, on every
// architecture: the mean KL divergence of the next-token distributions is finite and small. A
// sanity bound only; the measured values are docs/runner.md's ("KV cache formats per architecture").
TEST(Architecture, CompressedCacheKlIsSmallOnEveryArchitecture) {
  for (const std::string arch : {"llama", "qwen2", "qwen3", "phi3", "gemma2", "gemma3"}) {
    const std::string extra = arch == "gemma2"   ? ",layers=3,head_dim=32,window=5,attn_softcap=2,final_softcap=3"
                              : arch == "gemma3" ? ",layers=7,head_dim=32,window=5,rope_base=1000000"
                                                 : ",head_dim=32";
    const LlamaModel m = LlamaModel::from_gguf(GgufFile::from_bytes(synthetic(arch, extra)));
    const LlamaConfig& c = m.config();
    ThreadPool pool(1);
    const std::size_t n = 40;
    ExactKvStore exact(c.kv_shape(), pool);
    const std::vector<float> base = run_on(m, exact, n, 12);
    KvStoreOptions tq4;
    tq4.key_format = tq4.value_format = "tq4";
    tq4.window = tq4.sinks = 0;
    CacheKvStore store(c.kv_shape(), tq4, 1);
    const std::vector<float> tested = run_on(m, store, n, 12);
    const std::vector<std::int32_t> targets(n, 0);
    PerplexityTotals totals;
    score_window(tested.data(), base.data(), targets.data(), c.vocab, {0, n}, totals);
    EXPECT_TRUE(std::isfinite(totals.mean_kld())) << arch;
    EXPECT_GT(totals.mean_kld(), 0.0) << arch;
    EXPECT_LT(totals.mean_kld(), 0.1) << arch;
  }
}

// A sliding-window layer attends exactly as a store holding only the window's keys would; the
// other layer sees them all. Soft-capped scores are cap·tanh(s/cap) before the softmax.
TEST(Architecture, ExactStoreMasksTheWindowAndCapsScores) {
  ThreadPool pool(1);
  const std::size_t d = 4;
  std::vector<float> k(6 * d), v(6 * d), q(d);
  for (std::size_t i = 0; i < k.size(); ++i) {
    k[i] = std::sin(0.7f * static_cast<float>(i)) * 3.0f;
    v[i] = std::cos(0.3f * static_cast<float>(i));
  }
  for (std::size_t i = 0; i < d; ++i) q[i] = 1.0f + 0.5f * static_cast<float>(i);
  ExactKvStore windowed({2, 1, 1, d, 0.0f, 0.0f, {3, 0}}, pool), last3({1, 1, 1, d}, pool), all({1, 1, 1, d}, pool);
  for (std::size_t l = 0; l < 2; ++l) windowed.append(l, 6, k.data(), v.data());
  last3.append(0, 3, k.data() + 3 * d, v.data() + 3 * d);
  all.append(0, 6, k.data(), v.data());
  std::vector<float> a(d), b(d), global(d), every(d);
  windowed.attend(0, 1, q.data(), a.data());
  last3.attend(0, 1, q.data(), b.data());
  windowed.attend(1, 1, q.data(), global.data());
  all.attend(0, 1, q.data(), every.data());
  EXPECT_EQ(a, b);
  EXPECT_EQ(global, every);
  EXPECT_NE(a, every);

  const float cap = 1.5f, scale = 0.25f;
  ExactKvStore capped({1, 1, 1, d, scale, cap}, pool);
  capped.append(0, 6, k.data(), v.data());
  std::vector<float> out(d);
  capped.attend(0, 1, q.data(), out.data());
  std::vector<double> w(6), expect(d, 0.0);
  double sum = 0.0;
  for (std::size_t t = 0; t < 6; ++t) {
    double s = 0.0;
    for (std::size_t i = 0; i < d; ++i) s += static_cast<double>(q[i]) * k[t * d + i];
    w[t] = std::exp(cap * std::tanh(s * scale / cap));
    sum += w[t];
  }
  for (std::size_t t = 0; t < 6; ++t)
    for (std::size_t i = 0; i < d; ++i) expect[i] += w[t] / sum * v[t * d + i];
  for (std::size_t i = 0; i < d; ++i) EXPECT_NEAR(out[i], expect[i], 1e-5) << i;
}

// GeGLU as ggml's CPU computes it: GELU's tanh form on the f16-rounded input, rounded to f16;
// 0 at or below −10, the identity at or above 10.
TEST(Architecture, GeluIsGgmlsF16Table) {
  const std::vector<float> x = {-12.0f, -10.0f, -1.3f, -0.01f, 0.0f, 0.37f, 2.9f, 10.0f, 11.0f};
  std::vector<float> gate = x, up(x.size(), 2.0f);
  gated_activation(Activation::kGeluTanh, gate.data(), up.data(), x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double h = x[i];
    const double gelu = x[i] <= -10.0f  ? 0.0
                        : x[i] >= 10.0f ? h
                                        : 0.5 * h * (1 + std::tanh(0.7978845608 * h * (1 + 0.044715 * h * h)));
    EXPECT_NEAR(gate[i], 2.0 * gelu, 2.0 * (std::abs(gelu) * 1e-3 + 1e-4)) << x[i];  // f16: 2^-11 relative
  }
  EXPECT_EQ(gate[0], 0.0f);
  EXPECT_EQ(gate[8], 22.0f);
  std::vector<float> s = {1.0f}, u = {3.0f};
  gated_activation(Activation::kSilu, s.data(), u.data(), 1);
  EXPECT_FLOAT_EQ(s[0], 3.0f / (1.0f + std::exp(-1.0f)));
}

// BatchForward (the server's path) gives every architecture the logits LlamaSession gives.
TEST(Architecture, BatchedStepsMatchOneSequence) {
  for (const std::string arch : {"llama", "qwen2", "qwen3", "phi3", "gemma2", "gemma3"}) {
    const std::string extra = arch == "gemma2"   ? ",head_dim=32,window=3,attn_softcap=2,final_softcap=3"
                              : arch == "gemma3" ? ",head_dim=32,layers=7,window=3,rope_base=1000000"
                                                 : ",head_dim=32";
    const LlamaModel m = LlamaModel::from_gguf(GgufFile::from_bytes(synthetic(arch, extra)));
    const std::vector<float> alone = logits(m);
    const LlamaConfig& c = m.config();
    ThreadPool pool(1);
    ExactKvStore a(c.kv_shape(), pool), b(c.kv_shape(), pool);
    const std::int32_t tokens[] = {1, 5, 9, 2, 3, 7, 11, 15};
    std::vector<float> la(c.vocab), lb(c.vocab);
    BatchForward batch(m, pool);
    batch.run({{&a, tokens, 5, nullptr}, {&b, tokens, 8, lb.data()}});
    batch.run({{&a, tokens + 5, 3, la.data()}});
    EXPECT_EQ(la, std::vector<float>(alone.end() - c.vocab, alone.end())) << arch;
    EXPECT_EQ(lb, std::vector<float>(alone.end() - c.vocab, alone.end())) << arch;
  }
}

}  // namespace
}  // namespace veloxquant
