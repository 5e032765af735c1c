// A tiny JSON writer for the CLI's --json output (objects, arrays, numbers, strings).
#pragma once

#include <cmath>
#include <cstdio>
#include <string>

namespace veloxquant::cli {

inline std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

inline std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// Builds one object: add("key", json_number(x)) ...; str() closes it.
class JsonObject {
 public:
  JsonObject& add(const std::string& key, const std::string& raw_json) {
    body_ += (body_.empty() ? "" : ", ") + json_string(key) + ": " + raw_json;
    return *this;
  }
  std::string str() const { return "{" + body_ + "}"; }

 private:
  std::string body_;
};

}  // namespace veloxquant::cli
