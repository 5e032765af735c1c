// Byte-level BPE of one text (tokenizer.ggml.model = "gpt2"), as llama.cpp's
// llm_tokenizer_bpe_session: the text is read as code points (invalid bytes become U+FFFD, as in
// llama.cpp), cut into words by the pre-tokenizer, each word's UTF-8 bytes are spelled in GPT-2's
// byte alphabet, and adjacent symbols merge by the lowest rank in tokenizer.ggml.merges (ties:
// the leftmost). With ignore_merges a word that is itself a token is taken whole. A final symbol
// that is no token becomes the tokens of its single bytes, where those exist.
#include <stdexcept>

#include "runner/pretokenizer.h"
#include "runner/symbol_merge.h"
#include "runner/tokenizer.h"
#include "runner/unicode_text.h"

namespace veloxquant {

void Tokenizer::load_merges(const GgufFile& f) {
  if (!f.has("tokenizer.ggml.merges"))
    throw std::runtime_error("tokenizer.ggml.merges is missing (tokenizer.ggml.model 'gpt2' needs it)");
  const std::vector<std::string>& merges = f.get_string_array("tokenizer.ggml.merges");
  merge_ranks_.reserve(merges.size());
  for (std::size_t i = 0; i < merges.size(); ++i)  // "left right"; the first rank of a pair wins
    if (merges[i].find(' ', 1) != std::string::npos) merge_ranks_.emplace(merges[i], static_cast<std::int32_t>(i));
}

void Tokenizer::encode_bpe(std::string_view raw, std::vector<std::int32_t>& out) const {
  std::string text;  // the code points as llama.cpp re-encodes them
  text.reserve(raw.size());
  bool surrogates = false;
  for (const char32_t cp : decode_utf8_lenient(raw)) {
    if (cp > 0x10FFFF)
      throw std::invalid_argument("text holds a byte sequence that decodes to a code point above U+10FFFF");
    surrogates |= cp >= 0xD800 && cp <= 0xDFFF;
    append_utf8(text, cp);
  }
  std::string matched;  // surrogates are "other" characters to the patterns; U+FFFD has their length
  if (surrogates) {
    for (const char32_t cp : decode_utf8_lenient(text))
      append_utf8(matched, cp >= 0xD800 && cp <= 0xDFFF ? kReplacementChar : cp);
  }

  std::string word, key;
  const auto rank = [&](std::string_view left, std::string_view right, double& priority) {
    key.assign(left);
    key += ' ';
    key += right;
    const auto it = merge_ranks_.find(key);
    if (it != merge_ranks_.end()) priority = -static_cast<double>(it->second);  // lower rank first
    return it != merge_ranks_.end();
  };
  for (const auto& [begin, end] : splitter_->split(surrogates ? matched : text)) {
    word.clear();
    for (std::size_t i = begin; i < end; ++i) word += byte_level_char(static_cast<std::uint8_t>(text[i]));
    if (ignore_merges_) {
      if (const std::int32_t id = lookup(word); id >= 0) {
        out.push_back(id);
        continue;
      }
    }
    for (const SymbolSpan& span : merge_symbols(word, rank)) {
      key.assign(word, span.start, span.len);
      if (const std::int32_t id = lookup(key); id >= 0) {
        out.push_back(id);
        continue;
      }
      for (const char c : key)
        if (const std::int32_t id = lookup(std::string(1, c)); id >= 0) out.push_back(id);
    }
  }
}

}  // namespace veloxquant
