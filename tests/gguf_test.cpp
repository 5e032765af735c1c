// GGUF reader: round trip of metadata and tensors, and corrupt or truncated files give clear
// errors (never a crash, never a huge allocation).
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "io/gguf.h"
#include "runner/llama_model.h"
#include "runner_gguf_writer.h"
#include "test_util.h"
#include "weights/weight_types.h"

namespace veloxquant {
namespace {

using testing::GgufWriter;

std::vector<std::uint8_t> small_file() {
  GgufWriter w;
  w.kv_string("general.architecture", "llama");
  w.kv_u32("answer", 42);
  w.kv_f32("pi", 3.5f);
  w.kv_bool("flag", true);
  w.kv_strings("tokens", {"a", "bc", ""});
  w.kv_f32s("scores", {1.0f, -2.0f});
  w.kv_i32s("types", {1, 6});
  std::vector<float> m(64 * 3), v(5);
  for (std::size_t i = 0; i < m.size(); ++i) m[i] = static_cast<float>(i) * 0.25f - 7.0f;
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
  w.tensor("m.f32", {64, 3}, 0, m);
  w.tensor("m.f16", {64, 3}, 1, m);
  w.tensor("m.bf16", {64, 3}, 30, m);
  w.tensor("m.q8", {64, 3}, 8, m);
  w.tensor("v", {5}, 0, v);
  return w.bytes();
}

TEST(Gguf, ReadsMetadataAndTensors) {
  const GgufFile f = GgufFile::from_bytes(small_file());
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_uint("answer"), 42u);
  EXPECT_EQ(f.get_float("pi"), 3.5);
  EXPECT_TRUE(f.get_bool("flag", false));
  EXPECT_EQ(f.get_string_array("tokens"), (std::vector<std::string>{"a", "bc", ""}));
  EXPECT_EQ(f.get_number_array("scores"), (std::vector<double>{1.0, -2.0}));
  EXPECT_EQ(f.get_number_array("types"), (std::vector<double>{1.0, 6.0}));
  EXPECT_EQ(f.get_uint("missing", 7), 7u);
  EXPECT_THROW(f.get_uint("pi"), std::runtime_error);
  EXPECT_THROW(f.get_string("answer"), std::runtime_error);
  EXPECT_THROW(f.get_string("missing"), std::runtime_error);
  ASSERT_EQ(f.tensors().size(), 5u);
  const GgufTensor& q8 = f.tensor("m.q8");
  EXPECT_EQ(q8.type, GgmlType::kQ8_0);
  EXPECT_EQ(q8.bytes, 3u * 2 * 34);
  EXPECT_EQ(f.tensor("m.f16").bytes, 64u * 3 * 2);
  EXPECT_EQ(f.tensor("v").elements(), 5u);
  EXPECT_EQ(f.find_tensor("nope"), nullptr);
  EXPECT_THROW(f.tensor("nope"), std::runtime_error);
  for (const GgufTensor& t : f.tensors()) EXPECT_EQ(t.offset % 32, 0u);

  // Every weight type decodes to the stored values.
  std::vector<float> m(64 * 3);
  for (std::size_t i = 0; i < m.size(); ++i) m[i] = static_cast<float>(i) * 0.25f - 7.0f;
  const std::pair<const char*, std::uint32_t> types[] = {{"m.f32", 0}, {"m.f16", 1}, {"m.bf16", 30}, {"m.q8", 8}};
  for (const auto& [name, type] : types) {
    const GgufTensor& t = f.tensor(name);
    const WeightView w{t.type, 3, 64, ggml_row_bytes(t.type, 64), t.data};
    const std::vector<float> want = GgufWriter::roundtrip(type, m);
    std::vector<float> row(64);
    for (std::size_t r = 0; r < 3; ++r) {
      dequantize_row(w, r, row.data());
      for (std::size_t c = 0; c < 64; ++c) ASSERT_EQ(row[c], want[r * 64 + c]) << name << " " << r << "," << c;
    }
  }
}

TEST(Gguf, MemoryMappedFileMatchesBuffer) {
  const auto bytes = small_file();
  const std::string path = (std::filesystem::temp_directory_path() / "veloxquant_gguf_test.gguf").string();
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()), static_cast<long>(bytes.size()));
  {
    const GgufFile f = GgufFile::open(path);
    EXPECT_EQ(f.get_uint("answer"), 42u);
    EXPECT_EQ(std::memcmp(f.tensor("m.f32").data, GgufFile::from_bytes(bytes).tensor("m.f32").data, 64 * 3 * 4), 0);
  }
  std::filesystem::remove(path);
  EXPECT_THROW(GgufFile::open(path), std::runtime_error);
}

