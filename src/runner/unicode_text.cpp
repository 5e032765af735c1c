#include "runner/unicode_text.h"

#include <array>
#include <stdexcept>

namespace veloxquant {

namespace {

bool continuation(std::string_view s, std::size_t i) {
  return i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80;
}

// One code point at `pos` (advanced past it), or −1 when the byte there starts no valid
// sequence (pos untouched).
long decode_one(std::string_view s, std::size_t& pos) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[pos + k]); };
  const unsigned char lead = b(0);
  if (lead < 0x80) return s[pos++] & 0x7F;
  if ((lead & 0x40) == 0) return -1;  // a continuation byte
  if ((lead & 0x20) == 0) {
    if (!continuation(s, pos + 1)) return -1;
    const long cp = (lead & 0x1F) << 6 | (b(1) & 0x3F);
    pos += 2;
    return cp;
  }
  if ((lead & 0x10) == 0) {
    if (!continuation(s, pos + 1) || !continuation(s, pos + 2)) return -1;
    const long cp = (lead & 0x0F) << 12 | (b(1) & 0x3F) << 6 | (b(2) & 0x3F);
    pos += 3;
    return cp;
  }
  if ((lead & 0x08) == 0) {
    if (!continuation(s, pos + 1) || !continuation(s, pos + 2) || !continuation(s, pos + 3)) return -1;
    const long cp = static_cast<long>(lead & 0x07) << 18 | (b(1) & 0x3F) << 12 | (b(2) & 0x3F) << 6 | (b(3) & 0x3F);
    pos += 4;
    return cp;
  }
  return -1;
}

struct ByteLevelTables {
  std::array<std::string, 256> chars;
  std::array<std::int16_t, 512> bytes;  // byte-level code points are all below U+0200
  ByteLevelTables() {
    bytes.fill(-1);
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      const int cp = printable ? b : next++;
      append_utf8(chars[static_cast<std::size_t>(b)], static_cast<char32_t>(cp));
      bytes[static_cast<std::size_t>(cp)] = static_cast<std::int16_t>(b);
    }
  }
};

const ByteLevelTables& byte_level_tables() {
  static const ByteLevelTables tables;
  return tables;
}

}  // namespace

std::size_t utf8_sequence_length(unsigned char lead) {
  static constexpr std::size_t kLengths[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLengths[lead >> 4];
}

std::vector<char32_t> decode_utf8_lenient(std::string_view text) {
  std::vector<char32_t> out;
  out.reserve(text.size());
  for (std::size_t pos = 0; pos < text.size();) {
    const long cp = decode_one(text, pos);
    if (cp < 0) {
      out.push_back(kReplacementChar);
      ++pos;
    } else {
      out.push_back(static_cast<char32_t>(cp));
    }
  }
  return out;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp <= 0x10FFFF) {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    throw std::invalid_argument("code point U+" + std::to_string(static_cast<unsigned long>(cp)) +
                                " (decimal) is above U+10FFFF");
  }
}

const std::string& byte_level_char(std::uint8_t byte) { return byte_level_tables().chars[byte]; }

int byte_level_byte(char32_t cp) { return cp < 512 ? byte_level_tables().bytes[cp] : -1; }

}  // namespace veloxquant
