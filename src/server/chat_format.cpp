#include "server/chat_format.h"

#include <cctype>
#include <stdexcept>

#include "server/utf8.h"

namespace veloxquant::server {

ChatPrompt format_chat(const std::vector<ChatMessage>& messages) {
  ChatPrompt p;
  for (const ChatMessage& m : messages) {
    const char* name = m.role == "system" ? "System" : m.role == "user" ? "User" : "Assistant";
    // "Name:" and a space, unless the content starts with white space itself (a reply the model
    // began with a newline): the text then tokenizes as the model generated it.
    const bool spaced = !m.content.empty() && std::isspace(static_cast<unsigned char>(m.content[0]));
    p.text += std::string(name) + (spaced ? ":" : ": ") + m.content + "\n";
  }
  p.text += "Assistant:";
  p.stop = {"\nUser:", "\nSystem:"};
  p.strip_prefix = " ";
  return p;
}

std::string choose_chat_format(const GgufFile& file, const std::string& requested, std::string& problem) {
  problem.clear();
  if (!requested.empty() && requested != "plain")
    throw std::invalid_argument("unknown chat template '" + requested + "' (this build knows: plain)");
  if (requested == "plain") return "plain";
  if (file.has("tokenizer.chat_template")) {
    std::string excerpt = file.get_string("tokenizer.chat_template");
    excerpt = utf8_replace_invalid(excerpt.substr(0, utf8_complete_length(excerpt.substr(0, 60))));
    for (char& c : excerpt)
      if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    problem = "the model's chat template (tokenizer.chat_template \"" + excerpt +
              "...\") is not supported by this build; start the server with --chat-template plain to use the "
              "plain format, or use /v1/completions";
    return "";
  }
  return "plain";
}

}  // namespace veloxquant::server
