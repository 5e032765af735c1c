#include "server/http_server.h"

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>

#include "math/prng.h"
#include "server/api_error.h"
#include "server/chat_format.h"
#include "server/openai_json.h"
#include "server/request_parse.h"
#include "server/web_page.h"

namespace veloxquant::server {

namespace {

constexpr auto kKeepAliveEvery = std::chrono::milliseconds(1000);  // SSE comment while nothing else is sent

void send_json(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_content(body.dump(0) + "\n", "application/json");
}

void send_error(httplib::Response& res, const ApiError& e) { send_json(res, e.status, error_json(e)); }

// Comparison in time independent of where the keys differ (the length may show).
bool same_key(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i]);
  return diff == 0;
}

// One call of a stream's content provider: waits for text, the end, or a second of nothing, and
// writes that as events (a keep-alive comment for nothing), so a client that left is found by the
// next write. The chat stream starts with the role at once. False when the client is gone.
bool write_stream_part(Generation& g, const ResponseMeta& meta, bool include_usage, bool& first,
                       httplib::DataSink& sink) {
  std::string text, out;
  const bool done = first && meta.chat ? false : g.wait_output(text, kKeepAliveEvery);
  if (!text.empty() || (first && meta.chat)) {
    out += sse_event(chunk_json(meta, text, "", first));
    first = false;
  }
  if (done) {
    if (std::optional<ApiError> e = g.error()) {
      out += sse_event(error_json(*e));
    } else {
      const GenerationResult r = g.result();
      out += sse_event(chunk_json(meta, "", r.finish_reason, first));
      if (include_usage) out += sse_event(usage_chunk_json(meta, r));
    }
    out += "data: [DONE]\n\n";
  }
  if (out.empty()) out = ": keep-alive\n\n";
  if (!sink.write(out.data(), out.size())) {
    g.cancel();
    return false;
  }
  if (done) sink.done();
  return true;
}

}  // namespace

struct HttpServer::Impl {
  Engine& engine;
  const Tokenizer& tokenizer;
  ServerInfo info;
  HttpOptions options;
  Log log;
  httplib::Server http;
  RequestCounter requests;
  std::atomic<std::uint64_t> counter{0};
  const std::uint64_t boot = static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
  const std::int64_t created = static_cast<std::int64_t>(std::time(nullptr));

  Impl(Engine& e, const Tokenizer& t, ServerInfo i, HttpOptions o, Log l)
      : engine(e), tokenizer(t), info(std::move(i)), options(std::move(o)), log(std::move(l)) {}

  std::uint64_t fresh_random() { return derive_seed(boot, counter++); }

  std::string fresh_id(const char* prefix) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%s-%016llx", prefix, static_cast<unsigned long long>(fresh_random()));
    return buf;
  }

  void routes();
  void generate(const httplib::Request& req, httplib::Response& res, bool chat);
  void stream(httplib::Response& res, std::shared_ptr<Generation> g, const ResponseMeta& meta, bool include_usage);

  // Runs a handler; ApiError and anything else thrown become JSON errors.
  template <typename F>
  httplib::Server::Handler guard(F f) {
    return [this, f](const httplib::Request& req, httplib::Response& res) {
      try {
        f(req, res);
      } catch (const ApiError& e) {
        if (e.status >= 500) log(req.method + " " + req.path + ": " + e.what());
        send_error(res, e);
      } catch (const std::exception& e) {
        log(req.method + " " + req.path + ": internal error: " + e.what());
        send_error(res, ApiError(500, "internal_error", std::string("internal error: ") + e.what()));
      }
    };
  }
};

