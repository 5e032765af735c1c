// The server's text handling: UTF-8 checks, the stop-string / partial-character stream of
// generated text, sampling, and the chat formats (plain, and the model's template).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "runner/unicode_text.h"
#include "server/chat_format.h"
#include "server/sampler.h"
#include "server/text_stream.h"
#include "server/utf8.h"
#include "tokenizer_test_vocab.h"

namespace veloxquant::server {
namespace {

TEST(ServerUtf8, FindsTheFirstInvalidByte) {
  EXPECT_EQ(utf8_error_offset(""), kUtf8Valid);
  EXPECT_EQ(utf8_error_offset("plain ascii"), kUtf8Valid);
  EXPECT_EQ(utf8_error_offset("\xC3\xA9t\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"), kUtf8Valid);  // été € 😀
  EXPECT_EQ(utf8_error_offset("ab\xFF"), 2u);
  EXPECT_EQ(utf8_error_offset("a\xC0\xAF"), 1u);         // overlong '/'
  EXPECT_EQ(utf8_error_offset("a\xE0\x80\xAF"), 1u);     // overlong, three bytes
  EXPECT_EQ(utf8_error_offset("\xED\xA0\x80"), 0u);      // a surrogate
  EXPECT_EQ(utf8_error_offset("\xF4\x90\x80\x80"), 0u);  // above U+10FFFF
  EXPECT_EQ(utf8_error_offset("x\xE2\x82"), 1u);         // truncated at the end
  EXPECT_EQ(utf8_error_offset("x\xE2\x82y"), 1u);        // truncated in the middle
  EXPECT_EQ(utf8_error_offset("\x80"), 0u);              // lone continuation byte
}

TEST(ServerUtf8, HoldsBackOnlyCharactersThatCanStillComplete) {
  EXPECT_EQ(utf8_complete_length("abc"), 3u);
  EXPECT_EQ(utf8_complete_length("ab\xE2\x82"), 2u);
  EXPECT_EQ(utf8_complete_length("ab\xF0\x9F\x98"), 2u);
  EXPECT_EQ(utf8_complete_length("ab\xE2\x82\xAC"), 5u);
  EXPECT_EQ(utf8_complete_length("ab\xFF"), 3u);   // never valid: not held
  EXPECT_EQ(utf8_complete_length("ab\xE2x"), 4u);  // broken already: not held
  EXPECT_EQ(utf8_replace_invalid("a\xFF\xFE"
                                 "b\xE2\x82"
                                 "c"),
            "a\xEF\xBF\xBD"
            "b\xEF\xBF\xBD"
            "c");
  EXPECT_EQ(utf8_replace_invalid("ok \xE2\x82\xAC"), "ok \xE2\x82\xAC");
}

// Tokens arrive as byte pieces; what comes out must be the text up to the first stop string, in
// whole characters, whatever the split.
TEST(ServerTextStream, StopStringsAcrossTokens) {
  const std::string text = "Hello, world.\nUser: more text";
  for (std::size_t piece = 1; piece <= 5; ++piece) {
    TextStream s({"\nUser:", "xyz"});
    std::string out;
    for (std::size_t i = 0; i < text.size() && !s.stopped(); i += piece) out += s.push(text.substr(i, piece));
    out += s.finish();
    EXPECT_TRUE(s.stopped()) << "piece " << piece;
    EXPECT_EQ(out, "Hello, world.") << "piece " << piece;
    EXPECT_EQ(s.text(), out);
  }
}

TEST(ServerTextStream, HoldsAPossibleStopPrefixUntilItIsDecided) {
  TextStream s({"STOP"});
  EXPECT_EQ(s.push("abc ST"), "abc ");  // "ST" may start STOP
  EXPECT_EQ(s.push("AR"), "STAR");      // it did not
  EXPECT_EQ(s.push("S"), "");
  EXPECT_EQ(s.push("TO"), "");
  EXPECT_EQ(s.finish(), "STO");  // generation ended before a stop string completed
  EXPECT_FALSE(s.stopped());
}

TEST(ServerTextStream, ReleasesOnlyWholeCharacters) {
  TextStream s({});
  EXPECT_EQ(s.push("caf"), "caf");
  EXPECT_EQ(s.push("\xC3"), "");
  EXPECT_EQ(s.push("\xA9!"), "\xC3\xA9!");
  EXPECT_EQ(s.push("\xF0\x9F"), "");
  EXPECT_EQ(s.push("\x98"), "");
  EXPECT_EQ(s.push("\x80"), "\xF0\x9F\x98\x80");
  EXPECT_EQ(s.push("\xE2\x82"), "");
  EXPECT_EQ(s.finish(), "\xEF\xBF\xBD");  // a character cut off by the end becomes U+FFFD
  TextStream bad({});
  EXPECT_EQ(bad.push("a\xFF"
                     "b"),
            "a\xEF\xBF\xBD"
            "b");  // bytes that can never be valid: replaced at once
}

TEST(ServerTextStream, StopStringRightAtTheStartAndEmptyStopsIgnored) {
  TextStream s({"", "\n\n"});
  EXPECT_EQ(s.push("\n"), "");
  EXPECT_EQ(s.push("\nrest"), "");
  EXPECT_TRUE(s.stopped());
  EXPECT_EQ(s.push("more"), "");
  EXPECT_EQ(s.finish(), "");
}

TEST(ServerTextStream, DropsTheStripPrefixOnceAtTheStart) {
  TextStream s({}, " ");
  EXPECT_EQ(s.push(""), "");
  EXPECT_EQ(s.push(" The"), "The");
  EXPECT_EQ(s.push(" end"), " end");
  TextStream t({}, " ");
  EXPECT_EQ(t.push("No space"), "No space");
  EXPECT_EQ(t.push(" "), " ");
  TextStream u({"\n"}, " ");
  EXPECT_EQ(u.push(" \n"), "");  // the prefix, then a stop string
  EXPECT_TRUE(u.stopped());
}

TEST(ServerSampler, GreedyTakesTheFirstMaximum) {
  const float logits[] = {0.5f, 2.0f, -1.0f, 2.0f};
  Sampler s({0.0, 1.0, 7});
  for (int i = 0; i < 3; ++i) EXPECT_EQ(s.next(logits, 4), 1);
}

TEST(ServerSampler, SameSeedSameTokensAndFrequenciesFollowTheSoftmax) {
  const float logits[] = {0.0f, 1.0f, 2.0f, -3.0f};
  Sampler a({0.7, 1.0, 42}), b({0.7, 1.0, 42}), c({0.7, 1.0, 43});
  std::vector<int> counts(4);
  bool differs = false;
  const int n = 40000;
  for (int i = 0; i < n; ++i) {
    const std::int32_t x = a.next(logits, 4);
    EXPECT_EQ(x, b.next(logits, 4));
    differs |= x != c.next(logits, 4);
    ++counts[static_cast<std::size_t>(x)];
  }
  EXPECT_TRUE(differs);
  double z = 0.0;
  for (int i = 0; i < 4; ++i) z += std::exp(logits[i] / 0.7);
  for (int i = 0; i < 4; ++i) {
    const double p = std::exp(logits[i] / 0.7) / z, sd = std::sqrt(n * p * (1 - p));
    EXPECT_NEAR(counts[static_cast<std::size_t>(i)], n * p, 5 * sd + 1) << "token " << i;
  }
}

TEST(ServerSampler, TopPKeepsTheSmallestSetReachingP) {
  // Probabilities ∝ exp(l): 0.6652, 0.2447, 0.0900 (l = 2, 1, 0). top_p 0.6 keeps the first only;
  // 0.9 keeps two.
  const float logits[] = {1.0f, 0.0f, 2.0f};
  Sampler only({1.0, 0.6, 1}), two({1.0, 0.9, 1});
  std::vector<int> seen(3);
  for (int i = 0; i < 2000; ++i) {
    EXPECT_EQ(only.next(logits, 3), 2);
    ++seen[static_cast<std::size_t>(two.next(logits, 3))];
  }
  EXPECT_EQ(seen[1], 0);
  EXPECT_GT(seen[0], 300);  // 0.2447 / 0.9099 of 2000 ≈ 538
  EXPECT_GT(seen[2], 1200);
}

TEST(ServerChatFormat, PlainFormatAndItsStops) {
  const ChatPrompt p =
      format_chat(std::nullopt, {{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello."}, {"user", "And?"}});
  EXPECT_EQ(p.text, "System: Be brief.\nUser: Hi\nAssistant: Hello.\nUser: And?\nAssistant:");
  EXPECT_EQ(p.stop, (std::vector<std::string>{"\nUser:", "\nSystem:"}));
  EXPECT_EQ(p.strip_prefix, " ");
  EXPECT_FALSE(p.templated);
  EXPECT_EQ(format_chat(std::nullopt, {{"user", "Hi"}, {"assistant", "\n\tcode"}}).text,
            "User: Hi\nAssistant:\n\tcode\nAssistant:");
}

// A byte-level vocabulary with the ChatML markers (ids 256, 257) and the given chat template.
GgufFile chatml_vocab_file(const std::string& chat_template) {
  testing::TestVocab v;
  v.pre = "qwen2";
  for (int b = 0; b < 256; ++b) {
    v.tokens.push_back(byte_level_char(static_cast<std::uint8_t>(b)));
    v.types.push_back(1);
  }
  v.tokens.insert(v.tokens.end(), {"<|im_start|>", "<|im_end|>"});
  v.types.insert(v.types.end(), {3, 3});
  v.merges = {"a b"};  // a BPE vocabulary needs merges; this one never applies here
  v.eos = 257;
  v.chat_template = chat_template;
  return GgufFile::from_bytes(testing::test_vocab_gguf(v));
}

TEST(ServerChatFormat, TheModelsTemplateIsUsedWithItsSpecialTokens) {
  const GgufFile file =
      chatml_vocab_file("{% for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}");
  std::string problem;
  const ChatFormat format = choose_chat_format(file, "", problem);
  EXPECT_TRUE(problem.empty()) << problem;
  ASSERT_TRUE(format.has_value());
  EXPECT_EQ(chat_format_name(format), "chatml");
  const ChatPrompt p = format_chat(format, {{"user", "Hi"}});
  EXPECT_EQ(p.text, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_TRUE(p.templated);
  EXPECT_TRUE(p.stop.empty());  // the end-of-turn token ends the reply
  EXPECT_TRUE(p.strip_prefix.empty());
  const Tokenizer tokenizer = Tokenizer::from_gguf(file);
  const std::vector<std::int32_t> ids = chat_prompt_tokens(p, tokenizer);
  // The markers are single control tokens, not their bytes.
  const std::vector<std::int32_t> want = {256, 'u', 's', 'e', 'r', '\n', 'H', 'i', 257, '\n', 256,
                                          'a', 's', 's', 'i', 's', 't',  'a', 'n', 't', '\n'};
  ASSERT_EQ(ids.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i)
    EXPECT_EQ(tokenizer.decode({ids[i]}, true), tokenizer.decode({want[i]}, true)) << "token " << i;
  EXPECT_TRUE(tokenizer.is_eog(257));

  // --chat-template plain overrides the model's template; another family applies by name.
  EXPECT_FALSE(choose_chat_format(file, "plain", problem).has_value());
  EXPECT_EQ(chat_format_name(choose_chat_format(file, "phi3", problem)), "phi3");
  try {
    choose_chat_format(file, "vicuna", problem);
    ADD_FAILURE() << "an unknown --chat-template was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("'vicuna'"), std::string::npos) << e.what();
  }
}

TEST(ServerChatFormat, AnUnknownTemplateRefusesChatNamingIt) {
  const GgufFile file = chatml_vocab_file("{{ bos_token }}{% for m in messages %}[[{{ m.content }}]]{% endfor %}");
  std::string problem;
  EXPECT_FALSE(choose_chat_format(file, "", problem).has_value());
  EXPECT_NE(problem.find("{{ bos_token }}"), std::string::npos) << problem;
  EXPECT_NE(problem.find("--chat-template"), std::string::npos) << problem;
  EXPECT_EQ(chat_format_name(choose_chat_format(file, "chatml", problem)), "chatml");
  EXPECT_TRUE(problem.empty());
}

}  // namespace
}  // namespace veloxquant::server
