// What GET /metrics (Prometheus text format 0.0.4) and GET /sessions (JSON, for the page) report:
// the engine's counters and sessions, and the HTTP requests by endpoint and status.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "io/json.h"
#include "server/engine.h"

namespace veloxquant::server {

struct ServerInfo {
  std::string model;  // the id of /v1/models
  std::string key_format, value_format;
  std::size_t window = 0, sinks = 0, ctx = 0, max_sessions = 0;
};

class RequestCounter {
 public:
  void add(const std::string& endpoint, int status);
  std::map<std::pair<std::string, int>, std::uint64_t> snapshot() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, std::uint64_t> counts_;
};

std::string metrics_text(const EngineStats& stats, const ServerInfo& info, const RequestCounter& requests);
Json sessions_json(const EngineStats& stats, const ServerInfo& info);

}  // namespace veloxquant::server