void HttpServer::Impl::generate(const httplib::Request& req, httplib::Response& res, bool chat) {
  GenerationRequest r = chat ? parse_chat_request(req.body) : parse_completion_request(req.body);
  if (r.model != info.model)
    throw ApiError(404, "model_not_found",
                   "the model '" + r.model + "' does not exist; this server serves '" + info.model + "'", "model");
  GenerationJob job;
  if (chat) {
    if (!options.chat_problem.empty())
      throw ApiError(400, "unsupported_chat_template", options.chat_problem, "messages");
    ChatPrompt p = format_chat(options.chat_format, r.messages);
    job.prompt = chat_prompt_tokens(p, tokenizer);
    job.strip_prefix = std::move(p.strip_prefix);
    for (std::string& s : p.stop) r.stop.push_back(std::move(s));
  } else {
    job.prompt = tokenizer.encode(r.prompt, tokenizer.add_bos());
  }
  const std::size_t n = job.prompt.size(), ctx = info.ctx;
  const char* what = chat ? "messages" : "prompt";
  if (n == 0) throw bad_request(what, "the prompt is empty");
  if (n >= ctx)
    throw ApiError(400, "context_length_exceeded",
                   "the prompt has " + std::to_string(n) + " tokens; the context holds " + std::to_string(ctx) +
                       " (prompt and at least one generated token)",
                   what);
  const std::string& max_name = r.max_tokens_field;
  if (r.max_tokens && static_cast<std::uint64_t>(*r.max_tokens) > ctx - n)
    throw ApiError(400, "context_length_exceeded",
                   "'" + max_name + "' " + std::to_string(*r.max_tokens) + " plus the prompt's " + std::to_string(n) +
                       " tokens exceed the context of " + std::to_string(ctx) + " tokens (at most " +
                       std::to_string(ctx - n) + " can be generated)",
                   max_name);
  job.max_tokens = r.max_tokens ? static_cast<std::size_t>(*r.max_tokens) : ctx - n;
  job.sampling.temperature = r.temperature;
  job.sampling.top_p = r.top_p;
  job.sampling.seed = r.seed ? *r.seed : fresh_random();
  job.stop = r.stop;

  std::shared_ptr<Generation> g = engine.submit(std::move(job));
  if (std::optional<ApiError> refused = g->wait_admitted()) throw *refused;
  const ResponseMeta meta{fresh_id(chat ? "chatcmpl" : "cmpl"), static_cast<std::int64_t>(std::time(nullptr)),
                          info.model, chat};
  if (r.stream) return stream(res, std::move(g), meta, r.include_usage);
  // Not streamed: the client is only written to at the end, so one that leaves is noticed then
  // (the generation is bounded by max_tokens).
  std::string out;
  while (!g->wait_output(out, std::chrono::seconds(1))) {
  }
  if (std::optional<ApiError> failed = g->error()) throw *failed;
  send_json(res, 200, completion_json(meta, out, g->result()));
}

void HttpServer::Impl::stream(httplib::Response& res, std::shared_ptr<Generation> g, const ResponseMeta& meta,
                              bool include_usage) {
  struct State {
    std::shared_ptr<Generation> g;
    ResponseMeta meta;
    bool include_usage, first = true;
  };
  auto st = std::make_shared<State>(State{std::move(g), meta, include_usage});
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider(
      "text/event-stream",
      [st](std::size_t, httplib::DataSink& sink) {
        try {
          return write_stream_part(*st->g, st->meta, st->include_usage, st->first, sink);
        } catch (const std::exception&) {  // out of memory: end this stream, not the server
          st->g->cancel();
          return false;
        }
      },
      [st](bool success) {
        if (!success) st->g->cancel();  // the connection ended before the stream did
      });
}

