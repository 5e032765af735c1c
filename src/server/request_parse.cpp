#include "server/request_parse.h"

#include <cmath>
#include <stdexcept>

#include "io/json.h"
#include "server/api_error.h"
#include "server/utf8.h"

namespace veloxquant::server {

namespace {

ApiError wrong_type(const std::string& name, const char* expected, const Json& got) {
  return bad_request(name, "'" + name + "' must be " + expected + ", got " + got.type_description(), "invalid_type");
}

Json parse_body(std::string_view body) {
  if (const std::size_t at = utf8_error_offset(body); at != kUtf8Valid)
    throw ApiError(400, "invalid_utf8", "the request body is not valid UTF-8 (byte " + std::to_string(at) + ")");
  Json j;
  try {
    j = Json::parse(body);
  } catch (const std::runtime_error& e) {
    throw ApiError(400, "invalid_json", std::string("the request body is not valid JSON: ") + e.what());
  }
  if (!j.is_object())
    throw ApiError(400, "invalid_json",
                   std::string("the request body must be a JSON object, got ") + j.type_description());
  return j;
}

// The field, or nullptr when absent or null (OpenAI treats null as "not given").
const Json* field(const Json& body, const std::string& name) {
  const Json* f = body.find(name);
  return f && f->type() != Json::Type::kNull ? f : nullptr;
}

const std::string& string_field(const Json& f, const std::string& name) {
  if (f.type() != Json::Type::kString) throw wrong_type(name, "a string", f);
  return f.as_string(name);
}

double number_field(const Json& f, const std::string& name, double lo, double hi, bool lo_open) {
  if (f.type() != Json::Type::kNumber) throw wrong_type(name, "a number", f);
  const double v = f.as_double(name);
  if (!std::isfinite(v) || v > hi || (lo_open ? v <= lo : v < lo))
    throw bad_request(name, "'" + name + "' must be in " + (lo_open ? "(" : "[") + Json::number(lo).dump() + ", " +
                                Json::number(hi).dump() + "], got " + f.dump(0));
  return v;
}

std::int64_t integer_field(const Json& f, const std::string& name) {
  if (f.type() != Json::Type::kNumber) throw wrong_type(name, "an integer", f);
  try {
    return f.as_int(name);
  } catch (const std::runtime_error&) {
    throw bad_request(name, "'" + name + "' must be a 64-bit integer, got " + f.dump(0));
  }
}

// A field this server does not implement: allowed only with the value that asks for nothing.
void refuse_unless(const Json& body, const std::string& name, bool (*harmless)(const Json&)) {
  if (const Json* f = field(body, name); f && !harmless(*f))
    throw bad_request(name, "'" + name + "' = " + f->dump(0) + " is not supported by this server", "unsupported");
}
bool is_false(const Json& f) { return f.type() == Json::Type::kBool && !f.as_bool(""); }
bool is_one(const Json& f) { return f.type() == Json::Type::kNumber && f.dump(0) == "1"; }
bool is_zero(const Json& f) { return f.type() == Json::Type::kNumber && f.as_double("") == 0.0; }
bool is_empty(const Json& f) {
  return (f.type() == Json::Type::kArray && f.as_array("").empty()) ||
         (f.type() == Json::Type::kObject && f.items().empty()) ||
         (f.type() == Json::Type::kString && f.as_string("").empty());
}
bool is_none(const Json& f) { return f.type() == Json::Type::kString && f.as_string("") == "none"; }
bool is_text_format(const Json& f) {
  const Json* t = f.find("type");
  return f.is_object() && t && t->type() == Json::Type::kString && t->as_string("") == "text";
}

void parse_common(const Json& body, GenerationRequest& r) {
  const Json* model = field(body, "model");
  if (!model) throw bad_request("model", "missing required field 'model'", "missing_field");
  r.model = string_field(*model, "model");

  std::string name = "max_tokens";  // chat: the newer max_completion_tokens wins when both are given
  if (r.chat && field(body, "max_completion_tokens")) name = "max_completion_tokens";
  r.max_tokens_field = name;
  if (const Json* max_tokens = field(body, name)) {
    r.max_tokens = integer_field(*max_tokens, name);
    if (*r.max_tokens < 1) throw bad_request(name, "'" + name + "' must be ≥ 1, got " + max_tokens->dump(0));
  }
  if (const Json* t = field(body, "temperature")) r.temperature = number_field(*t, "temperature", 0.0, 2.0, false);
  if (const Json* p = field(body, "top_p")) r.top_p = number_field(*p, "top_p", 0.0, 1.0, true);
  if (const Json* s = field(body, "seed")) {
    if (s->type() != Json::Type::kNumber) throw wrong_type("seed", "an integer", *s);
    try {
      r.seed = static_cast<std::uint64_t>(s->as_int("seed"));
    } catch (const std::runtime_error&) {
      try {
        r.seed = s->as_u64("seed");
      } catch (const std::runtime_error&) {
        throw bad_request("seed", "'seed' must be a 64-bit integer, got " + s->dump(0));
      }
    }
  }
  if (const Json* stop = field(body, "stop")) {
    if (stop->type() == Json::Type::kString) {
      r.stop.push_back(stop->as_string("stop"));
    } else if (stop->type() == Json::Type::kArray) {
      if (stop->as_array("stop").size() > kMaxStopStrings)
        throw bad_request("stop", "'stop' holds " + std::to_string(stop->as_array("stop").size()) +
                                      " strings; at most " + std::to_string(kMaxStopStrings) + " are allowed");
      for (const Json& s : stop->as_array("stop")) r.stop.push_back(string_field(s, "stop"));
    } else {
      throw wrong_type("stop", "a string or an array of strings", *stop);
    }
    for (const std::string& s : r.stop)
      if (s.empty() || s.size() > kMaxStopBytes)
        throw bad_request("stop", "every stop string must have 1 to " + std::to_string(kMaxStopBytes) +
                                      " bytes, got one of " + std::to_string(s.size()));
  }
  if (const Json* s = field(body, "stream")) {
    if (s->type() != Json::Type::kBool) throw wrong_type("stream", "a boolean", *s);
    r.stream = s->as_bool("stream");
  }
  if (const Json* o = field(body, "stream_options")) {
    if (!o->is_object()) throw wrong_type("stream_options", "an object", *o);
    if (const Json* u = field(*o, "include_usage")) {
      if (u->type() != Json::Type::kBool) throw wrong_type("stream_options.include_usage", "a boolean", *u);
      r.include_usage = u->as_bool("include_usage");
    }
  }
  refuse_unless(body, "n", is_one);
  refuse_unless(body, "frequency_penalty", is_zero);
  refuse_unless(body, "presence_penalty", is_zero);
  refuse_unless(body, "logit_bias", is_empty);
}

}  // namespace

GenerationRequest parse_completion_request(std::string_view text) {
  const Json body = parse_body(text);
  GenerationRequest r;
  parse_common(body, r);
  const Json* prompt = field(body, "prompt");
  if (!prompt) throw bad_request("prompt", "missing required field 'prompt'", "missing_field");
  if (prompt->type() == Json::Type::kString) {
    r.prompt = prompt->as_string("prompt");
  } else if (prompt->type() == Json::Type::kArray && prompt->as_array("prompt").size() == 1 &&
             prompt->as_array("prompt")[0].type() == Json::Type::kString) {
    r.prompt = prompt->as_array("prompt")[0].as_string("prompt");
  } else if (prompt->type() == Json::Type::kArray) {
    throw bad_request("prompt",
                      "'prompt' must be a string or an array of one string (batches of prompts and token ids are not "
                      "supported)",
                      "unsupported");
  } else {
    throw wrong_type("prompt", "a string", *prompt);
  }
  refuse_unless(body, "best_of", is_one);
  refuse_unless(body, "echo", is_false);
  refuse_unless(body, "logprobs", is_false);
  refuse_unless(body, "suffix", is_empty);
  return r;
}

GenerationRequest parse_chat_request(std::string_view text) {
  const Json body = parse_body(text);
  GenerationRequest r;
  r.chat = true;
  parse_common(body, r);
  const Json* messages = field(body, "messages");
  if (!messages) throw bad_request("messages", "missing required field 'messages'", "missing_field");
  if (messages->type() != Json::Type::kArray) throw wrong_type("messages", "an array", *messages);
  if (messages->as_array("messages").empty()) throw bad_request("messages", "'messages' must not be empty");
  std::size_t i = 0;
  for (const Json& m : messages->as_array("messages")) {
    const std::string at = "messages[" + std::to_string(i++) + "]";
    if (!m.is_object()) throw wrong_type(at, "an object", m);
    const Json* role = field(m, "role");
    if (!role) throw bad_request(at + ".role", "missing required field '" + at + ".role'", "missing_field");
    ChatMessage msg;
    msg.role = string_field(*role, at + ".role");
    if (msg.role == "developer") msg.role = "system";
    if (msg.role != "system" && msg.role != "user" && msg.role != "assistant")
      throw bad_request(at + ".role",
                        "'" + at + ".role' must be system, developer, user or assistant, got '" + msg.role + "'");
    const Json* content = field(m, "content");
    if (!content) throw bad_request(at + ".content", "missing required field '" + at + ".content'", "missing_field");
    if (content->type() == Json::Type::kString) {
      msg.content = content->as_string("content");
    } else if (content->type() == Json::Type::kArray) {  // content parts: only text parts
      for (const Json& part : content->as_array("content")) {
        const Json* type = part.is_object() ? field(part, "type") : nullptr;
        const Json* t = part.is_object() ? field(part, "text") : nullptr;
        if (!type || type->type() != Json::Type::kString || type->as_string("type") != "text" || !t)
          throw bad_request(at + ".content",
                            "only text content parts ({\"type\": \"text\", \"text\": ...}) are supported",
                            "unsupported");
        msg.content += string_field(*t, at + ".content[].text");
      }
    } else {
      throw wrong_type(at + ".content", "a string or an array of text parts", *content);
    }
    r.messages.push_back(std::move(msg));
  }
  refuse_unless(body, "logprobs", is_false);
  refuse_unless(body, "top_logprobs", is_zero);
  refuse_unless(body, "tools", is_empty);
  refuse_unless(body, "functions", is_empty);
  refuse_unless(body, "tool_choice", is_none);
  refuse_unless(body, "response_format", is_text_format);
  return r;
}

}  // namespace veloxquant::server
