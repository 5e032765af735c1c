// ChatSession on a tiny random model with a byte-level BPE vocabulary and a ChatML template:
// later turns run only their new tokens, the cache then holds exactly the formatted conversation,
// and its logits equal those of a fresh session run over the same tokens.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "io/gguf_write.h"
#include "runner/chat_session.h"
#include "runner/kv_store.h"
#include "runner/llama_model.h"
#include "runner/sampling.h"
#include "runner/thread_pool.h"
#include "runner/unicode_text.h"
#include "runner_gguf_writer.h"
#include "tokenizer_test_vocab.h"

namespace veloxquant {
namespace {

// The tiny model of runner_gguf_writer.h with 256 byte tokens and the ChatML markers as its vocabulary.
GgufFile tiny_chat_model() {
  testing::TinyLlama shape;
  shape.vocab = 260;
  std::vector<std::pair<std::string, std::vector<float>>> weights;
  const GgufFile base = GgufFile::from_bytes(testing::write_tiny_llama(shape, 11, weights));
  testing::TestVocab v;
  v.pre = "qwen2";
  for (int b = 0; b < 256; ++b) {
    v.tokens.push_back(byte_level_char(static_cast<std::uint8_t>(b)));
    v.types.push_back(1);
  }
  for (const char* special : {"<|im_start|>", "<|im_end|>", "<|endoftext|>", "<think>"}) {
    v.tokens.push_back(special);
    v.types.push_back(special[1] == '|' ? 3 : 4);
  }
  v.merges = {"a b"};
  v.eos = 257;
  v.chat_template = "{% for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}";
  std::map<std::string, GgufValue> metadata = base.metadata();
  for (auto& [key, value] : testing::test_vocab_metadata(v))
    if (key.rfind("tokenizer.", 0) == 0) metadata[key] = value;
  std::vector<GgufTensorOut> tensors;
  for (const GgufTensor& t : base.tensors()) tensors.push_back({t.name, t.dims, t.type, t.data, t.bytes});
  return GgufFile::from_bytes(write_gguf(metadata, tensors, 32));
}

TEST(ChatSession, LaterTurnsRunOnlyTheirTokensAndTheCacheHoldsTheConversation) {
  const LlamaModel model = LlamaModel::from_gguf(tiny_chat_model());
  const Tokenizer tokenizer = Tokenizer::from_gguf(model.file());
  const ChatTemplate tmpl = detect_chat_template(model.file(), "");
  ASSERT_EQ(tmpl.name, "chatml");
  const LlamaConfig& c = model.config();
  ThreadPool pool(2);
  ExactKvStore store({c.layers, c.heads, c.kv_heads, c.head_dim}, pool);
  LlamaSession session(model, store, pool);
  ChatSession chat(session, tokenizer, tmpl, c.vocab, c.context, "Be brief.");
  SplitMix64 rng(3);
  const auto sampler = [&](const std::vector<float>& logits) { return sample_token(logits, 0.8, rng); };
  std::string streamed;
  const auto sink = [&](const std::string& piece) { streamed += piece; };

  const ChatSession::Turn first = chat.reply("Hi!", 6, sampler, sink);
  EXPECT_EQ(first.reply, streamed);
  EXPECT_EQ(first.prompt_tokens,
            tokenizer.encode(apply_chat_template(tmpl, {{"system", "Be brief."}, {"user", "Hi!"}}, true), false, true)
                .size());
  const std::size_t cached = store.size();
  EXPECT_EQ(cached, first.prompt_tokens + first.generated);

  const ChatSession::Turn second = chat.reply("And you?", 5, sampler, sink);
  // Only the end of the first reply's turn, the new user turn and the generation prompt ran.
  const std::string tail = "<|im_end|>\n<|im_start|>user\nAnd you?<|im_end|>\n<|im_start|>assistant\n";
  EXPECT_EQ(second.prompt_tokens, tokenizer.encode(tail, false, true).size());
  EXPECT_EQ(store.size(), cached + second.prompt_tokens + second.generated);
  EXPECT_EQ(chat.tokens().size(), store.size());

  // The cache holds the formatted conversation (with the replies as generated).
  std::vector<ChatMessage> conversation = chat.messages();
  EXPECT_EQ(conversation.size(), 5u);
  EXPECT_EQ(conversation.back().content, second.reply);
  const std::string so_far = apply_chat_template(tmpl, conversation, false);
  const std::string cached_text = tokenizer.decode(chat.tokens(), true);
  EXPECT_EQ(cached_text, so_far.substr(0, so_far.size() - std::string("<|im_end|>\n").size()));

  // A fresh session over the same tokens gives the same last logits.
  ExactKvStore fresh_store({c.layers, c.heads, c.kv_heads, c.head_dim}, pool);
  LlamaSession fresh(model, fresh_store, pool);
  std::vector<float> logits(c.vocab);
  const std::vector<std::int32_t>& all = chat.tokens();
  fresh.forward(all.data(), all.size(), logits.data(), false);
  double max_diff = 0.0, scale = 0.0;
  for (std::size_t i = 0; i < c.vocab; ++i) {
    max_diff = std::max(max_diff, static_cast<double>(std::abs(logits[i] - chat.logits()[i])));
    scale = std::max(scale, static_cast<double>(std::abs(logits[i])));
  }
  EXPECT_LE(max_diff, 1e-4 * scale) << "max |difference| " << max_diff << " of logits up to " << scale;
}

TEST(ChatSession, RefusesAConversationBeyondTheContext) {
  const LlamaModel model = LlamaModel::from_gguf(tiny_chat_model());
  const Tokenizer tokenizer = Tokenizer::from_gguf(model.file());
  const LlamaConfig& c = model.config();
  ThreadPool pool(1);
  ExactKvStore store({c.layers, c.heads, c.kv_heads, c.head_dim}, pool);
  LlamaSession session(model, store, pool);
  ChatSession chat(session, tokenizer, chat_template_by_name("chatml", "", ""), c.vocab, c.context);
  const auto greedy = [](const std::vector<float>& logits) {
    SplitMix64 unused(0);
    return sample_token(logits, 0.0, unused);
  };
  EXPECT_THROW(chat.reply(std::string(c.context, 'x'), 4, greedy, nullptr), std::runtime_error);
}

}  // namespace
}  // namespace veloxquant
