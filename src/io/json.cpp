#include "io/json.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace veloxquant {

namespace {

constexpr int kMaxDepth = 64;

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error("json: " + what); }

const char* type_name(Json::Type t) {
  switch (t) {
    case Json::Type::kNull:
      return "null";
    case Json::Type::kBool:
      return "a boolean";
    case Json::Type::kNumber:
      return "a number";
    case Json::Type::kString:
      return "a string";
    case Json::Type::kArray:
      return "an array";
    case Json::Type::kObject:
      return "an object";
  }
  return "?";
}

void escape_to(std::string& out, const std::string& s) {
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

}  // namespace

// Friend of Json so numbers keep their exact source text.
class JsonParser {
 public:
  explicit JsonParser(std::string_view s) : s_(s) {}

  Json parse_document() {
    Json v = parse_value(0);
    skip_ws();
    if (pos_ != s_.size()) error("unexpected text after the value");
    return v;
  }

 private:
  [[noreturn]] void error(const std::string& what) const { fail(what + " at offset " + std::to_string(pos_)); }
  void skip_ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\t' || s_[pos_] == '\r')) ++pos_;
  }
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  bool literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  Json parse_value(int depth) {
    if (depth > kMaxDepth) error("nesting deeper than " + std::to_string(kMaxDepth));
    skip_ws();
    const char c = peek();
    if (c == '{') return parse_object(depth);
    if (c == '[') return parse_array(depth);
    if (c == '"') return Json::string(parse_string());
    if (literal("true")) return Json::boolean(true);
    if (literal("false")) return Json::boolean(false);
    if (literal("null")) return Json();
    if (c == '-' || (c >= '0' && c <= '9')) return parse_number();
    error("unexpected character");
  }

  Json parse_object(int depth) {
    ++pos_;
    Json obj = Json::object();
    skip_ws();
    if (peek() == '}') {
      ++pos_;
      return obj;
    }
    while (true) {
      skip_ws();
      if (peek() != '"') error("expected a key string");
      std::string key = parse_string();
      if (obj.find(key)) error("duplicate key '" + key + "'");
      skip_ws();
      if (peek() != ':') error("expected ':'");
      ++pos_;
      obj.set(key, parse_value(depth + 1));
      skip_ws();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == '}') {
        ++pos_;
        return obj;
      }
      error("expected ',' or '}'");
    }
  }

  Json parse_array(int depth) {
    ++pos_;
    Json arr = Json::array();
    skip_ws();
    if (peek() == ']') {
      ++pos_;
      return arr;
    }
    while (true) {
      arr.push(parse_value(depth + 1));
      skip_ws();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == ']') {
        ++pos_;
        return arr;
      }
      error("expected ',' or ']'");
    }
  }

  unsigned parse_hex4() {
    if (pos_ + 4 > s_.size()) error("short \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = s_[pos_++];
      v <<= 4;
      if (h >= '0' && h <= '9')
        v |= static_cast<unsigned>(h - '0');
      else if (h >= 'a' && h <= 'f')
        v |= static_cast<unsigned>(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F')
        v |= static_cast<unsigned>(h - 'A' + 10);
      else
        error("bad hex digit in \\u escape");
    }
    return v;
  }

  std::string parse_string() {
    ++pos_;
    std::string out;
    while (true) {
      if (pos_ >= s_.size()) error("unterminated string");
      const char c = s_[pos_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) error("control character in string");
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (pos_ >= s_.size()) error("unterminated escape");
      const char e = s_[pos_++];
      switch (e) {
        case '"':
          out.push_back('"');
          break;
        case '\\':
          out.push_back('\\');
          break;
        case '/':
          out.push_back('/');
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'u': {
          unsigned v = parse_hex4();
          // A high surrogate must be followed by an escaped low one: together one code point
          // above U+FFFF (how JSON writers such as Python's escape e.g. emoji).
          if (v >= 0xDC00 && v <= 0xDFFF) error("lone low surrogate in \\u escape");
          if (v >= 0xD800 && v <= 0xDBFF) {
            if (s_.substr(pos_, 2) != "\\u") error("high surrogate without a low one");
            pos_ += 2;
            const unsigned lo = parse_hex4();
            if (lo < 0xDC00 || lo > 0xDFFF) error("high surrogate without a low one");
            v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
          }
          if (v < 0x80) {
            out.push_back(static_cast<char>(v));
          } else if (v < 0x800) {
            out.push_back(static_cast<char>(0xC0 | (v >> 6)));
            out.push_back(static_cast<char>(0x80 | (v & 0x3F)));
          } else if (v < 0x10000) {
            out.push_back(static_cast<char>(0xE0 | (v >> 12)));
            out.push_back(static_cast<char>(0x80 | ((v >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (v & 0x3F)));
          } else {
            out.push_back(static_cast<char>(0xF0 | (v >> 18)));
            out.push_back(static_cast<char>(0x80 | ((v >> 12) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | ((v >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (v & 0x3F)));
          }
          break;
        }
        default:
          error(std::string("bad escape '\\") + e + "'");
      }
    }
  }

  Json parse_number() {
    const std::size_t start = pos_;
    if (peek() == '-') ++pos_;
    if (peek() == '0') {
      ++pos_;
    } else if (peek() >= '1' && peek() <= '9') {
      while (peek() >= '0' && peek() <= '9') ++pos_;
    } else {
      error("bad number");
    }
    if (peek() == '.') {
      ++pos_;
      if (!(peek() >= '0' && peek() <= '9')) error("bad number");
      while (peek() >= '0' && peek() <= '9') ++pos_;
    }
    if (peek() == 'e' || peek() == 'E') {
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (!(peek() >= '0' && peek() <= '9')) error("bad number");
      while (peek() >= '0' && peek() <= '9') ++pos_;
    }
    Json v;
    v.type_ = Json::Type::kNumber;
    v.text_ = std::string(s_.substr(start, pos_ - start));
    return v;
  }

  std::string_view s_;
  std::size_t pos_ = 0;
};

Json Json::boolean(bool v) {
  Json j;
  j.type_ = Type::kBool;
  j.bool_ = v;
  return j;
}

Json Json::number(double v) {
  if (!std::isfinite(v)) fail("cannot write a non-finite number");
  Json j;
  j.type_ = Type::kNumber;
  char buf[32];  // the shortest text that reads back as v (0.1, not 0.10000000000000001)
  const std::to_chars_result r = std::to_chars(buf, buf + sizeof buf, v);
  j.text_.assign(buf, r.ptr);
  return j;
}

Json Json::number_or_null(double v) { return std::isfinite(v) ? number(v) : Json(); }

Json Json::integer(std::int64_t v) {
  Json j;
  j.type_ = Type::kNumber;
  j.text_ = std::to_string(v);
  return j;
}

Json Json::unsigned_integer(std::uint64_t v) {
  Json j;
  j.type_ = Type::kNumber;
  j.text_ = std::to_string(v);
  return j;
}

Json Json::string(std::string v) {
  Json j;
  j.type_ = Type::kString;
  j.text_ = std::move(v);
  return j;
}

Json Json::array() {
  Json j;
  j.type_ = Type::kArray;
  return j;
}

Json Json::object() {
  Json j;
  j.type_ = Type::kObject;
  return j;
}

const char* Json::type_description() const { return type_name(type_); }

bool Json::as_bool(const std::string& what) const {
  if (type_ != Type::kBool) fail(what + " must be a boolean, got " + type_name(type_));
  return bool_;
}

double Json::as_double(const std::string& what) const {
  if (type_ != Type::kNumber) fail(what + " must be a number, got " + type_name(type_));
  return std::strtod(text_.c_str(), nullptr);
}

std::int64_t Json::as_int(const std::string& what) const {
  if (type_ != Type::kNumber) fail(what + " must be an integer, got " + type_name(type_));
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text_.c_str(), &end, 10);
  if (*end != '\0' || errno != 0) fail(what + " must be an integer, got " + text_);
  return v;
}

std::uint64_t Json::as_u64(const std::string& what) const {
  if (type_ != Type::kNumber || text_.empty() || text_[0] == '-')
    fail(what + " must be a non-negative integer, got " + (type_ == Type::kNumber ? text_ : type_name(type_)));
  errno = 0;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(text_.c_str(), &end, 10);
  if (*end != '\0' || errno != 0) fail(what + " must be a 64-bit unsigned integer, got " + text_);
  return v;
}

const std::string& Json::as_string(const std::string& what) const {
  if (type_ != Type::kString) fail(what + " must be a string, got " + type_name(type_));
  return text_;
}

const std::vector<Json>& Json::as_array(const std::string& what) const {
  if (type_ != Type::kArray) fail(what + " must be an array, got " + type_name(type_));
  return array_;
}

Json& Json::set(const std::string& key, Json value) {
  if (type_ != Type::kObject) fail("set('" + key + "') on " + type_name(type_));
  for (auto& [k, v] : object_)
    if (k == key) return v = std::move(value);
  object_.emplace_back(key, std::move(value));
  return object_.back().second;
}

const Json* Json::find(const std::string& key) const {
  if (type_ != Type::kObject) return nullptr;
  for (const auto& [k, v] : object_)
    if (k == key) return &v;
  return nullptr;
}

const Json& Json::at(const std::string& key) const {
  if (type_ != Type::kObject) fail("expected an object holding '" + key + "', got " + type_name(type_));
  const Json* v = find(key);
  if (!v) fail("missing key '" + key + "'");
  return *v;
}

Json& Json::push(Json value) {
  if (type_ != Type::kArray) fail(std::string("push on ") + type_name(type_));
  array_.push_back(std::move(value));
  return array_.back();
}

void Json::dump_to(std::string& out, int indent, int depth) const {
  const auto newline = [&](int d) {
    if (indent <= 0) return;
    out.push_back('\n');
    out.append(static_cast<std::size_t>(indent) * static_cast<std::size_t>(d), ' ');
  };
  switch (type_) {
    case Type::kNull:
      out += "null";
      break;
    case Type::kBool:
      out += bool_ ? "true" : "false";
      break;
    case Type::kNumber:
      out += text_;
      break;
    case Type::kString:
      escape_to(out, text_);
      break;
    case Type::kArray:
      out.push_back('[');
      for (std::size_t i = 0; i < array_.size(); ++i) {
        if (i) out += indent > 0 ? "," : ", ";
        newline(depth + 1);
        array_[i].dump_to(out, indent, depth + 1);
      }
      if (!array_.empty()) newline(depth);
      out.push_back(']');
      break;
    case Type::kObject:
      out.push_back('{');
      for (std::size_t i = 0; i < object_.size(); ++i) {
        if (i) out += indent > 0 ? "," : ", ";
        newline(depth + 1);
        escape_to(out, object_[i].first);
        out += ": ";
        object_[i].second.dump_to(out, indent, depth + 1);
      }
      if (!object_.empty()) newline(depth);
      out.push_back('}');
      break;
  }
}

std::string Json::dump(int indent) const {
  std::string out;
  dump_to(out, indent, 0);
  return out;
}

Json Json::parse(std::string_view text) { return JsonParser(text).parse_document(); }

}  // namespace veloxquant
