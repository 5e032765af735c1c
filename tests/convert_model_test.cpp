// The model converter of the parity tests and the benchmark (tests/reference/convert_model.h).
#include <gtest/gtest.h>

#include <unistd.h>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "io/gguf.h"
#include "reference/convert_model.h"
#include "runner/llama_model.h"
#include "runner/tokenizer.h"
#include "util/half.h"

namespace veloxquant {
namespace {

const std::string kModels = std::string(VELOXQUANT_SHARED_DIR) + "/models/";

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("veloxquant-" + std::to_string(getpid()) + "-" + name)).string();
}

bool shared_present() { return std::filesystem::exists(kModels + "tiny-llama-5m-f32.gguf"); }

// The shared f16 file holds the f32 weights rounded to nearest even, so converting the f32 file
// to f16 must give the same tensor bytes.
TEST(ConvertModel, F16OfTheSharedModelEqualsTheSharedF16File) {
  if (!shared_present()) GTEST_SKIP() << "no shared model at " << kModels;
  const std::string out = temp_path("f16.gguf");
  reference::convert_model(kModels + "tiny-llama-5m-f32.gguf", out, "f16");
  const GgufFile ours = GgufFile::open(out), shared = GgufFile::open(kModels + "tiny-llama-5m-f16.gguf");
  ASSERT_EQ(ours.tensors().size(), shared.tensors().size());
  for (const GgufTensor& t : shared.tensors()) {
    const GgufTensor& o = ours.tensor(t.name);
    EXPECT_EQ(o.type, t.type) << t.name;
    EXPECT_EQ(o.dims, t.dims) << t.name;
    ASSERT_EQ(o.bytes, t.bytes) << t.name;
    EXPECT_EQ(std::memcmp(o.data, t.data, t.bytes), 0) << t.name;
  }
  EXPECT_EQ(ours.get_uint("general.file_type"), 1u);
  std::filesystem::remove(out);
}

// q8_0: every 2-D tensor in blocks of 32 with d = max|x|/127 (stored as fp16) and q = round(x/d);
// norms stay f32; a new context length replaces the old; the runner loads the file.
TEST(ConvertModel, Q8_0BlocksFollowGgmlsRounding) {
  if (!shared_present()) GTEST_SKIP() << "no shared model at " << kModels;
  const std::string out = temp_path("q8_0.gguf");
  reference::ConvertOptions options;
  options.context_length = 8192;
  reference::convert_model(kModels + "tiny-llama-5m-f32.gguf", out, "q8_0", options);
  const GgufFile src = GgufFile::open(kModels + "tiny-llama-5m-f32.gguf"), q = GgufFile::open(out);
  EXPECT_EQ(q.get_uint("llama.context_length"), 8192u);
  EXPECT_EQ(q.get_uint("general.file_type"), 7u);
  for (const GgufTensor& t : src.tensors()) {
    const GgufTensor& c = q.tensor(t.name);
    if (t.dims.size() == 1) {
      EXPECT_EQ(c.type, GgmlType::kF32) << t.name;
      continue;
    }
    ASSERT_EQ(c.type, GgmlType::kQ8_0) << t.name;
    const auto* x = reinterpret_cast<const float*>(t.data);
    for (std::size_t b = 0; b < t.elements() / 32; b += 97) {  // a sample of blocks
      float amax = 0.0f;
      for (std::size_t i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[32 * b + i]));
      const float d = amax / 127.0f, id = 1.0f / d;
      const std::uint8_t* block = c.data + 34 * b;
      EXPECT_EQ(load_u16(block), float_to_half(d)) << t.name << " block " << b;
      for (std::size_t i = 0; i < 32; ++i)
        EXPECT_EQ(static_cast<std::int8_t>(block[2 + i]), static_cast<std::int8_t>(std::round(x[32 * b + i] * id)))
            << t.name << " block " << b << " element " << i;
    }
  }
  const LlamaModel model = LlamaModel::load(out);
  EXPECT_EQ(model.config().context, 8192u);
  EXPECT_EQ(model.layers()[0].wq.type, GgmlType::kQ8_0);
  std::filesystem::remove(out);
  EXPECT_THROW(reference::convert_model(kModels + "tiny-llama-5m-f32.gguf", out, "q3_x"), std::invalid_argument);
}

// A synthetic model loads with the shape asked for, and its padded tokenizer encodes text as the
// source tokenizer does.
TEST(ConvertModel, SyntheticModelLoadsWithItsShapeAndTokenizer) {
  if (!shared_present()) GTEST_SKIP() << "no shared model at " << kModels;
  reference::SyntheticShape shape;
  shape.dim = 64;
  shape.layers = 2;
  shape.heads = 4;
  shape.kv_heads = 2;
  shape.ffn = 96;
  shape.vocab = 5000;
  shape.context = 4096;
  for (const std::string type : {"f16", "q8_0"}) {
    const std::string out = temp_path("synthetic-" + type + ".gguf");
    reference::write_synthetic(out, shape, type, kModels + "tiny-llama-5m-f32.gguf", 3);
    const LlamaModel model = LlamaModel::load(out);
    const LlamaConfig& c = model.config();
    EXPECT_EQ(c.dim, 64u);
    EXPECT_EQ(c.layers, 2u);
    EXPECT_EQ(c.kv_heads, 2u);
    EXPECT_EQ(c.ffn, 96u);
    EXPECT_EQ(c.vocab, 5000u);
    EXPECT_EQ(c.context, 4096u);
    const Tokenizer padded = Tokenizer::from_gguf(model.file());
    const Tokenizer source = Tokenizer::from_gguf(GgufFile::open(kModels + "tiny-llama-5m-f32.gguf"));
    const std::string text = "The cache stores keys and values.";
    EXPECT_EQ(padded.encode(text, true), source.encode(text, true)) << type;
    std::filesystem::remove(out);
  }
  shape.vocab = 100;  // fewer than the tokenizer has
  EXPECT_THROW(reference::write_synthetic(temp_path("bad.gguf"), shape, "f16", kModels + "tiny-llama-5m-f32.gguf", 3),
               std::invalid_argument);
}

}  // namespace
}  // namespace veloxquant
