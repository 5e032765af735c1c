// Pre-tokenizers of byte-level BPE vocabularies (tokenizer.ggml.pre): the regular expressions
// that cut text into words before merging, and the flags llama.cpp ties to each name.
//
// The expressions are llama.cpp's (llama-vocab.cpp), run by PCRE2 in UTF mode with JIT. Each
// expression splits every piece left by the one before; the text between matches is a piece of
// its own. llama.cpp reads `\s` as the Unicode White_Space set, so `\s`/`\S` are replaced here by
// that explicit set (PCRE2's own `\s` would add U+180E and miss U+0085). Letter and number
// classes come from PCRE2's Unicode tables (10.42: Unicode 14), llama.cpp's from its own
// (Unicode 15.1): characters assigned after Unicode 14 (e.g. CJK Extension H) split differently.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace veloxquant {

struct PreTokenizerSpec {
  std::string family;                 // the llama.cpp pre-tokenizer type, e.g. "llama3"
  std::vector<std::string> patterns;  // applied in order
  bool ignore_merges = false;         // a word that is itself a token is not merged
  bool clean_spaces = true;           // decoding drops spaces before . , ! ? and some apostrophes
  bool add_bos = false;               // default of tokenizer.ggml.add_bos_token
  bool no_bos = false;                // the vocabulary has no BOS token (chatglm)
};

// The spec for a tokenizer.ggml.pre value ("" means llama.cpp's default). Throws
// std::runtime_error naming an unknown value.
const PreTokenizerSpec& pretokenizer_spec(const std::string& pre);
// Every accepted tokenizer.ggml.pre value, sorted.
std::vector<std::string> pretokenizer_names();

// Compiled patterns of one spec; thread-safe (matching state is per call).
class RegexSplitter {
 public:
  explicit RegexSplitter(const std::vector<std::string>& patterns);
  // Byte ranges [begin, end) of the words of `text`, in order, covering it. `text` must be
  // valid UTF-8 (it is not checked again).
  std::vector<std::pair<std::size_t, std::size_t>> split(std::string_view text) const;

 private:
  struct Compiled;
  std::vector<std::shared_ptr<const Compiled>> compiled_;
};

// A pattern in llama.cpp's notation with `\s` and `\S` spelled out as the White_Space set.
std::string expand_whitespace_classes(const std::string& pattern);

}  // namespace veloxquant
