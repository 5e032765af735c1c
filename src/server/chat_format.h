// Turning chat messages into a prompt. A model that carries a tokenizer.chat_template of a known
// family (llama3, chatml, gemma, phi3: src/runner/chat_template.h) is prompted as that template
// does, with special tokens parsed and generation ending at the model's end-of-turn tokens. A model
// without one gets the server's own format:
//
//   plain   each message on its own line as "System: …", "User: …" or "Assistant: …" (no space
//           after the colon when the content starts with white space), then "Assistant:" for the
//           reply; generation stops where the model starts a new "\nUser:" or "\nSystem:" line. A
//           space the model writes right after "Assistant:" is not part of the reply; sent back in
//           the next request's messages, the reply then gives the tokens the model generated, so
//           the cached session is reused.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "io/gguf.h"
#include "runner/chat_template.h"
#include "runner/tokenizer.h"

namespace veloxquant::server {

using veloxquant::ChatMessage;

struct ChatPrompt {
  std::string text;
  bool templated = false;         // the model's template: special tokens parsed, BOS as it says
  std::vector<std::string> stop;  // stop strings the format implies
  std::string strip_prefix;       // dropped from the start of the reply
};

// The server's chat format: a model's template, or plain (nullopt).
using ChatFormat = std::optional<ChatTemplate>;

ChatPrompt format_chat(const ChatFormat& format, const std::vector<ChatMessage>& messages);
std::vector<std::int32_t> chat_prompt_tokens(const ChatPrompt& prompt, const Tokenizer& tokenizer);

// The chat format for `file`: `requested` ("" for the model's own, "plain", or a template family
// name) or the model's own template. Where the model's template is of no known family and nothing
// was requested, returns plain with `problem` set: chat requests are then refused with that
// message. Throws std::invalid_argument naming an unknown `requested` format.
ChatFormat choose_chat_format(const GgufFile& file, const std::string& requested, std::string& problem);

// "plain" or the template's family name, for logs and /v1/models.
std::string chat_format_name(const ChatFormat& format);

}  // namespace veloxquant::server
