// The one error type of the HTTP API: an HTTP status, OpenAI's error `type`, a machine-readable
// `code`, the request field at fault (`param`, may be empty) and a message naming the bad value.
// Sent as {"error": {"message", "type", "param", "code"}} (OpenAI's shape).
#pragma once

#include <stdexcept>
#include <string>

#include "io/json.h"

namespace veloxquant::server {

struct ApiError : std::runtime_error {
  ApiError(int status, std::string code, const std::string& message, std::string param = "");

  int status;
  std::string type;  // from the status: invalid_request_error, authentication_error, ...
  std::string code;
  std::string param;
};

Json error_json(const ApiError& e);

// 400 with code "invalid_value" (or the code given) for request field `param`.
ApiError bad_request(const std::string& param, const std::string& message, const std::string& code = "invalid_value");

}  // namespace veloxquant::server
