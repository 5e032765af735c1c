// SentencePiece-style merging of one text (tokenizer.ggml.model = "llama"), as llama.cpp's
// llm_tokenizer_spm_session: the text (spaces already "▁") is cut into UTF-8 characters by lead
// byte, adjacent symbols merge greedily, highest score of the merged piece first (ties: the
// leftmost), as long as the merged text is a token of any type; a final symbol that is no token
// falls back to one token per byte.
#include <stdexcept>

#include "runner/symbol_merge.h"
#include "runner/tokenizer.h"

namespace veloxquant {

void Tokenizer::encode_spm(std::string_view s, std::vector<std::int32_t>& out) const {
  std::string key;
  const auto score = [&](std::string_view left, std::string_view right, double& priority) {
    key.assign(left.data(), left.size() + right.size());  // the two are adjacent in s
    const std::int32_t id = lookup(key);
    if (id >= 0) priority = scores_[static_cast<std::size_t>(id)];
    return id >= 0;
  };
  for (const SymbolSpan& span : merge_symbols(s, score)) {
    key.assign(s.substr(span.start, span.len));
    if (const std::int32_t id = lookup(key); id >= 0) {
      out.push_back(id);
      continue;
    }
    for (const char c : key) {
      const std::int32_t id = byte_ids_[static_cast<unsigned char>(c)];
      if (id >= 0) {
        out.push_back(id);
      } else if (unk_ >= 0) {
        out.push_back(unk_);
      } else {
        throw std::runtime_error("the vocabulary has no token for byte " +
                                 std::to_string(static_cast<unsigned char>(c)) + " and no unknown token");
      }
    }
  }
}

}  // namespace veloxquant
