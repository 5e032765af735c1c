#include "server/utf8.h"

namespace veloxquant::server {

namespace {

// Length of the valid character at s[i], 0 if the bytes there are not one. `partial` is set when
// they are a valid start that the string ends before completing.
std::size_t char_length(std::string_view s, std::size_t i, bool& partial) {
  partial = false;
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  std::size_t n;
  unsigned char lo = 0x80, hi = 0xBF;  // range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;  // no overlong forms
    if (c == 0xED) hi = 0x9F;  // no surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;  // ≤ U+10FFFF
  } else {
    return 0;
  }
  for (std::size_t k = 1; k < n; ++k) {
    if (i + k >= s.size()) {
      partial = true;
      return 0;
    }
    const unsigned char x = b(k);
    if (k == 1 ? (x < lo || x > hi) : (x < 0x80 || x > 0xBF)) return 0;
  }
  return n;
}

}  // namespace

std::size_t utf8_error_offset(std::string_view s) {
  bool partial;
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = char_length(s, i, partial);
    if (n == 0) return i;
    i += n;
  }
  return kUtf8Valid;
}

std::size_t utf8_complete_length(std::string_view s) {
  bool partial;
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = char_length(s, i, partial);
    if (partial) return i;
    i += n == 0 ? 1 : n;
  }
  return s.size();
}

std::string utf8_replace_invalid(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool partial, in_bad = false;
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = char_length(s, i, partial);
    if (n == 0) {
      if (!in_bad) out += "\xEF\xBF\xBD";
      in_bad = true;
      ++i;
      continue;
    }
    in_bad = false;
    out.append(s.substr(i, n));
    i += n;
  }
  return out;
}

}  // namespace veloxquant::server
