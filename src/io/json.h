// A small JSON value with a strict parser and a writer, enough for manifests and CLI output.
// Numbers keep their source text, so 64-bit seeds round-trip exactly (a double would not).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace veloxquant {

class Json {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

  Json() = default;
  static Json boolean(bool v);
  static Json number(double v);          // the shortest text that reads back as v; throws on NaN/Inf
  static Json number_or_null(double v);  // null for NaN/Inf (measurements that could not be made)
  static Json integer(std::int64_t v);
  static Json unsigned_integer(std::uint64_t v);
  static Json string(std::string v);
  static Json array();
  static Json object();

  Type type() const { return type_; }
  bool is_object() const { return type_ == Type::kObject; }
  const char* type_description() const;  // "null", "a boolean", "a number", "a string", "an array", "an object"

  // Typed access; each throws std::runtime_error naming `what` when the type or range is wrong.
  bool as_bool(const std::string& what) const;
  double as_double(const std::string& what) const;
  std::int64_t as_int(const std::string& what) const;
  std::uint64_t as_u64(const std::string& what) const;
  const std::string& as_string(const std::string& what) const;
  const std::vector<Json>& as_array(const std::string& what) const;

  // Objects keep insertion order (the writer preserves it).
  Json& set(const std::string& key, Json value);
  const Json* find(const std::string& key) const;
  const Json& at(const std::string& key) const;  // throws naming the missing key
  const std::vector<std::pair<std::string, Json>>& items() const { return object_; }

  Json& push(Json value);  // arrays

  std::string dump(int indent = 2) const;    // indent 0: one line
  static Json parse(std::string_view text);  // throws std::runtime_error with the offset

 private:
  friend class JsonParser;
  void dump_to(std::string& out, int indent, int depth) const;

  Type type_ = Type::kNull;
  bool bool_ = false;
  std::string text_;  // number text or string value
  std::vector<Json> array_;
  std::vector<std::pair<std::string, Json>> object_;
};

}  // namespace veloxquant
