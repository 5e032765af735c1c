// SentencePiece-style BPE tokenizer from GGUF metadata (tokenizer.ggml.model = "llama"):
// spaces become "▁" (with one "▁" prepended unless tokenizer.ggml.add_space_prefix is false),
// then adjacent symbols are merged greedily, highest vocabulary score first (ties: leftmost),
// as long as the merged text is a vocabulary piece; symbols that are not pieces fall back to
// their UTF-8 bytes as <0xXX> tokens.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "io/gguf.h"

namespace veloxquant {

class Tokenizer {
 public:
  // Throws std::runtime_error when the metadata is missing, inconsistent, or another model type.
  static Tokenizer from_gguf(const GgufFile& file);

  std::vector<std::int32_t> encode(std::string_view text, bool add_bos) const;
  // Text of a token sequence; the space of the prepended "▁" at the very start is dropped.
  std::string decode(const std::vector<std::int32_t>& ids) const;
  // Bytes one token stands for ("▁" as a space, byte tokens as their byte, control tokens empty).
  std::string token_text(std::int32_t id) const;

  // Id of a normal or user-defined piece (text as stored, "▁" for spaces), −1 when absent.
  std::int32_t find_piece(std::string_view piece) const;

  std::size_t vocab_size() const { return pieces_.size(); }
  std::int32_t bos() const { return bos_; }
  std::int32_t eos() const { return eos_; }
  bool add_bos() const { return add_bos_; }

 private:
  enum TokenType : int { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

  std::vector<std::string> pieces_;
  std::vector<float> scores_;
  std::vector<int> types_;
  std::unordered_map<std::string, std::int32_t> mergeable_;  // normal and user-defined pieces
  std::array<std::int32_t, 256> byte_ids_{};                 // −1 when absent
  std::int32_t bos_ = 1, eos_ = 2, unk_ = 0;
  bool add_bos_ = true, add_space_prefix_ = true;
};

}  // namespace veloxquant
