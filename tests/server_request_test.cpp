// Request bodies of /v1/completions and /v1/chat/completions: what is accepted, and that every bad
// input is a 400 naming the field and the problem.
#include <gtest/gtest.h>

#include <string>

#include "server/api_error.h"
#include "server/request_parse.h"

namespace veloxquant::server {
namespace {

// The ApiError a body gives, as "code param".
std::string refusal(const std::string& body, bool chat = false) {
  try {
    chat ? parse_chat_request(body) : parse_completion_request(body);
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 400) << body;
    EXPECT_FALSE(std::string(e.what()).empty());
    return e.code + " " + e.param;
  }
  return "accepted";
}

TEST(ServerRequest, ParsesACompletion) {
  const GenerationRequest r = parse_completion_request(
      R"({"model": "m", "prompt": "Once", "max_tokens": 12, "temperature": 0, "top_p": 0.5, "seed": -1,
          "stop": ["\n", "END"], "stream": true, "stream_options": {"include_usage": true}, "n": 1, "echo": false,
          "logprobs": null, "user": "ignored", "frequency_penalty": 0})");
  EXPECT_EQ(r.model, "m");
  EXPECT_EQ(r.prompt, "Once");
  EXPECT_FALSE(r.chat);
  EXPECT_EQ(r.max_tokens, 12);
  EXPECT_EQ(r.temperature, 0.0);
  EXPECT_EQ(r.top_p, 0.5);
  EXPECT_EQ(r.seed, ~std::uint64_t{0});
  EXPECT_EQ(r.stop, (std::vector<std::string>{"\n", "END"}));
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  const GenerationRequest d = parse_completion_request(R"({"model": "m", "prompt": ["x"], "max_tokens": null})");
  EXPECT_EQ(d.prompt, "x");
  EXPECT_FALSE(d.max_tokens);
  EXPECT_EQ(d.temperature, 1.0);
  EXPECT_FALSE(d.seed);
  EXPECT_FALSE(d.stream);
}

TEST(ServerRequest, ParsesAChat) {
  const GenerationRequest r = parse_chat_request(
      R"({"model": "m", "messages": [{"role": "developer", "content": "be kind"},
          {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
          {"role": "assistant", "content": "c", "name": "x"}], "max_completion_tokens": 5, "max_tokens": 9,
          "tools": [], "response_format": {"type": "text"}})");
  ASSERT_EQ(r.messages.size(), 3u);
  EXPECT_EQ(r.messages[0].role, "system");
  EXPECT_EQ(r.messages[1].content, "ab");
  EXPECT_EQ(r.max_tokens, 5);
  EXPECT_EQ(r.max_tokens_field, "max_completion_tokens");
}

