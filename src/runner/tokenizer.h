// The tokenizer of a GGUF model, matching llama.cpp's (llama-vocab.cpp) token for token:
//
//   tokenizer.ggml.model = "llama": SentencePiece-style merges — spaces become "▁" (one "▁"
//     prepended before text that starts the input or follows a special token, unless
//     tokenizer.ggml.add_space_prefix is false), adjacent symbols merge greedily by the score of
//     the merged piece (ties: leftmost) while it is a vocabulary piece, and symbols that are no
//     piece fall back to <0xXX> byte tokens (tokenizer_spm.cpp).
//   tokenizer.ggml.model = "gpt2": byte-level BPE — text is cut into words by the pre-tokenizer
//     named by tokenizer.ggml.pre (pretokenizer.h), each word's bytes are spelled in GPT-2's
//     byte alphabet and merged by the rank of tokenizer.ggml.merges (tokenizer_bpe.cpp).
//
// Before either, special tokens are cut out of the text, longest first: user-defined tokens
// always, control tokens only when `parse_special` is set. Token types come from
// tokenizer.ggml.token_type; BOS/EOS ids and add_bos/add_eos from the metadata with llama.cpp's
// defaults (SentencePiece adds BOS; BPE only for the pre-tokenizers that do, e.g. llama-bpe).
// Decoding is llama.cpp's detokenize: byte-exact for byte tokens and byte-level pieces, control
// tokens empty unless `special`, and for vocabularies whose pre-tokenizer asks for it the
// clean-up of spaces before punctuation.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "io/gguf.h"

namespace veloxquant {

class RegexSplitter;

class Tokenizer {
 public:
  enum class Kind { kSentencePiece, kBytePairs };

  // Throws std::runtime_error naming the key when the metadata is missing, inconsistent, or of an
  // unsupported tokenizer.ggml.model or tokenizer.ggml.pre.
  static Tokenizer from_gguf(const GgufFile& file);

  // llama.cpp's tokenize: `add_special` adds BOS/EOS where the model asks for them.
  std::vector<std::int32_t> encode(std::string_view text, bool add_special, bool parse_special = false) const;
  // llama.cpp's detokenize (remove_special = false): control tokens are written only with `special`.
  std::string decode(const std::vector<std::int32_t>& ids, bool special = false) const;
  // Bytes of one token (llama.cpp's token_to_piece): for streaming generated text.
  std::string token_text(std::int32_t id, bool special = false) const;

  // Id of a normal or user-defined piece (text as stored, "▁" for spaces), −1 when absent.
  std::int32_t find_piece(std::string_view piece) const;
  // Id of any token with exactly this stored text, −1 when absent.
  std::int32_t find_token(std::string_view text) const;
  const std::string& piece(std::int32_t id) const;

  Kind kind() const { return kind_; }
  // The pre-tokenizer family ("llama3", "qwen2", ...; "" for SentencePiece).
  const std::string& pre_family() const { return pre_family_; }
  std::size_t vocab_size() const { return pieces_.size(); }
  std::int32_t bos() const { return bos_; }  // −1 when the vocabulary has none
  std::int32_t eos() const { return eos_; }
  std::int32_t eot() const { return eot_; }
  bool add_bos() const { return add_bos_; }
  bool add_eos() const { return add_eos_; }
  // Whether the token is a control token (BOS, EOS, chat markers: written only when asked for).
  bool is_control(std::int32_t id) const;
  // Whether generation ends at this token (EOS, EOT, <|im_end|>, <end_of_turn>, ... as llama.cpp).
  bool is_eog(std::int32_t id) const { return eog_.count(id) != 0; }

 private:
  struct Fragment {
    std::int32_t token;  // −1: raw text [begin, end)
    std::size_t begin, end;
  };

  void load_vocabulary(const GgufFile& f);
  void load_special_ids(const GgufFile& f, bool no_bos);
  void mark_special_tokens(const GgufFile& f);
  std::vector<Fragment> split_special(std::string_view text, bool parse_special) const;
  void encode_spm(std::string_view text, std::vector<std::int32_t>& out) const;  // tokenizer_spm.cpp
  void encode_bpe(std::string_view text, std::vector<std::int32_t>& out) const;  // tokenizer_bpe.cpp
  void load_merges(const GgufFile& f);                                           // tokenizer_bpe.cpp
  std::string piece_text(std::int32_t id, bool special) const;
  std::int32_t lookup(const std::string& text) const;

  Kind kind_ = Kind::kSentencePiece;
  std::string pre_family_;
  std::vector<std::string> pieces_;
  std::vector<float> scores_;
  std::vector<std::uint32_t> attrs_;  // llama.cpp's token attribute bits (tokenizer.cpp)
  std::unordered_map<std::string, std::int32_t> ids_;
  std::vector<std::int32_t> special_tokens_;                   // control, user-defined and unknown; longest first
  std::array<std::int32_t, 256> byte_ids_{};                   // SentencePiece byte fallback, −1 when absent
  std::unordered_map<std::string, std::int32_t> merge_ranks_;  // "left right" -> rank
  std::shared_ptr<const RegexSplitter> splitter_;
  std::unordered_set<std::int32_t> eog_;
  std::int32_t bos_ = -1, eos_ = -1, eot_ = -1, unk_ = -1;
  bool add_bos_ = false, add_eos_ = false, add_space_prefix_ = false, ignore_merges_ = false, clean_spaces_ = false;
};

}  // namespace veloxquant
