// The HTTP side of `veloxquant serve` (cpp-httplib; the only file that includes it is
// http_server.cpp): routes, the API key, body size limit and timeouts, request parsing, and the
// hand-over to the engine; streaming responses as server-sent events. Endpoints:
//   POST /v1/completions, POST /v1/chat/completions   (stream: true → text/event-stream)
//   GET  /v1/models, /v1/models/{id}, /health, /metrics (Prometheus), /sessions (JSON), / (page)
// Every error is a JSON body {"error": {...}} with its status (api_error.h).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "runner/tokenizer.h"
#include "server/chat_format.h"
#include "server/engine.h"
#include "server/metrics.h"

namespace veloxquant::server {

struct HttpOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                 // 0: any free port (bind() tells which)
  std::string api_key;             // empty: no key; else /v1/* needs "Authorization: Bearer KEY"
  std::size_t max_body = 1 << 20;  // bytes of a request body (413 beyond)
  int timeout_s = 10;              // read and write timeout of a connection (slow clients)
  std::size_t threads = 0;         // connection threads (0: max_sessions + max_queue + 8)
  ChatFormat chat_format;          // the model's template, or plain (chat_format.h)
  std::string chat_problem;        // non-empty: chat requests are refused with this message
};

class HttpServer {
 public:
  using Log = std::function<void(const std::string&)>;
  HttpServer(Engine& engine, const Tokenizer& tokenizer, ServerInfo info, HttpOptions options, Log log);
  ~HttpServer();

  int bind();  // returns the port; throws std::runtime_error when the address cannot be bound
  void run();  // serves until stop()
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace veloxquant::server
