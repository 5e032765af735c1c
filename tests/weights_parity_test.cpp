// Our dequantized rows against llama.cpp's, bit for bit, for every weight type: probe models
// (tests/reference/weights_dequant_probe.mjs explains them) hold random rows of each type as
// token embeddings, and llama.cpp (node-llama-cpp 3.22.1, scripts/install-reference.sh)
// returns those rows times 2^-20 as logits; every 8th of the 4096 rows is compared (1024 blocks
// of 32 values or 128 super-blocks per type). The identity that turns rows into logits adds +0
// terms, so −0 and +0 count as equal. Skips when node or the package is missing (fails instead
// where VELOXQUANT_REQUIRE_REFERENCE=1).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "io/gguf.h"
#include "io/gguf_write.h"
#include "math/prng.h"
#include "reference/reference_tool.h"
#include "weights/weight_types.h"

namespace veloxquant {
namespace {

namespace fs = std::filesystem;

const std::string kReferenceDir = std::string(VELOXQUANT_SOURCE_DIR) + "/tests/reference";
const std::string kSharedModel = std::string(VELOXQUANT_SHARED_DIR) + "/models/tiny-llama-5m-f32.gguf";

// Row r of the probe's token_embd: Gaussians with a large value every 61 elements (so the
// blocks' scales vary), and a few all-zero rows.
std::vector<float> probe_values(std::size_t vocab, std::size_t dim) {
  SplitMix64 rng(2024);
  std::vector<float> v(vocab * dim);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(rng.normal()) * (i % 61 == 0 ? 6.0f : 1.0f);
  for (std::size_t r = 0; r < vocab; r += 1000)
    std::fill_n(v.begin() + static_cast<std::ptrdiff_t>(r * dim), dim, 0.0f);
  return v;
}

// The probe model of one type: the shared model's tokenizer and configuration, one layer that
// adds nothing, norm epsilon 2^40, an identity output on the first `dim` logits.
void write_probe(const std::string& path, const GgufFile& shared, GgmlType type, const std::vector<float>& values) {
  const std::size_t dim = shared.get_uint("llama.embedding_length"), vocab = shared.tensor("token_embd.weight").dims[1];
  const std::size_t ffn = shared.get_uint("llama.feed_forward_length");
  const std::size_t kv = shared.tensor("blk.0.attn_k.weight").dims[1];
  std::map<std::string, GgufValue> m = shared.metadata();
  m["llama.block_count"] = gguf_u32(1);
  m["llama.context_length"] = gguf_u32(static_cast<std::uint32_t>(vocab));
  m["llama.vocab_size"] = gguf_u32(static_cast<std::uint32_t>(vocab));
  m["llama.attention.layer_norm_rms_epsilon"] = gguf_f32(0x1p40f);
  m["general.alignment"] = gguf_u32(32);
  const std::vector<GgufTensorPlan> plans = {
      {"token_embd.weight", {dim, vocab}, type},           {"blk.0.attn_norm.weight", {dim}, GgmlType::kF32},
      {"blk.0.attn_q.weight", {dim, dim}, GgmlType::kF32}, {"blk.0.attn_k.weight", {dim, kv}, GgmlType::kF32},
      {"blk.0.attn_v.weight", {dim, kv}, GgmlType::kF32},  {"blk.0.attn_output.weight", {dim, dim}, GgmlType::kF32},
      {"blk.0.ffn_norm.weight", {dim}, GgmlType::kF32},    {"blk.0.ffn_gate.weight", {dim, ffn}, GgmlType::kF32},
      {"blk.0.ffn_up.weight", {dim, ffn}, GgmlType::kF32}, {"blk.0.ffn_down.weight", {ffn, dim}, GgmlType::kF32},
      {"output_norm.weight", {dim}, GgmlType::kF32},       {"output.weight", {dim, vocab}, GgmlType::kF32},
  };
  write_gguf_file(path, m, plans, 32, [&](std::size_t i, std::uint8_t* out) {
    const GgufTensorPlan& p = plans[i];
    std::memset(out, 0, p.bytes());
    if (i == 0) weight_type(type).quantize(values.data(), values.size(), out);
    if (p.dims.size() == 1) {  // norm weights: ones
      const float one = 1.0f;
      for (std::size_t c = 0; c < dim; ++c) std::memcpy(out + 4 * c, &one, 4);
    }
    if (p.name == "output.weight") {  // row c (logit c) = e_c for c < dim
      const float one = 1.0f;
      for (std::size_t c = 0; c < dim; ++c) std::memcpy(out + 4 * (c * dim + c), &one, 4);
    }
  });
}

TEST(WeightsParity, DequantizedRowsEqualLlamaCppsBitForBit) {
  VELOXQUANT_NEED_LLAMA_REFERENCE();
  if (!fs::exists(kSharedModel)) GTEST_SKIP() << kSharedModel << " is missing";
  const GgufFile shared = GgufFile::open(kSharedModel);
  const std::size_t dim = shared.get_uint("llama.embedding_length"), vocab = shared.tensor("token_embd.weight").dims[1];
  const std::vector<float> values = probe_values(vocab, dim);
  const fs::path dir = fs::temp_directory_path() / ("veloxquant_parity_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  constexpr std::size_t kStride = 8;
  std::string command = "cd '" + kReferenceDir + "' && node weights_dequant_probe.mjs " + std::to_string(kStride) +
                        " '" + dir.string() + "'";
  for (const WeightTypeInfo& t : weight_type_table()) {
    const std::string path = (dir / (std::string("probe_") + t.name + ".gguf")).string();
    write_probe(path, shared, t.type, values);
    command += " '" + path + "'";
  }
  ASSERT_EQ(std::system((command + " 2>&1").c_str()), 0) << command;

  for (const WeightTypeInfo& t : weight_type_table()) {
    std::vector<std::uint8_t> blocks(weight_row_bytes(t.type, dim) * vocab);
    t.quantize(values.data(), values.size(), blocks.data());
    std::vector<float> all(vocab * dim), ours, theirs(vocab / kStride * dim);
    t.dequantize(blocks.data(), all.size(), all.data());
    for (std::size_t r = 0; r < vocab; r += kStride) ours.insert(ours.end(), &all[r * dim], &all[r * dim] + dim);
    std::ifstream f(dir / (std::string("probe_") + t.name + ".gguf.f32"), std::ios::binary);
    f.read(reinterpret_cast<char*>(theirs.data()), static_cast<std::streamsize>(theirs.size() * 4));
    ASSERT_TRUE(f) << t.name << ": the probe wrote no logits";
    std::size_t mismatches = 0, first = 0;
    for (std::size_t i = 0; i < ours.size(); ++i) {
      const float want = ours[i] * 0x1p-20f;  // exact: a power of two
      const bool same = std::memcmp(&want, &theirs[i], 4) == 0 || (want == 0.0f && theirs[i] == 0.0f);
      if (!same && mismatches++ == 0) first = i;
    }
    EXPECT_EQ(mismatches, 0u) << t.name << ": " << mismatches << " of " << ours.size()
                              << " values differ; first at row " << first / dim * kStride << " column " << first % dim
                              << ": ours " << ours[first] << ", llama.cpp " << theirs[first] * 0x1p20f;
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace veloxquant
