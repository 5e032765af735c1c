// The response bodies of the OpenAI API: completions and chat completions, whole or as stream
// chunks (server-sent events, "data: {json}\n\n", ending with "data: [DONE]\n\n"), and /v1/models.
#pragma once

#include <cstdint>
#include <string>

#include "io/json.h"
#include "server/generation.h"

namespace veloxquant::server {

struct ResponseMeta {
  std::string id;  // "cmpl-…" or "chatcmpl-…"
  std::int64_t created = 0;
  std::string model;
  bool chat = false;
};

Json usage_json(const GenerationResult& r);
Json completion_json(const ResponseMeta& meta, const std::string& text, const GenerationResult& r);
// One stream chunk: `delta` text (chat: the first chunk also carries role "assistant"), and
// finish_reason on the last (empty: null).
Json chunk_json(const ResponseMeta& meta, const std::string& delta, const std::string& finish_reason, bool first);
// The chunk with usage and no choices that stream_options.include_usage asks for.
Json usage_chunk_json(const ResponseMeta& meta, const GenerationResult& r);
Json models_json(const std::string& model, std::int64_t created);

std::string sse_event(const Json& body);  // "data: " + one-line JSON + "\n\n"

}  // namespace veloxquant::server
