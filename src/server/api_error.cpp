#include "server/api_error.h"

#include <utility>

namespace veloxquant::server {

namespace {
std::string type_for(int status) {
  if (status == 401) return "authentication_error";
  if (status == 429 || status == 503) return "capacity_error";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}
}  // namespace

ApiError::ApiError(int status_, std::string code_, const std::string& message, std::string param_)
    : std::runtime_error(message),
      status(status_),
      type(type_for(status_)),
      code(std::move(code_)),
      param(std::move(param_)) {}

Json error_json(const ApiError& e) {
  Json inner = Json::object();
  inner.set("message", Json::string(e.what()));
  inner.set("type", Json::string(e.type));
  inner.set("param", e.param.empty() ? Json() : Json::string(e.param));
  inner.set("code", Json::string(e.code));
  Json out = Json::object();
  out.set("error", std::move(inner));
  return out;
}

ApiError bad_request(const std::string& param, const std::string& message, const std::string& code) {
  return ApiError(400, code, message, param);
}

}  // namespace veloxquant::server
