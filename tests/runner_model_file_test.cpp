// The quantized model file (.vqm): round trip with bit-identical logits, and clear errors (no
// crash, no huge allocation) for truncated, corrupted, other-version and absurd-size files.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "io/crc32.h"
#include "io/file_error.h"
#include "io/gguf.h"
#include "runner/kv_store.h"
#include "runner/llama_forward.h"
#include "runner/llama_model.h"
#include "runner/matmul.h"
#include "runner/model_file.h"
#include "runner/weight_scheme.h"
#include "runner_gguf_writer.h"
#include "runner_test_model.h"
#include "test_util.h"

namespace veloxquant {
namespace {

LlamaModel quantized_tiny(const std::string& scheme) {
  LlamaModel model = LlamaModel::from_gguf(GgufFile::from_bytes(testing::tiny_llama_gguf()));
  model.quantize_weights(scheme, 5);
  return model;
}

void expect_bit_identical(const std::vector<float>& a, const std::vector<float>& b) {
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
}

// The message of the FileFormatError that parsing `image` throws ("" when it does not throw).
std::string parse_error(std::vector<std::uint8_t> image) {
  try {
    parse_quantized_model(std::move(image));
  } catch (const FileFormatError& e) {
    return e.what();
  }
  return "";
}

struct TempDir {
  std::filesystem::path path = std::filesystem::temp_directory_path() / ("vq_model_" + std::to_string(::getpid()));
  TempDir() { std::filesystem::create_directories(path); }
  ~TempDir() { std::filesystem::remove_all(path); }
};

TEST(WeightScheme, ParsesBlockAndKeepsFormatOptions) {
  EXPECT_EQ(parse_weight_scheme("tq4").block, 0u);
  EXPECT_EQ(parse_weight_scheme("tq4").name(), "tq4");
  const WeightScheme s = parse_weight_scheme("tq4:scale=norm,block=64");
  EXPECT_EQ(s.format, "tq4:scale=norm");
  EXPECT_EQ(s.block, 64u);
  EXPECT_EQ(parse_weight_scheme(s.name()).name(), s.name());
  EXPECT_EQ(parse_weight_scheme("q8:block=32").name(), "q8:block=32");
  EXPECT_EQ(s.record_dim(256), 64u);
  EXPECT_THROW(s.record_dim(96), std::invalid_argument);
  EXPECT_THROW(parse_weight_scheme("tq9"), std::invalid_argument);
  EXPECT_THROW(parse_weight_scheme("tq4:block=0"), std::invalid_argument);
  EXPECT_THROW(parse_weight_scheme("tq4:block=x"), std::invalid_argument);
  EXPECT_THROW(parse_weight_scheme("tq4:block=99999999999"), std::invalid_argument);
  EXPECT_THROW(parse_weight_scheme("tq4").record_dim(4097 * 3), std::invalid_argument);  // dense rotation too big
}

// Blocked records: products on the codes equal decoded rows times the input (tq6 is scored in float;
// ≤ 5 bits in int8, whose rounding the quantized-weights tests bound).
TEST(WeightScheme, BlockedMatmulEqualsDequantizeThenMultiply) {
  const LlamaModel model = quantized_tiny("tq6:block=16");
  const WeightView& w = *model.matrices().back().second;  // the output matrix, 64 x 32
  ASSERT_EQ(w.quantizer->dim(), 16u);
  const std::size_t tokens = 3;
  const std::vector<float> x = test::gaussian(tokens * w.cols, 4);
  ThreadPool pool(2);
  std::vector<float> y(tokens * w.rows), row(w.cols);
  matmul(w, x.data(), tokens, y.data(), pool);
  for (std::size_t r = 0; r < w.rows; ++r) {
    dequantize_row(w, r, row.data());
    for (std::size_t t = 0; t < tokens; ++t) {
      double dot = 0.0;
      for (std::size_t c = 0; c < w.cols; ++c) dot += static_cast<double>(row[c]) * x[t * w.cols + c];
      ASSERT_NEAR(y[t * w.rows + r], dot, 1e-4 * (1 + std::fabs(dot))) << "row " << r;
    }
  }
}

TEST(ModelFile, RoundTripGivesBitIdenticalLogits) {
  for (const char* scheme : {"tq4", "tq4:block=16", "q8"}) {
    const LlamaModel model = quantized_tiny(scheme);
    const std::vector<std::uint8_t> image = serialize_quantized_model(model);
    const LlamaModel loaded = parse_quantized_model(image);
    EXPECT_EQ(loaded.weight_scheme().name(), scheme);
    EXPECT_EQ(loaded.weight_seed(), 5u);
    EXPECT_EQ(loaded.file().metadata().size(), model.file().metadata().size());
    EXPECT_EQ(loaded.file().get_uint("llama.embedding_length"), 32u);
    expect_bit_identical(testing::prompt_logits(model), testing::prompt_logits(loaded));
    // Saving the loaded model again gives the same bytes.
    EXPECT_EQ(serialize_quantized_model(loaded), image) << scheme;
  }
}

TEST(ModelFile, SaveIsAtomicAndLoadDetectsTheMagic) {
  const TempDir dir;
  const std::string path = (dir.path / "m.vqm").string();
  const LlamaModel model = quantized_tiny("tq4");
  save_quantized_model(model, path);
  save_quantized_model(model, path);                                               // replaces the file
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path), {}), 1);  // no temporary left
  EXPECT_TRUE(is_quantized_model_file(path));
  const LlamaModel loaded = LlamaModel::load(path);
  EXPECT_TRUE(loaded.weights_quantized());
  expect_bit_identical(testing::prompt_logits(model), testing::prompt_logits(loaded));
  LlamaModel again = LlamaModel::load(path);
  EXPECT_THROW(again.quantize_weights("tq4", 1), std::runtime_error);  // already quantized
  EXPECT_THROW(load_quantized_model((dir.path / "missing.vqm").string()), FileIoError);
  // An unquantized model has nothing to save.
  const LlamaModel plain = LlamaModel::from_gguf(GgufFile::from_bytes(testing::tiny_llama_gguf()));
  EXPECT_THROW(serialize_quantized_model(plain), std::invalid_argument);
}

