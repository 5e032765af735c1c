#include "server/metrics.h"

#include <cstdio>

namespace veloxquant::server {

void RequestCounter::add(const std::string& endpoint, int status) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++counts_[{endpoint, status}];
}

std::map<std::pair<std::string, int>, std::uint64_t> RequestCounter::snapshot() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return counts_;
}

namespace {

class Exposition {
 public:
  void family(const char* name, const char* type, const char* help) {
    out_ += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  }
  void sample(const std::string& name_and_labels, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    out_ += name_and_labels + " " + buf + "\n";
  }
  void one(const char* name, const char* type, const char* help, double v) {
    family(name, type, help);
    sample(name, v);
  }
  std::string text() const { return out_; }

 private:
  std::string out_;
};

}  // namespace

std::string metrics_text(const EngineStats& s, const ServerInfo& info, const RequestCounter& requests) {
  Exposition e;
  std::size_t active = 0;
  for (const SessionInfo& si : s.sessions) active += si.active;
  e.family("veloxquant_sessions", "gauge",
           "Sessions by state: active (running a request), idle (in memory), saved (on disk).");
  e.sample("veloxquant_sessions{state=\"active\"}", static_cast<double>(active));
  e.sample("veloxquant_sessions{state=\"idle\"}", static_cast<double>(s.sessions.size() - active));
  e.sample("veloxquant_sessions{state=\"saved\"}", static_cast<double>(s.saved_sessions));
  e.one("veloxquant_queue_depth", "gauge", "Requests waiting for a slot or KV memory.",
        static_cast<double>(s.queue_depth));
  const std::string formats = "{key_format=\"" + info.key_format + "\",value_format=\"" + info.value_format + "\"}";
  e.family("veloxquant_kv_bytes", "gauge", "KV cache bytes allocated by the sessions in memory (memory_bytes()).");
  e.sample("veloxquant_kv_bytes" + formats, static_cast<double>(s.kv_bytes));
  e.family("veloxquant_kv_f16_bytes", "gauge", "What the same tokens would take as f16 keys and values.");
  e.sample("veloxquant_kv_f16_bytes" + formats, static_cast<double>(s.f16_bytes));
  e.one("veloxquant_kv_reserved_bytes", "gauge",
        "KV bytes admitted: running sessions' reservations plus idle sessions.", static_cast<double>(s.kv_reserved));
  e.one("veloxquant_kv_budget_bytes", "gauge", "The KV budget (--kv-budget).", static_cast<double>(s.kv_budget));
  e.family("veloxquant_tokens_total", "counter",
           "Tokens: prompt (computed), reused (from cached sessions), generated.");
  e.sample("veloxquant_tokens_total{kind=\"prompt\"}", static_cast<double>(s.prompt_tokens));
  e.sample("veloxquant_tokens_total{kind=\"reused\"}", static_cast<double>(s.reused_tokens));
  e.sample("veloxquant_tokens_total{kind=\"generated\"}", static_cast<double>(s.generated_tokens));
  e.one("veloxquant_tokens_per_second", "gauge", "Generated tokens per second over the last 10 s, all sessions.",
        s.tokens_per_s);
  e.one("veloxquant_steps_total", "counter", "Model steps (one batched forward each).", static_cast<double>(s.steps));
  e.one("veloxquant_step_sessions_total", "counter", "Sessions summed over steps (divide by steps: mean batch).",
        static_cast<double>(s.step_sessions));
  e.one("veloxquant_step_tokens_total", "counter", "Tokens summed over steps.", static_cast<double>(s.step_rows));
  e.family("veloxquant_generations_total", "counter", "Requests the engine ended, by outcome.");
  e.sample("veloxquant_generations_total{outcome=\"finished\"}", static_cast<double>(s.finished));
  e.sample("veloxquant_generations_total{outcome=\"cancelled\"}", static_cast<double>(s.cancelled));
  e.sample("veloxquant_generations_total{outcome=\"failed\"}", static_cast<double>(s.failed));
  e.family("veloxquant_refused_total", "counter", "Requests refused for capacity, by reason.");
  e.sample("veloxquant_refused_total{reason=\"kv_budget\"}", static_cast<double>(s.refused_budget));
  e.sample("veloxquant_refused_total{reason=\"queue_full\"}", static_cast<double>(s.refused_queue));
  e.sample("veloxquant_refused_total{reason=\"queue_timeout\"}", static_cast<double>(s.queue_timeouts));
  e.family("veloxquant_session_events_total", "counter",
           "Sessions evicted from memory, saved, restored, and failures.");
  e.sample("veloxquant_session_events_total{event=\"evicted\"}", static_cast<double>(s.evicted));
  e.sample("veloxquant_session_events_total{event=\"saved\"}", static_cast<double>(s.saved));
  e.sample("veloxquant_session_events_total{event=\"restored\"}", static_cast<double>(s.restored));
  e.sample("veloxquant_session_events_total{event=\"save_failed\"}", static_cast<double>(s.save_failures));
  e.sample("veloxquant_session_events_total{event=\"restore_failed\"}", static_cast<double>(s.restore_failures));
  e.one("veloxquant_kv_reservation_overruns_total", "counter", "Caches that outgrew their admission (expected 0).",
        static_cast<double>(s.reservation_overruns));
  e.family("veloxquant_http_requests_total", "counter", "HTTP requests by endpoint and status.");
  for (const auto& [key, n] : requests.snapshot())
    e.sample(
        "veloxquant_http_requests_total{endpoint=\"" + key.first + "\",status=\"" + std::to_string(key.second) + "\"}",
        static_cast<double>(n));
  return e.text();
}

Json sessions_json(const EngineStats& s, const ServerInfo& info) {
  Json out = Json::object();
  out.set("model", Json::string(info.model));
  out.set("key_format", Json::string(info.key_format));
  out.set("value_format", Json::string(info.value_format));
  out.set("window", Json::unsigned_integer(info.window));
  out.set("sinks", Json::unsigned_integer(info.sinks));
  out.set("ctx", Json::unsigned_integer(info.ctx));
  out.set("max_sessions", Json::unsigned_integer(info.max_sessions));
  out.set("kv_budget", Json::unsigned_integer(s.kv_budget));
  out.set("kv_bytes", Json::unsigned_integer(s.kv_bytes));
  out.set("kv_f16_bytes", Json::unsigned_integer(s.f16_bytes));
  out.set("kv_reserved", Json::unsigned_integer(s.kv_reserved));
  out.set("queue_depth", Json::unsigned_integer(s.queue_depth));
  out.set("saved_sessions", Json::unsigned_integer(s.saved_sessions));
  out.set("tokens_per_s", Json::number(s.tokens_per_s));
  out.set("generated_tokens", Json::unsigned_integer(s.generated_tokens));
  Json list = Json::array();
  for (const SessionInfo& si : s.sessions) {
    char id[17];
    std::snprintf(id, sizeof id, "%016llx", static_cast<unsigned long long>(si.id));
    Json j = Json::object();
    j.set("id", Json::string(id));
    j.set("state", Json::string(si.active ? "active" : "idle"));
    j.set("tokens", Json::unsigned_integer(si.tokens));
    j.set("generated", Json::unsigned_integer(si.generated));
    j.set("kv_bytes", Json::unsigned_integer(si.kv_bytes));
    j.set("f16_bytes", Json::unsigned_integer(si.f16_bytes));
    j.set("tokens_per_s", Json::number(si.tokens_per_s));
    j.set("idle_s", Json::number(si.idle_s));
    list.push(std::move(j));
  }
  out.set("sessions", std::move(list));
  return out;
}

}  // namespace veloxquant::server
