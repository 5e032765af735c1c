#include "runner/chat_session.h"

#include <stdexcept>

namespace veloxquant {

namespace {

// Stands for the previous reply when the conversation is formatted (no template changes it).
constexpr const char* kReplyPlaceholder = "\x1Fveloxquant-reply\x1F";

}  // namespace

ChatSession::ChatSession(LlamaSession& session, const Tokenizer& tokenizer, ChatTemplate tmpl, std::size_t vocab,
                         std::size_t context, std::string system_prompt)
    : session_(session), tokenizer_(tokenizer), template_(std::move(tmpl)), context_(context), logits_(vocab) {
  if (session_.position() != 0) throw std::invalid_argument("a chat needs a fresh session (empty KV cache)");
  if (!system_prompt.empty()) messages_.push_back({"system", std::move(system_prompt)});
}

std::vector<std::int32_t> ChatSession::next_prompt_tokens(const std::string& user) const {
  std::vector<ChatMessage> next = messages_;
  if (!replied_) {  // the first turn: the whole prompt, with BOS unless the template wrote it
    next.push_back({"user", user});
    return encode_chat_prompt(tokenizer_, apply_chat_template(template_, next, true));
  }
  const std::vector<ChatMessage> before(messages_.begin(), messages_.end() - 1);  // without the reply
  next.back().content = kReplyPlaceholder;
  next.push_back({"user", user});
  const std::string text = apply_chat_template(template_, next, true);
  const std::string prompt_before = apply_chat_template(template_, before, true);
  const std::size_t at = text.find(kReplyPlaceholder);
  if (at == std::string::npos || text.compare(0, at, prompt_before) != 0)
    throw std::logic_error("chat template '" + template_.name + "' does not continue the previous turn's prompt");
  return tokenizer_.encode(std::string_view(text).substr(at + std::string(kReplyPlaceholder).size()), false, true);
}

void ChatSession::run(const std::vector<std::int32_t>& ids) {
  if (ids.empty()) return;
  if (session_.position() + ids.size() > context_)
    throw std::runtime_error("the conversation (" + std::to_string(session_.position() + ids.size()) +
                             " tokens) no longer fits the context of " + std::to_string(context_));
  session_.forward(ids.data(), ids.size(), logits_.data(), false);
  tokens_.insert(tokens_.end(), ids.begin(), ids.end());
}

ChatSession::Turn ChatSession::reply(const std::string& user, std::size_t max_tokens, const Sampler& sample,
                                     const TextSink& sink) {
  Turn turn;
  const std::vector<std::int32_t> prompt = next_prompt_tokens(user);
  run(prompt);
  turn.prompt_tokens = prompt.size();
  messages_.push_back({"user", user});
  while (turn.generated < max_tokens) {
    const std::int32_t next = sample(logits_);
    if (tokenizer_.is_eog(next)) {  // not run: the next turn's text starts with the turn's end
      turn.ended = true;
      break;
    }
    const std::string piece = tokenizer_.token_text(next);
    turn.reply += piece;
    ++turn.generated;
    if (sink) sink(piece);
    if (session_.position() + 1 > context_) break;
    run({next});  // the reply stays in the cache
  }
  messages_.push_back({"assistant", turn.reply});
  replied_ = true;
  return turn;
}

}  // namespace veloxquant
