// Tokenizer: merge order, byte fallback and decoding on a hand-made vocabulary, and the shared
// model's SentencePiece tokenization of test.txt (test.u16).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "runner/tokenizer.h"
#include "runner_gguf_writer.h"

namespace veloxquant {
namespace {

Tokenizer tiny_tokenizer(bool space_prefix) {
  testing::GgufWriter w;
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  std::vector<std::int32_t> types = {2, 3, 3};
  for (int b = 0; b < 256; ++b) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "<0x%02X>", b);
    tokens.push_back(buf);
    types.push_back(6);
  }
  // Normal pieces; "ab" outscores "bc", so "abc" → "ab" "c" even though "bc" is also a piece.
  const std::vector<std::pair<std::string, float>> normal = {{"a", -1},
                                                             {"b", -1},
                                                             {"c", -1},
                                                             {"\xE2\x96\x81", -1},
                                                             {"ab", -2},
                                                             {"bc", -3},
                                                             {"\xE2\x96\x81"
                                                              "ab",
                                                              -4},
                                                             {"\xC3\xA9", -1}};
  for (const auto& [p, s] : normal) {
    tokens.push_back(p);
    types.push_back(1);
  }
  std::vector<float> scores(tokens.size(), 0.0f);
  for (std::size_t i = 0; i < normal.size(); ++i) scores[259 + i] = normal[i].second;
  w.kv_string("tokenizer.ggml.model", "llama");
  w.kv_strings("tokenizer.ggml.tokens", tokens);
  w.kv_f32s("tokenizer.ggml.scores", scores);
  w.kv_i32s("tokenizer.ggml.token_type", types);
  w.kv_u32("tokenizer.ggml.bos_token_id", 1);
  w.kv_u32("tokenizer.ggml.eos_token_id", 2);
  w.kv_bool("tokenizer.ggml.add_space_prefix", space_prefix);
  return Tokenizer::from_gguf(GgufFile::from_bytes(w.bytes()));
}

constexpr std::int32_t kA = 259, kB = 260, kC = 261, kSpace = 262, kAB = 263, kBC = 264, kSpaceAB = 265, kE = 266;

TEST(Tokenizer, MergesByScoreWithByteFallback) {
  const Tokenizer t = tiny_tokenizer(true);
  EXPECT_EQ(t.encode("abc", false), (std::vector<std::int32_t>{kSpaceAB, kC}));
  EXPECT_EQ(t.encode("bc", true), (std::vector<std::int32_t>{1, kSpace, kBC}));
  // "x" is no piece: its byte; "é" is a piece; "ü" (C3 BC) falls back to two bytes.
  EXPECT_EQ(t.encode("x\xC3\xA9\xC3\xBC", false), (std::vector<std::int32_t>{kSpace, 3 + 'x', kE, 3 + 0xC3, 3 + 0xBC}));
  EXPECT_EQ(t.encode("a b", false), (std::vector<std::int32_t>{kSpace, kA, kSpace, kB}));
  EXPECT_EQ(t.encode("", false), std::vector<std::int32_t>{});
  const std::string text = "abc bc x\xC3\xBC\n";
  EXPECT_EQ(t.decode(t.encode(text, true)), text);

  const Tokenizer raw = tiny_tokenizer(false);
  EXPECT_EQ(raw.encode("abc", false), (std::vector<std::int32_t>{kAB, kC}));
  EXPECT_EQ(raw.decode({kSpace, kAB}), " ab");
  EXPECT_THROW(raw.token_text(100000), std::invalid_argument);
  EXPECT_EQ(raw.find_piece("ab"), kAB);
  EXPECT_EQ(raw.find_piece("<s>"), -1);
}

// test.u16 was made from test.txt paragraph by paragraph: the text split at runs of two or more
// newlines, every paragraph encoded on its own (so it starts with the "▁" prefix), and one
// newline byte token per newline of the run in between. (Found by reading the ids:
// "\n\nThe" gives "▁The" but "\nThe" gives "The"; "\n\n\n.." gives three newlines, "▁..".)
TEST(Tokenizer, ReproducesSharedTestTokens) {
  const std::string dir = std::string(VELOXQUANT_SHARED_DIR) + "/models/";
  if (!std::filesystem::exists(dir + "tiny-llama-5m-f32.gguf")) GTEST_SKIP() << "no shared model";
  const Tokenizer t = Tokenizer::from_gguf(GgufFile::open(dir + "tiny-llama-5m-f32.gguf"));
  std::ifstream tf(dir + "test.txt", std::ios::binary), uf(dir + "test.u16", std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(tf)), {});
  const std::string raw((std::istreambuf_iterator<char>(uf)), {});
  std::vector<std::int32_t> want;
  for (std::size_t i = 0; i + 1 < raw.size(); i += 2)
    want.push_back(static_cast<unsigned char>(raw[i]) | static_cast<unsigned char>(raw[i + 1]) << 8);

  const std::int32_t newline = t.encode("\n", false).back();
  const std::int32_t space = t.find_piece("\xE2\x96\x81");
  ASSERT_GE(space, 0);
  std::vector<std::int32_t> got;
  for (std::size_t start = 0; start < text.size();) {
    std::size_t end = text.find("\n\n", start);
    if (end == std::string::npos) end = text.size();
    const auto ids = t.encode(std::string_view(text).substr(start, end - start), false);
    got.insert(got.end(), ids.begin(), ids.end());
    if (ids.empty()) got.push_back(space);  // the producer wrote a lone "▁" for an empty paragraph
    if (end == text.size()) break;
    got.push_back(newline);
    got.push_back(newline);
    start = end + 2;
  }
  std::size_t same = 0;
  while (same < got.size() && same < want.size() && got[same] == want[same]) ++same;
  std::printf("tokenizer: first %zu of %zu tokens equal test.u16\n", same, got.size());
  // The whole text matches; test.u16 then ends with two more newline tokens than the text has
  // (the producer closed the file with an extra paragraph break).
  EXPECT_EQ(same, got.size());
  ASSERT_EQ(want.size(), got.size() + 2);
  EXPECT_EQ(want[want.size() - 1], newline);
  EXPECT_EQ(want[want.size() - 2], newline);
}

}  // namespace
}  // namespace veloxquant
