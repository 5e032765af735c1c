// Tokenizer: merge order, byte fallback, special tokens, invalid UTF-8 and decoding on
// hand-made SentencePiece and byte-level BPE vocabularies, metadata checks, and the shared
// model's SentencePiece tokenization of test.txt (test.u16).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "runner/pretokenizer.h"
#include "runner/tokenizer.h"
#include "runner/unicode_text.h"
#include "runner_gguf_writer.h"
#include "tokenizer_test_vocab.h"

namespace veloxquant {
namespace {

Tokenizer tiny_tokenizer(bool space_prefix, bool with_specials = false) {
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
  if (with_specials) {  // a control token and a user-defined one
    tokens.push_back("<ctl>");
    types.push_back(3);
    tokens.push_back("<ud>");
    types.push_back(4);
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

constexpr std::int32_t kA = 259, kB = 260, kC = 261, kSpace = 262, kAB = 263, kBC = 264, kSpaceAB = 265, kE = 266,
                       kCtl = 267, kUd = 268;

TEST(Tokenizer, MergesByScoreWithByteFallback) {
  const Tokenizer t = tiny_tokenizer(true);
  EXPECT_EQ(t.encode("abc", false), (std::vector<std::int32_t>{kSpaceAB, kC}));
  EXPECT_EQ(t.encode("bc", true), (std::vector<std::int32_t>{1, kSpace, kBC}));
  // "x" is no piece: its byte; "é" is a piece; "ü" (C3 BC) falls back to two bytes.
  EXPECT_EQ(t.encode("x\xC3\xA9\xC3\xBC", false), (std::vector<std::int32_t>{kSpace, 3 + 'x', kE, 3 + 0xC3, 3 + 0xBC}));
  EXPECT_EQ(t.encode("a b", false), (std::vector<std::int32_t>{kSpace, kA, kSpace, kB}));
  EXPECT_EQ(t.encode("", false), std::vector<std::int32_t>{});
  const std::string text = "abc bc x\xC3\xBC\n";
  EXPECT_EQ(t.decode(t.encode(text, false)), text);
  // llama.cpp removes the prefix space only from the first token: after a leading BOS it stays.
  EXPECT_EQ(t.decode(t.encode(text, true)), " " + text);

  const Tokenizer raw = tiny_tokenizer(false);
  EXPECT_EQ(raw.encode("abc", false), (std::vector<std::int32_t>{kAB, kC}));
  EXPECT_EQ(raw.decode({kSpace, kAB}), " ab");
  EXPECT_THROW(raw.token_text(100000), std::invalid_argument);
  EXPECT_EQ(raw.find_piece("ab"), kAB);
  EXPECT_EQ(raw.find_piece("<s>"), -1);
}

TEST(Tokenizer, SentencePieceSpecialTokensAndSpacePrefix) {
  const Tokenizer t = tiny_tokenizer(true, true);
  // Control tokens are text unless parse_special; user-defined tokens are always cut out, and the
  // text after a special token gets the "▁" prefix again.
  EXPECT_EQ(t.encode("ab<ctl>ab", false, true), (std::vector<std::int32_t>{kSpaceAB, kCtl, kSpaceAB}));
  EXPECT_EQ(t.encode("ab<ud>ab", false, false), (std::vector<std::int32_t>{kSpaceAB, kUd, kSpaceAB}));
  const std::vector<std::int32_t> plain = t.encode("ab<ctl>", false, false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), kCtl), 0);
  EXPECT_TRUE(t.is_control(kCtl));
  EXPECT_FALSE(t.is_control(kUd));
  EXPECT_EQ(t.decode({kSpaceAB, kCtl, kSpaceAB}), "ab ab");
  EXPECT_EQ(t.decode({kSpaceAB, kCtl, kSpaceAB}, true), "ab<ctl> ab");
  EXPECT_EQ(t.token_text(2), "");
  EXPECT_EQ(t.token_text(2, true), "</s>");
  EXPECT_TRUE(t.is_eog(2));
}

// Invalid UTF-8 goes to byte tokens and comes back byte for byte.
TEST(Tokenizer, SentencePieceRoundTripsInvalidUtf8) {
  const Tokenizer t = tiny_tokenizer(false);
  const std::string text = std::string("a\xFF\xC3(b\x80\x80\xF8\x41\x42\x43\xE2\x82", 13) + "c";
  const std::vector<std::int32_t> ids = t.encode(text, false);
  EXPECT_EQ(t.decode(ids), text);
  // A lead byte F8..FF starts a 4-byte symbol, as in llama.cpp, so "ABC" after it stays bytes.
  const std::vector<std::int32_t> tail = t.encode(
      "\xF8"
      "ABC",
      false);
  EXPECT_EQ(tail, (std::vector<std::int32_t>{3 + 0xF8, 3 + 'A', 3 + 'B', 3 + 'C'}));
}

// A byte-level BPE vocabulary: the 256 byte characters and a few merges.
testing::TestVocab tiny_bpe_vocab(const std::string& pre) {
  testing::TestVocab v;
  v.pre = pre;
  for (int b = 0; b < 256; ++b) {
    v.tokens.push_back(byte_level_char(static_cast<std::uint8_t>(b)));
    v.types.push_back(1);
  }
  const std::string sp = byte_level_char(' ');  // "Ġ"
  for (const std::string& t : {std::string("ab"), std::string("abc"), std::string("bc"), sp + "a", sp + "ab"}) {
    v.tokens.push_back(t);
    v.types.push_back(1);
  }
  v.merges = {"a b", "ab c", "b c", sp + " a", sp + "a b"};
  v.tokens.push_back("<|endoftext|>");
  v.types.push_back(3);
  v.bos = v.eos = static_cast<std::uint32_t>(v.tokens.size() - 1);
  return v;
}

Tokenizer tokenizer_of(const testing::TestVocab& v) {
  return Tokenizer::from_gguf(GgufFile::from_bytes(testing::test_vocab_gguf(v)));
}

constexpr std::int32_t kBpeAB = 256, kBpeABC = 257, kBpeBC = 258, kBpeSpaceA = 259, kBpeSpaceAB = 260, kBpeEnd = 261;

TEST(Tokenizer, BytePairsMergeByRank) {
  const Tokenizer t = tokenizer_of(tiny_bpe_vocab("gpt-2"));
  EXPECT_EQ(t.kind(), Tokenizer::Kind::kBytePairs);
  EXPECT_EQ(t.pre_family(), "gpt2");
  // "abc": a+b (rank 0) before b+c (rank 2), then ab+c.
  EXPECT_EQ(t.encode("abc", false), (std::vector<std::int32_t>{kBpeABC}));
  EXPECT_EQ(t.encode("bcab", false), (std::vector<std::int32_t>{kBpeBC, kBpeAB}));
  // " ab" is one pre-tokenizer word ("Ġab"); a+b (rank 0) goes before Ġ+a (rank 3), and no merge
  // joins "Ġ" and "ab". Byte tokens have the byte's value as id here.
  const std::vector<std::int32_t> xab = t.encode("x ab", false);
  EXPECT_EQ(xab, (std::vector<std::int32_t>{'x', ' ', kBpeAB}));
  EXPECT_EQ(t.decode(xab), "x ab");
  EXPECT_EQ(t.decode({kBpeSpaceAB}), " ab");
  EXPECT_EQ(t.encode("<|endoftext|>", false, true), (std::vector<std::int32_t>{kBpeEnd}));
  EXPECT_NE(t.encode("<|endoftext|>", false, false), (std::vector<std::int32_t>{kBpeEnd}));
  EXPECT_TRUE(t.is_eog(kBpeEnd));
  EXPECT_FALSE(t.add_bos());  // gpt-2 adds no BOS unless the metadata says so
  EXPECT_EQ(t.encode(" a", false), (std::vector<std::int32_t>{kBpeSpaceA}));
}

TEST(Tokenizer, BytePairsRoundTripBytesAndReplaceInvalidUtf8LikeLlamaCpp) {
  const Tokenizer t = tokenizer_of(tiny_bpe_vocab("qwen2"));  // qwen2 does not clean spaces
  const std::string text = "a , b . c 's\n\t \xE6\x97\xA5\xF0\x9F\x91\x8D e\xCC\x81 \x01";
  EXPECT_EQ(t.decode(t.encode(text, false)), text);
  // Each byte that starts no valid sequence is one U+FFFD (llama.cpp's unicode_cpts_from_utf8):
  // E2 82 'A' is two of them (E2 82 is cut short, then the lone 82), not one.
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(t.encode("x\xE2\x82"
                     "A\xFFy",
                     false),
            t.encode("x" + fffd + fffd + "A" + fffd + "y", false));
  EXPECT_EQ(t.decode(t.encode("x\xE2\x82"
                              "A",
                              false)),
            "x" + fffd + fffd + "A");
  // Overlong forms are read as the code point they spell and written back in shortest form.
  EXPECT_EQ(t.decode(t.encode(std::string("\xC1\x81", 2), false)), "A");
  // Surrogates pass through as llama.cpp writes them.
  EXPECT_EQ(t.decode(t.encode("\xED\xA0\x80", false)), "\xED\xA0\x80");
  // A sequence spelling a code point above U+10FFFF is refused, as llama.cpp throws on it.
  EXPECT_THROW(t.encode("\xF4\x90\x80\x80", false), std::invalid_argument);
}

TEST(Tokenizer, BytePairsCleanSpacesOnlyWhereThePreTokenizerSaysSo) {
  const std::string text = "a , b . c ' d 's x 're y 't";
  const Tokenizer gpt2 = tokenizer_of(tiny_bpe_vocab("gpt-2"));
  EXPECT_EQ(gpt2.decode(gpt2.encode(text, false)), "a, b. c'd's x're y 't");
  const Tokenizer qwen = tokenizer_of(tiny_bpe_vocab("qwen2"));
  EXPECT_EQ(qwen.decode(qwen.encode(text, false)), text);
}

TEST(Tokenizer, BytePairsIgnoreMergesTakesWholeWords) {
  // "abc" is a token; with llama3's ignore_merges the word is taken whole even without a merge path.
  testing::TestVocab v = tiny_bpe_vocab("llama-bpe");
  v.merges = {"b c"};  // no merge leads to "abc"
  const Tokenizer llama3 = tokenizer_of(v);
  EXPECT_EQ(llama3.encode("abc", false), (std::vector<std::int32_t>{kBpeABC}));
  EXPECT_TRUE(llama3.add_bos());  // llama-bpe adds BOS by default
  EXPECT_EQ(llama3.encode("abc", true), (std::vector<std::int32_t>{kBpeEnd, kBpeABC}));
  v.pre = "gpt-2";
  const Tokenizer gpt2 = tokenizer_of(v);
  EXPECT_EQ(gpt2.encode("abc", false), (std::vector<std::int32_t>{'a', kBpeBC}));
}

TEST(Tokenizer, MetadataIsCheckedAndUnknownNamesAreRefusedByName) {
  auto error_of = [](const testing::TestVocab& v) {
    try {
      tokenizer_of(v);
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  testing::TestVocab v = tiny_bpe_vocab("made-up-pre");
  EXPECT_NE(error_of(v).find("'made-up-pre'"), std::string::npos) << error_of(v);
  v.pre = "gpt-2";
  v.model = "bert";
  EXPECT_NE(error_of(v).find("'bert'"), std::string::npos) << error_of(v);
  v.model = "gpt2";
  v.merges.clear();
  EXPECT_NE(error_of(v).find("tokenizer.ggml.merges"), std::string::npos);
  v = tiny_bpe_vocab("gpt-2");
  v.tokens[kBpeBC] = "ab";
  EXPECT_NE(error_of(v).find("duplicate token 'ab'"), std::string::npos) << error_of(v);
  v = tiny_bpe_vocab("gpt-2");
  v.bos = 100000;
  EXPECT_NE(error_of(v).find("tokenizer.ggml.bos_token_id = 100000"), std::string::npos) << error_of(v);
  v = tiny_bpe_vocab("gpt-2");
  v.add_bos = true;
  v.tokens.resize(12);  // BPE's default BOS id 11 exists
  v.types.resize(12);
  v.merges = {"a b"};
  v.bos.reset();
  v.eos.reset();
  EXPECT_TRUE(tokenizer_of(v).add_bos());
  v.pre = "chatglm-bpe";  // no BOS by default
  EXPECT_NE(error_of(v).find("add_bos_token is true"), std::string::npos) << error_of(v);
}

TEST(Tokenizer, PreTokenizerNamesAndWhitespaceClass) {
  EXPECT_EQ(pretokenizer_spec("llama-bpe").family, "llama3");
  EXPECT_EQ(pretokenizer_spec("smollm").family, "starcoder");
  EXPECT_FALSE(pretokenizer_spec("smollm").clean_spaces);
  EXPECT_THROW(pretokenizer_spec("nope"), std::runtime_error);
  const std::vector<std::string> names = pretokenizer_names();
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_NE(std::find(names.begin(), names.end(), "qwen2"), names.end());
  EXPECT_EQ(expand_whitespace_classes(R"(a\s+[^\s\p{L}](?!\S))"),
            R"(a[\t-\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}]+)"
            R"([^\t-\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}\p{L}])"
            R"((?![^\t-\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}]))");
  // U+0085 is whitespace to llama.cpp (and so here), U+180E is not.
  const RegexSplitter ws({R"(\s+)"});
  EXPECT_EQ(ws.split("a\xC2\x85"
                     "b")
                .size(),
            3u);
  EXPECT_EQ(ws.split("a\xE1\xA0\x8E"
                     "b")
                .size(),
            1u);
}

TEST(Tokenizer, LenientUtf8DecodingFollowsLlamaCpp) {
  EXPECT_EQ(decode_utf8_lenient("a\xC3\xA9"), (std::vector<char32_t>{'a', 0xE9}));
  EXPECT_EQ(decode_utf8_lenient("\x80\xC3"), (std::vector<char32_t>{kReplacementChar, kReplacementChar}));
  EXPECT_EQ(decode_utf8_lenient("\xE0\x80\x80"), (std::vector<char32_t>{0}));  // overlong NUL is accepted
  EXPECT_EQ(utf8_sequence_length(0xF8), 4u);
  EXPECT_EQ(byte_level_char(' '), "\xC4\xA0");  // Ġ
  EXPECT_EQ(byte_level_byte(0x120), ' ');
  EXPECT_EQ(byte_level_byte(0x41), 'A');
  EXPECT_EQ(byte_level_byte(0x2000), -1);
  std::string s;
  EXPECT_THROW(append_utf8(s, 0x110000), std::invalid_argument);
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
