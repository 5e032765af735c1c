#include "server/chat_format.h"

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include "server/utf8.h"

namespace veloxquant::server {

namespace {

ChatPrompt format_plain(const std::vector<ChatMessage>& messages) {
  std::string text;
  for (const ChatMessage& m : messages) {
    const char* name = m.role == "system" ? "System" : m.role == "user" ? "User" : "Assistant";
    // "Name:" and a space, unless the content starts with white space itself (a reply the model
    // began with a newline): the text then tokenizes as the model generated it.
    const bool spaced = !m.content.empty() && std::isspace(static_cast<unsigned char>(m.content[0]));
    text += std::string(name) + (spaced ? ":" : ": ") + m.content + "\n";
  }
  text += "Assistant:";
  return ChatPrompt{std::move(text), false, {"\nUser:", "\nSystem:"}, " "};
}

// The template's excerpt for a message: its first 60 bytes on one line, valid UTF-8.
std::string template_excerpt(const std::string& text) {
  std::string excerpt = utf8_replace_invalid(text.substr(0, utf8_complete_length(text.substr(0, 60))));
  for (char& c : excerpt)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  return excerpt;
}

}  // namespace

ChatPrompt format_chat(const ChatFormat& format, const std::vector<ChatMessage>& messages) {
  if (!format) return format_plain(messages);
  ChatPrompt p;
  p.text = apply_chat_template(*format, messages, true);
  p.templated = true;
  return p;
}

std::vector<std::int32_t> chat_prompt_tokens(const ChatPrompt& prompt, const Tokenizer& tokenizer) {
  return prompt.templated ? encode_chat_prompt(tokenizer, prompt.text)
                          : tokenizer.encode(prompt.text, tokenizer.add_bos());
}

ChatFormat choose_chat_format(const GgufFile& file, const std::string& requested, std::string& problem) {
  problem.clear();
  if (requested == "plain") return std::nullopt;
  if (!requested.empty()) {
    const std::vector<std::string>& names = chat_template_names();
    if (std::find(names.begin(), names.end(), requested) == names.end()) {
      std::string known = "plain";
      for (const std::string& n : names) known += ", " + n;
      throw std::invalid_argument("unknown chat template '" + requested + "' (this build knows: " + known + ")");
    }
    return detect_chat_template(file, requested);
  }
  if (!file.has("tokenizer.chat_template")) return std::nullopt;
  try {
    return detect_chat_template(file, "");
  } catch (const std::invalid_argument& e) {
    problem = "the model's chat template (tokenizer.chat_template \"" +
              template_excerpt(file.get_string("tokenizer.chat_template")) + "...\") is not supported: " + e.what() +
              "; start the server with --chat-template NAME (plain or a known family) or use /v1/completions";
    return std::nullopt;
  }
}

std::string chat_format_name(const ChatFormat& format) { return format ? format->name : "plain"; }

}  // namespace veloxquant::server