TEST(ServerRequest, RefusesBadBodies) {
  EXPECT_EQ(refusal("{\"model\": \"m\", \"prompt\": \"\xFF\"}"), "invalid_utf8 ");
  EXPECT_EQ(refusal("{\"model\": \"m\", \"prompt\": "), "invalid_json ");
  EXPECT_EQ(refusal("[1, 2]"), "invalid_json ");
  EXPECT_EQ(refusal(""), "invalid_json ");
  EXPECT_EQ(refusal(R"({"prompt": "x"})"), "missing_field model");
  EXPECT_EQ(refusal(R"({"model": 3, "prompt": "x"})"), "invalid_type model");
  EXPECT_EQ(refusal(R"({"model": "m"})"), "missing_field prompt");
  EXPECT_EQ(refusal(R"({"model": "m", "prompt": 7})"), "invalid_type prompt");
  EXPECT_EQ(refusal(R"({"model": "m", "prompt": ["a", "b"]})"), "unsupported prompt");
  EXPECT_EQ(refusal(R"({"model": "m", "prompt": [1, 2]})"), "unsupported prompt");
  EXPECT_EQ(refusal(R"({"model": "m", "prompt": "x", "max_tokens": "9"})"), "invalid_type max_tokens");
  EXPECT_EQ(refusal(R"({"model": "m", "prompt": "x", "max_tokens": 0})"), "invalid_value max_tokens");
  EXPECT_EQ(refusal(R"({"model": "m", "prompt": "x", "max_tokens": -5})"), "invalid_value max_tokens");
  EXPECT_EQ(refusal(R"({"model": "m", "prompt": "x", "max_tokens": 2.5})"), "invalid_value max_tokens");
  EXPECT_EQ(refusal(R"({"model": "m", "prompt": "x", "max_tokens": 1e400})"), "invalid_value max_tokens");
  EXPECT_EQ(refusal(R"({"model": "m", "prompt": "x", "max_tokens": 99999999999999999999999})"),
            "invalid_value max_tokens");
  EXPECT_EQ(refusal(R"({"model": "m", "prompt": "x", "temperature": 2.5})"), "invalid_value temperature");
  EXPECT_EQ(refusal(R"({"model": "m", "prompt": "x", "temperature": -0.1})"), "invalid_value temperature");
  EXPECT_EQ(refusal(R"({"model": "m", "prompt": "x", "temperature": "hot"})"), "invalid_type temperature");
  EXPECT_EQ(refusal(R"({"model": "m", "prompt": "x", "top_p": 0})"), "invalid_value top_p");
  EXPECT_EQ(refusal(R"({"model": "m", "prompt": "x", "top_p": 1.01})"), "invalid_value top_p");
  EXPECT_EQ(refusal(R"({"model": "m", "prompt": "x", "seed": 1.5})"), "invalid_value seed");
  EXPECT_EQ(refusal(R"({"model": "m", "prompt": "x", "seed": "1"})"), "invalid_type seed");
  EXPECT_EQ(refusal(R"({"model": "m", "prompt": "x", "stop": 3})"), "invalid_type stop");
  EXPECT_EQ(refusal(R"({"model": "m", "prompt": "x", "stop": ["a", "b", "c", "d", "e"]})"), "invalid_value stop");
  EXPECT_EQ(refusal(R"({"model": "m", "prompt": "x", "stop": [""]})"), "invalid_value stop");
  EXPECT_EQ(refusal(R"({"model": "m", "prompt": "x", "stream": "yes"})"), "invalid_type stream");
  EXPECT_EQ(refusal(R"({"model": "m", "prompt": "x", "stream_options": 1})"), "invalid_type stream_options");
  EXPECT_EQ(refusal(R"({"model": "m", "prompt": "x", "n": 2})"), "unsupported n");
  EXPECT_EQ(refusal(R"({"model": "m", "prompt": "x", "echo": true})"), "unsupported echo");
  EXPECT_EQ(refusal(R"({"model": "m", "prompt": "x", "logprobs": 5})"), "unsupported logprobs");
  EXPECT_EQ(refusal(R"({"model": "m", "prompt": "x", "presence_penalty": 0.5})"), "unsupported presence_penalty");
  EXPECT_EQ(refusal(R"({"model": "m", "prompt": "x", "logit_bias": {"5": 10}})"), "unsupported logit_bias");
  EXPECT_EQ(refusal(R"({"model": "m", "prompt": "x", "best_of": 3})"), "unsupported best_of");
}

TEST(ServerRequest, RefusesBadChats) {
  EXPECT_EQ(refusal(R"({"model": "m"})", true), "missing_field messages");
  EXPECT_EQ(refusal(R"({"model": "m", "messages": {}})", true), "invalid_type messages");
  EXPECT_EQ(refusal(R"({"model": "m", "messages": []})", true), "invalid_value messages");
  EXPECT_EQ(refusal(R"({"model": "m", "messages": ["hi"]})", true), "invalid_type messages[0]");
  EXPECT_EQ(refusal(R"({"model": "m", "messages": [{"content": "hi"}]})", true), "missing_field messages[0].role");
  EXPECT_EQ(refusal(R"({"model": "m", "messages": [{"role": "robot", "content": "hi"}]})", true),
            "invalid_value messages[0].role");
  EXPECT_EQ(refusal(R"({"model": "m", "messages": [{"role": "user"}]})", true), "missing_field messages[0].content");
  EXPECT_EQ(refusal(R"({"model": "m", "messages": [{"role": "user", "content": 5}]})", true),
            "invalid_type messages[0].content");
  EXPECT_EQ(refusal(R"({"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]})", true),
            "unsupported messages[0].content");
  EXPECT_EQ(
      refusal(R"({"model": "m", "messages": [{"role": "user", "content": "x"}], "max_completion_tokens": 0})", true),
      "invalid_value max_completion_tokens");
  EXPECT_EQ(
      refusal(R"({"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]})",
              true),
      "unsupported tools");
  EXPECT_EQ(
      refusal(
          R"({"model": "m", "messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"}})",
          true),
      "unsupported response_format");
}

TEST(ServerRequest, ErrorJsonHasOpenAIsShape) {
  const ApiError e(429, "kv_budget_exceeded", "too big");
  EXPECT_EQ(
      error_json(e).dump(0),
      R"({"error": {"message": "too big", "type": "capacity_error", "param": null, "code": "kv_budget_exceeded"}})");
  EXPECT_EQ(
      error_json(bad_request("top_p", "no")).dump(0),
      R"({"error": {"message": "no", "type": "invalid_request_error", "param": "top_p", "code": "invalid_value"}})");
}

}  // namespace
}  // namespace veloxquant::server
