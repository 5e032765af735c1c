// Turning chat messages into a prompt. Models that carry `tokenizer.chat_template` need that
// template applied; this build has no template engine yet (the tokenizer work adds one,
// src/runner/chat_template.*), so it knows one named format only:
//
//   plain   for models without a template (the shared test model): each message on its own line as
//           "System: …", "User: …" or "Assistant: …" (no space after the colon when the content
//           starts with white space), then "Assistant:" for the reply; generation stops where the
//           model starts a new "\nUser:" or "\nSystem:" line. A space the model writes right after
//           "Assistant:" is not part of the reply; sent back in the next request's messages, the
//           reply then gives the tokens the model generated, so the cached session is reused.
//
// format_chat is the one place the server formats chats, so switching to the model's template
// changes only it.
#pragma once

#include <string>
#include <vector>

#include "io/gguf.h"

namespace veloxquant::server {

struct ChatMessage {
  std::string role;  // system, user or assistant
  std::string content;
};

struct ChatPrompt {
  std::string text;
  std::vector<std::string> stop;  // stop strings the format implies
  std::string strip_prefix;       // dropped from the start of the reply
};

ChatPrompt format_chat(const std::vector<ChatMessage>& messages);

// The chat format the server uses for `file`: `requested` ("" or "plain") or the model's own. Returns
// "plain", or "" with `problem` set when chat cannot be served (the model's template is unsupported:
// chat requests are then refused with that message). Throws std::invalid_argument naming an
// unknown `requested` format.
std::string choose_chat_format(const GgufFile& file, const std::string& requested, std::string& problem);

}  // namespace veloxquant::server