TEST(ModelFile, TruncatedFilesAreRefused) {
  const std::vector<std::uint8_t> image = serialize_quantized_model(quantized_tiny("tq4"));
  for (std::size_t n : {std::size_t{0}, std::size_t{7}, std::size_t{31}, std::size_t{32}, std::size_t{100},
                        image.size() / 2, image.size() - 4, image.size() - 1}) {
    std::vector<std::uint8_t> cut(image.begin(), image.begin() + static_cast<std::ptrdiff_t>(n));
    const std::string e = parse_error(cut);
    EXPECT_NE(e, "") << n;
    if (n >= 32) {
      EXPECT_NE(e.find("truncated"), std::string::npos) << e;
    }
  }
  std::vector<std::uint8_t> longer = image;
  longer.push_back(0);
  EXPECT_NE(parse_error(longer).find("truncated or extended"), std::string::npos);
  EXPECT_NE(parse_error(testing::tiny_llama_gguf()).find("bad magic"), std::string::npos);
}

TEST(ModelFile, EveryCorruptedByteIsCaught) {
  const std::vector<std::uint8_t> image = serialize_quantized_model(quantized_tiny("tq4"));
  // A flipped bit anywhere (sampled every 97 bytes, plus header and trailers) is refused.
  for (std::size_t i = 0; i < image.size(); i += (i < 128 ? 1 : 97)) {
    std::vector<std::uint8_t> bad = image;
    bad[i] ^= 0x10;
    ASSERT_NE(parse_error(bad), "") << "byte " << i;
  }
  std::vector<std::uint8_t> bad = image;
  bad[image.size() / 2] ^= 1;
  EXPECT_NE(parse_error(bad).find("checksum mismatch"), std::string::npos);
}

