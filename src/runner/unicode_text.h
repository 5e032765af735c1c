// UTF-8 the way llama.cpp's tokenizers read it, and GPT-2's byte-level alphabet.
//
// Decoding is lenient exactly as llama.cpp's (unicode.cpp): a lead byte's length comes from its
// top bits and its continuation bytes are checked, but overlong forms and surrogates are
// accepted as the code points they spell; every byte that starts no valid sequence becomes one
// U+FFFD. Byte-level BPE vocabularies spell each byte 0..255 as one printable code point
// (bytes that are printable Latin-1 stand for themselves, the others map to U+0100 onwards).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace veloxquant {

constexpr char32_t kReplacementChar = 0xFFFD;

// Bytes of the UTF-8 sequence a lead byte announces, from its top four bits (1 for ASCII and
// stray continuation bytes, 4 for F0..FF): the symbol length of llama.cpp's merge loops.
std::size_t utf8_sequence_length(unsigned char lead);

// Code points of `text`; invalid bytes become U+FFFD one by one.
std::vector<char32_t> decode_utf8_lenient(std::string_view text);

// Appends the UTF-8 form of `cp` (surrogates are written as they are, as llama.cpp does).
// Throws std::invalid_argument for code points above U+10FFFF.
void append_utf8(std::string& out, char32_t cp);

// GPT-2's byte-level alphabet: the UTF-8 text of the code point standing for `byte`.
const std::string& byte_level_char(std::uint8_t byte);
// The byte a byte-level code point stands for, or −1 when it stands for none.
int byte_level_byte(char32_t cp);

}  // namespace veloxquant