// Parsing bad bytes must throw one of the two documented exception types, nothing else.
void expect_clean_failure_or_success(const std::vector<std::uint8_t>& bytes, const std::string& what) {
  try {
    const GgufFile f = GgufFile::from_bytes(bytes);
    try {
      LlamaModel::from_gguf(f);
    } catch (const std::runtime_error&) {
    } catch (const std::invalid_argument&) {
    }
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("GGUF"), std::string::npos) << what << ": " << e.what();
  } catch (const std::invalid_argument&) {
  } catch (...) {
    ADD_FAILURE() << what << ": unexpected exception type";
  }
}

TEST(Gguf, TruncatedFilesThrowClearErrors) {
  std::vector<std::pair<std::string, std::vector<float>>> weights;
  const auto bytes = testing::write_tiny_llama(testing::TinyLlama{}, 3, weights);
  ASSERT_NO_THROW(LlamaModel::from_gguf(GgufFile::from_bytes(bytes)));
  // Every cut inside the header, then a stride through the tensor data.
  for (std::size_t cut = 0; cut < bytes.size(); cut += cut < 4096 ? 1 : 97) {
    const std::vector<std::uint8_t> part(bytes.begin(), bytes.begin() + static_cast<long>(cut));
    try {
      GgufFile::from_bytes(part);
      ADD_FAILURE() << "truncation at " << cut << " was accepted";
    } catch (const std::runtime_error& e) {
      const std::string msg = e.what();
      EXPECT_TRUE(msg.find("truncated") != std::string::npos || msg.find("exceeds") != std::string::npos ||
                  msg.find("bad magic") != std::string::npos)
          << "cut " << cut << ": " << msg;
    }
  }
}

TEST(Gguf, CorruptCountsAndBytesNeverCrash) {
  std::vector<std::pair<std::string, std::vector<float>>> weights;
  const auto bytes = testing::write_tiny_llama(testing::TinyLlama{}, 5, weights);
  const std::size_t header = 4096;  // the tiny model's header and metadata fit in this
  const std::uint64_t huge[] = {0xFFFFFFFFFFFFFFFFull, 0x8000000000000000ull, 0x100000000ull, 0xFFFFFFFFull,
                                1ull << 40};
  for (std::size_t pos = 4; pos + 8 <= header; ++pos) {
    for (std::uint64_t value : huge) {
      auto bad = bytes;
      std::memcpy(bad.data() + pos, &value, 8);
      expect_clean_failure_or_success(bad, "u64 at " + std::to_string(pos));
    }
  }
  SplitMix64 rng(9);
  for (int trial = 0; trial < 2000; ++trial) {
    auto bad = bytes;
    for (int k = 0; k < 3; ++k) bad[rng.next() % header] = static_cast<std::uint8_t>(rng.next());
    expect_clean_failure_or_success(bad, "random bytes, trial " + std::to_string(trial));
  }
}

// The byte offset of a tensor's u32 type field in a file written by GgufWriter (one 1-D tensor).
std::size_t type_field(const std::vector<std::uint8_t>& bytes, const std::string& name, std::size_t dims) {
  const auto it = std::search(bytes.begin(), bytes.end(), name.begin(), name.end());
  return static_cast<std::size_t>(it - bytes.begin()) + name.size() + 4 + 8 * dims;
}