TEST(ModelFile, AnotherVersionIsNamed) {
  std::vector<std::uint8_t> image = serialize_quantized_model(quantized_tiny("tq4"));
  const std::uint32_t v = kModelFileVersion + 1;
  std::memcpy(image.data() + 8, &v, 4);
  const std::uint32_t crc = crc32(image.data(), 28);
  std::memcpy(image.data() + 28, &crc, 4);
  const std::string e = parse_error(image);
  EXPECT_NE(e.find("version " + std::to_string(v)), std::string::npos) << e;
  EXPECT_NE(e.find("reads version " + std::to_string(kModelFileVersion)), std::string::npos) << e;
}

// Sizes that a valid checksum covers are still bounded by the file before anything is allocated.
TEST(ModelFile, AbsurdSizesWithValidChecksumsAreRefused) {
  const std::vector<std::uint8_t> image = serialize_quantized_model(quantized_tiny("tq4"));
  // The QDIR payload starts at 64: scheme string, seed, quantizer count, quantizers, matrix count, matrices.
  const auto qdir_bytes = [&] {
    std::uint64_t n;
    std::memcpy(&n, image.data() + 40, 8);
    return n;
  }();
  const auto reseal = [&](std::vector<std::uint8_t>& img) {  // recompute the QDIR checksum
    const std::uint32_t crc = crc32(img.data() + 64, qdir_bytes, crc32(img.data() + 32, 32));
    std::memcpy(img.data() + 64 + qdir_bytes, &crc, 4);
  };
  std::uint32_t scheme_len;
  std::memcpy(&scheme_len, image.data() + 64, 4);
  const std::size_t seed_at = 64 + 4 + scheme_len, nq_at = seed_at + 8;
  std::uint32_t nq;
  std::memcpy(&nq, image.data() + nq_at, 4);
  const std::size_t q0 = nq_at + 4, nm_at = q0 + 20 * nq;
  std::uint32_t name_len;
  std::memcpy(&name_len, image.data() + nm_at + 4, 4);
  const std::size_t rows_at = nm_at + 8 + name_len;

  const auto with = [&](std::size_t at, std::uint64_t value, std::size_t bytes) {
    std::vector<std::uint8_t> img = image;
    std::memcpy(img.data() + at, &value, bytes);
    reseal(img);
    return parse_error(img);
  };
  EXPECT_NE(with(rows_at, std::uint64_t{1} << 60, 8).find("does not fit"), std::string::npos);
  EXPECT_NE(with(rows_at + 8, std::uint64_t{1} << 62, 8).find("does not fit"), std::string::npos);  // cols
  EXPECT_NE(with(q0, std::uint64_t{1} << 40, 8).find("out of range"), std::string::npos);           // record width
  EXPECT_NE(with(q0 + 8, std::uint64_t{1} << 50, 8).find("does not fit"), std::string::npos);       // record size
  EXPECT_NE(with(nq_at, 0xFFFFFFFFu, 4).find("does not fit"), std::string::npos);
  EXPECT_NE(with(nm_at, 0xFFFFFFFFu, 4), "");
  EXPECT_NE(with(64, 0xFFFFFFF0u, 4).find("bytes long"), std::string::npos);  // scheme string length
  EXPECT_NE(with(rows_at, 1, 8).find("record bytes"), std::string::npos);     // rows disagree with the records
  // A section size of 2^62 in a section header (checked before the checksum).
  std::vector<std::uint8_t> img = image;
  const std::uint64_t huge = std::uint64_t{1} << 62;
  std::memcpy(img.data() + 40, &huge, 8);
  EXPECT_NE(parse_error(img).find("remain"), std::string::npos);
  // Section count beyond what the file could hold (header checksum recomputed).
  img = image;
  const std::uint32_t count = 0x7FFFFFFF;
  std::memcpy(img.data() + 12, &count, 4);
  const std::uint32_t crc = crc32(img.data(), 28);
  std::memcpy(img.data() + 28, &crc, 4);
  EXPECT_NE(parse_error(img).find("section count"), std::string::npos);
}

}  // namespace
}  // namespace veloxquant
