// A multi-turn chat on one model session whose KV cache is kept between turns: each turn runs
// only the tokens the cache does not hold yet (the end of the previous reply's turn, the new user
// turn and the generation prompt), then generates the reply.
//
// The text of a new turn is what the template writes after the previous reply: the conversation
// is formatted with a placeholder as that reply, and what follows the placeholder is run (the
// reply itself is in the cache as the tokens that were generated).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "runner/chat_template.h"
#include "runner/llama_forward.h"
#include "runner/tokenizer.h"

namespace veloxquant {

class ChatSession {
 public:
  struct Turn {
    std::string reply;
    std::size_t prompt_tokens = 0;  // tokens run before generating (only the new ones)
    std::size_t generated = 0;      // reply tokens
    bool ended = false;             // stopped at an end-of-generation token
  };
  using Sampler = std::function<std::int32_t(const std::vector<float>& logits)>;
  using TextSink = std::function<void(const std::string& piece)>;

  // `session` must be fresh (an empty cache); `context` is the model's context length.
  ChatSession(LlamaSession& session, const Tokenizer& tokenizer, ChatTemplate tmpl, std::size_t vocab,
              std::size_t context, std::string system_prompt = "");

  // One user turn: runs its tokens, then generates up to max_tokens, passing each piece of text
  // to `sink`. Throws std::runtime_error when the conversation no longer fits the context.
  Turn reply(const std::string& user, std::size_t max_tokens, const Sampler& sample, const TextSink& sink);

  const std::vector<ChatMessage>& messages() const { return messages_; }
  // Every token in the cache, in order.
  const std::vector<std::int32_t>& tokens() const { return tokens_; }
  // The logits after the last token run.
  const std::vector<float>& logits() const { return logits_; }

 private:
  std::vector<std::int32_t> next_prompt_tokens(const std::string& user) const;
  void run(const std::vector<std::int32_t>& ids);

  LlamaSession& session_;
  const Tokenizer& tokenizer_;
  ChatTemplate template_;
  std::size_t context_;
  std::vector<ChatMessage> messages_;
  std::vector<std::int32_t> tokens_;
  std::vector<float> logits_;
  bool replied_ = false;  // the last message is a reply whose tokens are in the cache
};

}  // namespace veloxquant