TEST(Gguf, RejectsUnsupportedTypesVersionsAndArchitectures) {
  GgufWriter w;
  w.kv_string("general.architecture", "llama");
  w.tensor("blk.0.attn_q.weight", {32}, 0, std::vector<float>(32, 1.0f));
  auto bytes = w.bytes();
  // Patch the tensor type to 16 (iq2_xxs), which the table does not hold.
  bytes[type_field(bytes, "blk.0.attn_q.weight", 1)] = 16;
  try {
    GgufFile::from_bytes(bytes);
    ADD_FAILURE() << "iq2_xxs accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(
        std::string(e.what()).find("tensor 'blk.0.attn_q.weight' has type iq2_xxs (16), which veloxquant does not "
                                   "support; supported: f32, f16, bf16, q8_0, q4_0"),
        std::string::npos)
        << e.what();
  }
  bytes[type_field(bytes, "blk.0.attn_q.weight", 1)] = 99;
  try {
    GgufFile::from_bytes(bytes);
    ADD_FAILURE() << "type 99 accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("has type type 99, which"), std::string::npos) << e.what();
  }
  auto v1 = small_file();
  v1[4] = 1;
  EXPECT_THROW(GgufFile::from_bytes(v1), std::runtime_error);

  GgufWriter gpt;
  gpt.kv_string("general.architecture", "gpt2");
  try {
    LlamaModel::from_gguf(GgufFile::from_bytes(gpt.bytes()));
    ADD_FAILURE() << "gpt2 accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("gpt2"), std::string::npos) << e.what();
  }
}

TEST(Gguf, EveryTableTypeReadsAndDecodesAsWritten) {
  for (const WeightTypeInfo& t : weight_type_table()) {
    GgufWriter w;
    const std::size_t cols = 512, rows = 3;
    const std::vector<float> v = test::gaussian(rows * cols, 5);
    w.tensor("m", {cols, rows}, static_cast<std::uint32_t>(t.type), v);
    const GgufFile f = GgufFile::from_bytes(w.bytes());
    const GgufTensor& m = f.tensor("m");
    EXPECT_EQ(m.type, t.type);
    EXPECT_EQ(m.bytes, rows * cols / t.block_elements * t.block_bytes) << t.name;
    EXPECT_STREQ(ggml_type_name(m.type), t.name);
    const std::vector<float> want = GgufWriter::roundtrip(static_cast<std::uint32_t>(t.type), v);
    const WeightView view{m.type, rows, cols, ggml_row_bytes(m.type, cols), m.data};
    std::vector<float> row(cols);
    for (std::size_t r = 0; r < rows; ++r) {
      dequantize_row(view, r, row.data());
      for (std::size_t c = 0; c < cols; ++c) ASSERT_EQ(row[c], want[r * cols + c]) << t.name << " " << r << "," << c;
    }
  }
}

TEST(Gguf, RefusesRowsOfPartBlocksAndBytesThatDisagreeWithTheType) {
  // A q4_K tensor whose rows are 300 elements: not a whole number of 256-element super-blocks.
  GgufWriter w;
  w.tensor("blk.3.ffn_down.weight", {256, 2}, 12, std::vector<float>(512, 0.5f));
  auto bytes = w.bytes();
  const std::size_t dim0 = type_field(bytes, "blk.3.ffn_down.weight", 0);
  const std::uint64_t bad_cols = 300;
  std::memcpy(bytes.data() + dim0, &bad_cols, 8);
  try {
    GgufFile::from_bytes(bytes);
    ADD_FAILURE() << "part-block rows accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("tensor 'blk.3.ffn_down.weight' has rows of 300 elements, not a multiple "
                                         "of q4_K's block of 256"),
              std::string::npos)
        << e.what();
  }
  // Two q8_0 tensors where the first is declared with twice its rows: its bytes run into the second.
  GgufWriter two;
  two.tensor("a", {32, 1}, 8, std::vector<float>(32, 1.0f));
  two.tensor("b", {32, 1}, 8, std::vector<float>(32, 2.0f));
  bytes = two.bytes();
  const std::uint64_t rows = 2;
  std::memcpy(bytes.data() + type_field(bytes, "a", 2) - 8, &rows, 8);
  try {
    GgufFile::from_bytes(bytes);
    ADD_FAILURE() << "overlapping tensors accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("tensor 'a' (68 bytes of q8_0 at data offset 0) overlaps tensor 'b' at offset "
                                         "64: its byte size disagrees with its type and shape"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace veloxquant