void HttpServer::Impl::routes() {
  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (req.path.rfind("/v1/", 0) != 0) return httplib::Server::HandlerResponse::Unhandled;
    // cpp-httplib parses form bodies as form fields, capped at 8 KiB; curl -d sends that type by
    // default, so say what to send instead of failing on the size. (Before the body is read.)
    if (req.get_header_value("Content-Type").rfind("application/x-www-form-urlencoded", 0) == 0) {
      send_error(res, ApiError(415, "unsupported_media_type",
                               "send the body as JSON with 'Content-Type: application/json' (curl: -H "
                               "'Content-Type: application/json'), not as a form"));
      return httplib::Server::HandlerResponse::Handled;
    }
    if (options.api_key.empty()) return httplib::Server::HandlerResponse::Unhandled;
    const std::string auth = req.get_header_value("Authorization");
    if (auth.rfind("Bearer ", 0) == 0 && same_key(auth.substr(7), options.api_key))
      return httplib::Server::HandlerResponse::Unhandled;
    send_error(res, ApiError(401, "invalid_api_key",
                             auth.empty() ? "missing API key (send 'Authorization: Bearer KEY')" : "invalid API key"));
    return httplib::Server::HandlerResponse::Handled;
  });
  // Errors httplib answers itself (unknown route, body over the limit, bad request line) get a JSON
  // body too; handlers' own errors already have one.
  http.set_error_handler(httplib::Server::HandlerWithResponse([this](const httplib::Request& req,
                                                                     httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    const std::string limit = "the server's limit of " + std::to_string(options.max_body) + " bytes (--max-body)";
    if (res.status == 404)
      send_error(res, ApiError(404, "not_found", "no endpoint " + req.method + " " + req.path));
    else if (res.status == 413)
      send_error(res, ApiError(413, "request_too_large", "the request body exceeds " + limit));
    else if (res.status == 400 && req.get_header_value("Transfer-Encoding").find("chunked") != std::string::npos)
      // cpp-httplib 0.11 answers a chunked body beyond the limit with 400, like a malformed one.
      send_error(res, ApiError(400, "unreadable_body",
                               "the chunked request body could not be read: longer than " + limit + ", or malformed"));
    else
      send_error(res, ApiError(res.status, "bad_request",
                               "the server could not read the request (HTTP " + std::to_string(res.status) + ")"));
    return httplib::Server::HandlerResponse::Handled;
  }));
  http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    static const char* const known[] = {
        "/v1/completions", "/v1/chat/completions", "/v1/models", "/health", "/metrics", "/sessions", "/"};
    std::string endpoint = "other";
    for (const char* k : known)
      if (req.path == k) endpoint = k;
    if (req.path.rfind("/v1/models/", 0) == 0) endpoint = "/v1/models";
    requests.add(endpoint, res.status);
  });

  http.Post("/v1/completions", guard([this](const auto& req, auto& res) { generate(req, res, false); }));
  http.Post("/v1/chat/completions", guard([this](const auto& req, auto& res) { generate(req, res, true); }));
  http.Get("/v1/models",
           guard([this](const auto&, auto& res) { send_json(res, 200, models_json(info.model, created)); }));
  http.Get("/v1/models/(.+)", guard([this](const httplib::Request& req, auto& res) {
             if (req.matches[1] != info.model)
               throw ApiError(404, "model_not_found", "the model '" + std::string(req.matches[1]) + "' does not exist");
             send_json(res, 200, models_json(info.model, created).at("data").as_array("data")[0]);
           }));
  http.Get("/health", guard([this](const auto&, auto& res) {
             const EngineStats s = engine.stats();
             std::size_t active = 0;
             for (const SessionInfo& x : s.sessions) active += x.active;
             Json j = Json::object();
             j.set("status", Json::string("ok"));
             j.set("sessions_active", Json::unsigned_integer(active));
             j.set("sessions_idle", Json::unsigned_integer(s.sessions.size() - active));
             j.set("queue_depth", Json::unsigned_integer(s.queue_depth));
             send_json(res, 200, j);
           }));
  http.Get("/metrics", guard([this](const auto&, auto& res) {
             res.set_content(metrics_text(engine.stats(), info, requests), "text/plain; version=0.0.4");
           }));
  http.Get("/sessions",
           guard([this](const auto&, auto& res) { send_json(res, 200, sessions_json(engine.stats(), info)); }));
  http.Get("/", guard([](const auto&, auto& res) { res.set_content(web_page_html(), "text/html; charset=utf-8"); }));
}

HttpServer::HttpServer(Engine& engine, const Tokenizer& tokenizer, ServerInfo info, HttpOptions options, Log log)
    : impl_(std::make_unique<Impl>(engine, tokenizer, std::move(info), std::move(options), std::move(log))) {
  Impl& m = *impl_;
  const EngineOptions& eo = engine.options();
  const std::size_t threads = m.options.threads ? m.options.threads : eo.max_sessions + eo.max_queue + 8;
  m.http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  m.http.set_payload_max_length(m.options.max_body);
  m.http.set_read_timeout(m.options.timeout_s, 0);
  m.http.set_write_timeout(m.options.timeout_s, 0);
  m.http.set_tcp_nodelay(true);  // stream chunks go out as they are written
  m.routes();
}

HttpServer::~HttpServer() = default;

int HttpServer::bind() {
  Impl& m = *impl_;
  if (m.options.port == 0) {
    const int port = m.http.bind_to_any_port(m.options.host);
    if (port < 0) throw std::runtime_error("cannot listen on " + m.options.host);
    return port;
  }
  if (!m.http.bind_to_port(m.options.host, m.options.port))
    throw std::runtime_error("cannot listen on " + m.options.host + ":" + std::to_string(m.options.port));
  return m.options.port;
}

void HttpServer::run() { impl_->http.listen_after_bind(); }

void HttpServer::stop() { impl_->http.stop(); }

}  // namespace veloxquant::server
