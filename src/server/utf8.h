// UTF-8 checks for what crosses the HTTP boundary: request bodies must be valid UTF-8 (RFC 8259),
// and generated text, which a byte-fallback tokenizer produces a byte at a time, is sent only in
// whole characters.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace veloxquant::server {

inline constexpr std::size_t kUtf8Valid = static_cast<std::size_t>(-1);

// Offset of the first byte that does not belong to a valid UTF-8 character (overlong forms,
// surrogates, code points above U+10FFFF and truncated sequences included), or kUtf8Valid.
std::size_t utf8_error_offset(std::string_view s);

// Length of the longest prefix of s that does not end inside a character that further bytes could
// still complete (invalid bytes count as complete: they cannot become valid).
std::size_t utf8_complete_length(std::string_view s);

// s with every run of bytes that are not valid UTF-8 replaced by one U+FFFD.
std::string utf8_replace_invalid(std::string_view s);

}  // namespace veloxquant::server
