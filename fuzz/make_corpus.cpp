// Writes the seed corpora of the fuzz targets: small valid inputs made by the library itself.
// Usage: make_corpus DIR   (DIR/<target>/<seed>; the committed copy lives in fuzz/corpus/).
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cache/persist.h"
#include "fuzz_formats.h"
#include "io/artifacts.h"
#include "io/npy.h"
#include "math/prng.h"
#include "runner_gguf_writer.h"
#include "veloxquant/kv_cache.h"
#include "veloxquant/quantizer.h"
#include "weights/weight_types.h"

namespace fs = std::filesystem;
using namespace veloxquant;

namespace {

fs::path g_root;

void put(const std::string& target, const std::string& name, const std::vector<std::uint8_t>& bytes) {
  fs::create_directories(g_root / target);
  std::ofstream f(g_root / target / name, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

std::vector<std::uint8_t> text(const std::string& s) { return {s.begin(), s.end()}; }

std::vector<float> normal(std::size_t n, std::uint64_t seed) {
  SplitMix64 g(seed);
  std::vector<float> x(n);
  for (float& v : x) v = static_cast<float>(g.normal());
  return x;
}

void gguf_seeds() {
  testing::GgufWriter w;
  w.kv_string("general.architecture", "llama");
  w.kv_u32("llama.context_length", 64);
  w.kv_f32("llama.rope.freq_base", 10000.0f);
  w.kv_bool("flag", true);
  w.kv_strings("tokenizer.ggml.tokens", {"a", "b", "<s>"});
  w.kv_f32s("tokenizer.ggml.scores", {0.0f, -1.0f, -2.0f});
  w.kv_i32s("tokenizer.ggml.token_type", {1, 1, 3});
  w.tensor("f32", {4, 2}, 0, normal(8, 1));
  w.tensor("f16", {32, 1}, 1, normal(32, 2));
  w.tensor("q8_0", {32, 2}, 8, normal(64, 3));
  w.tensor("bf16", {3}, 30, normal(3, 4));
  put("gguf", "tensors_and_metadata.gguf", w.bytes());
  testing::GgufWriter empty;
  put("gguf", "empty.gguf", empty.bytes());
  // Every weight type: a valid file, one cut inside its tensor data, one whose row length is not
  // a whole number of blocks, and one whose fp16 fields are all NaN (whatever they hold: scales,
  // mins or level bits).
  for (const WeightTypeInfo& t : weight_type_table()) {
    const std::size_t cols = t.block_elements == 256 ? 512 : 64;
    testing::GgufWriter one;
    one.kv_string("general.architecture", "llama");
    one.tensor("blk.0.attn_q.weight", {cols, 2}, static_cast<std::uint32_t>(t.type), normal(2 * cols, cols));
    const std::vector<std::uint8_t> bytes = one.bytes();
    const std::string name = std::string("type_") + t.name;
    put("gguf", name + ".gguf", bytes);
    put("gguf", name + "_truncated.gguf", std::vector<std::uint8_t>(bytes.begin(), bytes.end() - 7));
    // The tensor is the last thing in the file, padded to 32 bytes.
    const std::size_t data = bytes.size() - (2 * weight_row_bytes(t.type, cols) + 31) / 32 * 32;
    std::vector<std::uint8_t> nan = bytes;
    for (std::size_t i = data; i + 1 < nan.size(); i += 2) {
      nan[i] = 0x00;
      nan[i + 1] = 0x7E;
    }
    put("gguf", name + "_nan.gguf", nan);
    if (t.block_elements > 1) {
      // Rows of cols − 1 elements: the first dimension is the u64 right after the name and rank.
      std::vector<std::uint8_t> odd = bytes;
      const std::string tag = "blk.0.attn_q.weight";
      const auto at = std::search(odd.begin(), odd.end(), tag.begin(), tag.end()) - odd.begin();
      const std::uint64_t bad = cols - 1;
      std::memcpy(odd.data() + at + tag.size() + 4, &bad, 8);
      put("gguf", name + "_odd_rows.gguf", odd);
    }
  }
}

void npy_seeds() {
  const std::vector<std::size_t> s34 = {3, 4}, s5 = {5}, s222 = {2, 2, 2}, scalar = {}, s0 = {0, 3};
  const std::vector<float> f = normal(12, 5);
  put("npy", "f32_3x4.npy", serialize_npy(NpyDtype::kF32, s34, {reinterpret_cast<const std::uint8_t*>(f.data()), 48}));
  std::vector<std::uint8_t> ten(10, 0x3c);
  put("npy", "f16_5.npy", serialize_npy(NpyDtype::kF16, s5, ten));
  put("npy", "u8_2x2x2.npy", serialize_npy(NpyDtype::kU8, s222, std::vector<std::uint8_t>(8, 7)));
  put("npy", "f64_scalar.npy", serialize_npy(NpyDtype::kF64, scalar, std::vector<std::uint8_t>(8, 0)));
  put("npy", "u32_empty.npy", serialize_npy(NpyDtype::kU32, s0, {}));
  // Version 2.0: the same header with a 4-byte length.
  std::vector<std::uint8_t> v1 = serialize_npy(NpyDtype::kI8, s5, std::vector<std::uint8_t>(5, 0xff));
  std::vector<std::uint8_t> v2(v1.begin(), v1.begin() + 6);
  v2.push_back(2);
  v2.push_back(0);
  const std::uint32_t hl = static_cast<std::uint32_t>(v1[8] | v1[9] << 8);
  for (int i = 0; i < 4; ++i) v2.push_back(static_cast<std::uint8_t>(hl >> (8 * i)));
  v2.insert(v2.end(), v1.begin() + 10, v1.end());
  put("npy", "i8_v2.npy", v2);
}

// Seeds start with the harness's mode byte: 1 = fix checksums after mutation, 0 = as is.
void cache_seed(const std::string& name, CacheConfig c, std::size_t tokens, std::size_t truncate_to = 0) {
  KVCache cache(c);
  for (std::size_t l = 0; l < c.layers; ++l) {
    const std::vector<float> k = normal(tokens * c.kv_heads * c.head_dim, 10 + l),
                             v = normal(tokens * c.kv_heads * c.head_dim, 20 + l);
    cache.append(l, tokens, k.data(), v.data());
  }
  if (truncate_to) cache.truncate(truncate_to);
  std::vector<std::uint8_t> image = serialize_cache(cache);
  image.insert(image.begin(), 1);
  put("cache_file", name + ".vqkv", image);
  image[0] = 0;
  put("cache_file", name + "_raw.vqkv", image);
}

void cache_seeds() {
  CacheConfig c;
  c.layers = 2;
  c.head_dim = 16;
  c.window = 4;
  c.sinks = 2;
  c.page_tokens = 8;
  c.calibration_tokens = 4;
  cache_seed("tq3_two_layers", c, 20);
  c.layers = 1;
  c.kv_heads = 2;
  c.q_heads = 4;
  c.key_format = "tq2.5";
  c.value_format = "tq3:outliers=2/4";
  c.max_tokens = 12;
  cache_seed("outliers_evicting", c, 15);
  CacheConfig p;
  p.layers = 1;
  p.head_dim = 16;
  p.window = 2;
  p.sinks = 1;
  p.page_tokens = 4;
  p.key_format = "qjl";
  p.value_format = "polar";
  p.exact_format = "bf16";
  cache_seed("qjl_polar", p, 9);
  p.key_format = "f32";
  p.value_format = "q4";
  p.exact_format = "auto";
  cache_seed("f32_q4_truncated", p, 9, 3);
  p.key_format = "tqp3";
  p.value_format = "q8";
  cache_seed("empty", p, 0);
}

void artifact_seeds() {
  const fs::path dir = fs::temp_directory_path() / ("vq_corpus_" + std::to_string(::getpid()));
  ArtifactOptions o;
  o.dim = 4;
  o.bits = {1, 2};
  o.seed = 42;
  write_artifacts(dir.string(), o);
  std::ifstream f(dir / "manifest.json", std::ios::binary);
  const std::string manifest((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  put("artifacts", "manifest.json", text(manifest));
  fs::remove_all(dir);
  put("artifacts", "small.json", text(R"({"a": [1, -2.5e3, true, null, "x\u00e9\n"], "b": {}})"));
}

void format_seeds() {
  // 4 parameter bytes (dim, heads, window/sinks/page_tokens, max_tokens/calibration/threads), then names.
  const auto seed = [](const std::string& name, std::vector<std::uint8_t> params, const std::string& names) {
    params.insert(params.end(), names.begin(), names.end());
    put("format", name, params);
  };
  seed("tq3_tq4_f16", {15, 0x07, 0x4b, 0x28}, "tq3\ntq4\nf16");
  seed("outliers", {63, 0x01, 0x8c, 0x30}, "tq3:outliers=16/4\ntq2.5\nauto");
  seed("options", {31, 0x02, 0x2a, 0x00}, "qjl:m=40\npolar:bits=4/3/3/3\nbf16");
  seed("prod_norm", {127, 0x00, 0xff, 0xff}, "tqp3:scale=norm\ntq4:scale=optimal");
  seed("baselines", {0, 0x00, 0x21, 0x00}, "q4\nq8\nf32");
  seed("bad", {8, 0x80, 0x00, 0x00}, "tq9\ntq3.5:outliers=1/2\nxx");
}

void decode_seeds() {
  const std::vector<std::string> names = fuzz::decode_format_names();
  for (std::size_t fi = 0; fi < names.size(); ++fi) {
    for (std::size_t di : {5, 9}) {  // d = 17 and 128
      const std::size_t dim = fuzz::kDecodeDims[di];
      std::unique_ptr<Quantizer> q;
      try {
        q = make_quantizer(names[fi], dim, 1234);
      } catch (const std::invalid_argument&) {
        continue;
      }
      const std::vector<float> x = normal(2 * dim, fi);
      std::vector<std::uint8_t> bytes = {static_cast<std::uint8_t>(fi), static_cast<std::uint8_t>(di)};
      bytes.resize(2 + 2 * q->code_size());
      q->encode(2, x.data(), bytes.data() + 2);
      std::string file = names[fi] + "_d" + std::to_string(dim);
      for (char& ch : file)
        if (ch == ':' || ch == '/' || ch == '=') ch = '_';
      put("decode", file, bytes);
    }
  }
}

// Texts for the tokenizers; the first byte picks the tokenizer (harness_tokenizer.h).
void tokenizer_seeds() {
  const std::vector<std::string> texts = {
      "ab ab abc  a\tb\n\n 123 4567", "I'm here, aren't we? <|im_start|>x<ud>y <ctl>",
      "\xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9 e\xCC\x81 \xC2\xA0\xC2\x85",
      "bad \xFF\xC3( \xE2\x82 \xED\xA0\x80 \xC0\x80 end"};
  for (std::size_t i = 0; i < texts.size(); ++i)
    for (const std::uint8_t pick : {0, 1, 3, 5, 8}) {
      std::vector<std::uint8_t> bytes = {pick};
      bytes.insert(bytes.end(), texts[i].begin(), texts[i].end());
      put("tokenizer", "text" + std::to_string(i) + "_" + std::to_string(pick), bytes);
    }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_corpus DIR\n");
    return 2;
  }
  g_root = argv[1];
  gguf_seeds();
  npy_seeds();
  cache_seeds();
  artifact_seeds();
  format_seeds();
  decode_seeds();
  tokenizer_seeds();
  return 0;
}
