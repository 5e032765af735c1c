#include "server/openai_json.h"

namespace veloxquant::server {

namespace {

Json envelope(const ResponseMeta& m, const char* object) {
  Json j = Json::object();
  j.set("id", Json::string(m.id));
  j.set("object", Json::string(object));
  j.set("created", Json::integer(m.created));
  j.set("model", Json::string(m.model));
  j.set("system_fingerprint", Json::string("veloxquant"));
  return j;
}

Json reason_json(const std::string& r) { return r.empty() ? Json() : Json::string(r); }

}  // namespace

Json usage_json(const GenerationResult& r) {
  Json u = Json::object();
  u.set("prompt_tokens", Json::unsigned_integer(r.prompt_tokens));
  u.set("completion_tokens", Json::unsigned_integer(r.completion_tokens));
  u.set("total_tokens", Json::unsigned_integer(r.prompt_tokens + r.completion_tokens));
  Json details = Json::object();  // OpenAI's name for prompt tokens served from a cache
  details.set("cached_tokens", Json::unsigned_integer(r.reused_tokens));
  u.set("prompt_tokens_details", std::move(details));
  return u;
}

Json completion_json(const ResponseMeta& m, const std::string& text, const GenerationResult& r) {
  Json j = envelope(m, m.chat ? "chat.completion" : "text_completion");
  Json choice = Json::object();
  choice.set("index", Json::integer(0));
  if (m.chat) {
    Json message = Json::object();
    message.set("role", Json::string("assistant"));
    message.set("content", Json::string(text));
    choice.set("message", std::move(message));
  } else {
    choice.set("text", Json::string(text));
  }
  choice.set("logprobs", Json());
  choice.set("finish_reason", reason_json(r.finish_reason));
  Json choices = Json::array();
  choices.push(std::move(choice));
  j.set("choices", std::move(choices));
  j.set("usage", usage_json(r));
  return j;
}

Json chunk_json(const ResponseMeta& m, const std::string& delta, const std::string& finish_reason, bool first) {
  Json j = envelope(m, m.chat ? "chat.completion.chunk" : "text_completion");
  Json choice = Json::object();
  choice.set("index", Json::integer(0));
  if (m.chat) {
    Json d = Json::object();
    if (first) d.set("role", Json::string("assistant"));
    if (!delta.empty() || first) d.set("content", Json::string(delta));
    choice.set("delta", std::move(d));
  } else {
    choice.set("text", Json::string(delta));
  }
  choice.set("logprobs", Json());
  choice.set("finish_reason", reason_json(finish_reason));
  Json choices = Json::array();
  choices.push(std::move(choice));
  j.set("choices", std::move(choices));
  return j;
}

Json usage_chunk_json(const ResponseMeta& m, const GenerationResult& r) {
  Json j = envelope(m, m.chat ? "chat.completion.chunk" : "text_completion");
  j.set("choices", Json::array());
  j.set("usage", usage_json(r));
  return j;
}

Json models_json(const std::string& model, std::int64_t created) {
  Json entry = Json::object();
  entry.set("id", Json::string(model));
  entry.set("object", Json::string("model"));
  entry.set("created", Json::integer(created));
  entry.set("owned_by", Json::string("veloxquant"));
  Json data = Json::array();
  data.push(std::move(entry));
  Json j = Json::object();
  j.set("object", Json::string("list"));
  j.set("data", std::move(data));
  return j;
}

std::string sse_event(const Json& body) { return "data: " + body.dump(0) + "\n\n"; }

}  // namespace veloxquant::server
