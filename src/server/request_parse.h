// Parsing and checking the bodies of POST /v1/completions and /v1/chat/completions. Every problem
// is an ApiError (400) naming the field and the bad value; fields this server does not implement
// are refused when they ask for something (n > 1, echo, logprobs, penalties, tools, ...), so a
// client never silently gets a different behaviour. Fields unknown to the server are ignored.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/chat_format.h"
#include "server/sampler.h"

namespace veloxquant::server {

inline constexpr std::size_t kMaxStopStrings = 4;  // as OpenAI
inline constexpr std::size_t kMaxStopBytes = 256;

struct GenerationRequest {
  std::string model;
  bool chat = false;
  std::string prompt;                 // completions
  std::vector<ChatMessage> messages;  // chat
  std::optional<std::int64_t> max_tokens;
  std::string max_tokens_field = "max_tokens";  // or chat's max_completion_tokens, for messages
  double temperature = 1.0;
  double top_p = 1.0;
  std::optional<std::uint64_t> seed;  // a negative JSON seed is taken modulo 2^64
  std::vector<std::string> stop;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
};

// Throws ApiError: invalid UTF-8 (code invalid_utf8), malformed JSON (invalid_json), wrong types
// (invalid_type), values out of range (invalid_value), a missing field (missing_field), an
// unsupported feature (unsupported).
GenerationRequest parse_completion_request(std::string_view body);
GenerationRequest parse_chat_request(std::string_view body);

}  // namespace veloxquant::server
