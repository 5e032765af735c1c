// Tokenizers: any bytes encode into ids of the vocabulary (or are refused with
// std::invalid_argument where they spell a code point above U+10FFFF, as llama.cpp refuses them),
// and decoding gives back the text: byte for byte (up to "▁" against space) for SentencePiece, the text as llama.cpp
// reads it (bad bytes as U+FFFD) for byte-level BPE without space clean-up. The first input byte picks the tokenizer:
// SentencePiece or one pre-tokenizer family on a small byte-level vocabulary.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "runner/pretokenizer.h"
#include "runner/tokenizer.h"
#include "runner/unicode_text.h"
#include "tokenizer_test_vocab.h"

namespace veloxquant::fuzz_harness {

struct FuzzTokenizer {
  Tokenizer tokenizer;
  bool byte_exact;    // SentencePiece: decode(encode(x)) == x
  bool clean_spaces;  // BPE: decoding edits spaces, so only the ids are checked
};

// SentencePiece decoding up to "▁" against space: a "▁" in the text decodes as a space, and a
// space whose "▁" a cut-off UTF-8 sequence swallowed comes back as the "▁" bytes (llama.cpp cuts
// characters the same way).
inline std::string spm_visible(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    if (text.compare(i, 3, "\xE2\x96\x81") == 0) {
      out += ' ';
      i += 3;
    } else {
      out += text[i++];
    }
  }
  return out;
}

inline std::vector<FuzzTokenizer> make_fuzz_tokenizers() {
  std::vector<FuzzTokenizer> out;
  testing::TestVocab spm;  // byte tokens, a few pieces, a control and a user-defined token
  spm.model = "llama";
  for (const char* t : {"<unk>", "<s>", "</s>"}) spm.tokens.push_back(t);
  spm.types = {2, 3, 3};
  for (int b = 0; b < 256; ++b) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "<0x%02X>", b);
    spm.tokens.push_back(hex);
    spm.types.push_back(6);
  }
  for (const char* t : {"\xE2\x96\x81", "a", "b", "ab",
                        "\xE2\x96\x81"
                        "ab",
                        "\xC3\xA9", "<ctl>", "<ud>"}) {
    spm.tokens.push_back(t);
    spm.types.push_back(t[0] == '<' ? (t[1] == 'c' ? 3 : 4) : 1);
  }
  spm.scores.assign(spm.tokens.size(), -1.0f);
  spm.bos = 1;
  spm.eos = 2;
  std::map<std::string, GgufValue> md = testing::test_vocab_metadata(spm);
  md["tokenizer.ggml.add_space_prefix"] = testing::gguf_bool(false);
  out.push_back({Tokenizer::from_gguf(GgufFile::from_bytes(write_gguf(md, {}, 32))), true, false});

  for (const char* pre :
       {"default", "llama-bpe", "qwen2", "qwen35", "gpt-2", "smollm", "falcon", "tekken", "gpt-4o", "seed-coder",
        "bailingmoe", "ufakzeka", "laguna", "minicpm5", "deepseek-coder", "viking", "poro-chat", "chatglm-bpe"}) {
    testing::TestVocab v;
    v.pre = pre;
    for (int b = 0; b < 256; ++b) {
      v.tokens.push_back(byte_level_char(static_cast<std::uint8_t>(b)));
      v.types.push_back(1);
    }
    const std::string sp = byte_level_char(' ');
    for (const std::string& t : {std::string("ab"), sp + "a", std::string("<|im_start|>"), std::string("<ud>")}) {
      v.tokens.push_back(t);
      v.types.push_back(t == "<|im_start|>" ? 3 : t == "<ud>" ? 4 : 1);
    }
    v.merges = {"a b", sp + " a"};
    v.bos = v.eos = 258;
    out.push_back({Tokenizer::from_gguf(GgufFile::from_bytes(testing::test_vocab_gguf(v))), false,
                   pretokenizer_spec(pre).clean_spaces});
  }
  return out;
}

[[noreturn]] inline void tokenizer_invariant_broken(const char* what, std::uint8_t pick) {
  std::fprintf(stderr, "fuzz_tokenizer: %s (tokenizer %u)\n", what, static_cast<unsigned>(pick));
  std::abort();
}

inline int fuzz_tokenizer(const std::uint8_t* data, std::size_t size) {
  static const std::vector<FuzzTokenizer> tokenizers = make_fuzz_tokenizers();
  if (size == 0) return 0;
  const FuzzTokenizer& t = tokenizers[data[0] % tokenizers.size()];
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  for (const bool special : {false, true}) {
    std::vector<std::int32_t> ids;
    try {
      ids = t.tokenizer.encode(text, false, special);
    } catch (const std::invalid_argument&) {
      if (t.byte_exact) tokenizer_invariant_broken("SentencePiece refused a text", data[0]);
      return 0;
    }
    for (const std::int32_t id : ids)
      if (id < 0 || static_cast<std::size_t>(id) >= t.tokenizer.vocab_size())
        tokenizer_invariant_broken("id outside the vocabulary", data[0]);
    const std::string back = t.tokenizer.decode(ids, special);
    if (t.byte_exact && spm_visible(back) != spm_visible(text))
      tokenizer_invariant_broken("SentencePiece decode differs", data[0]);
    if (!t.byte_exact && !t.clean_spaces) {
      std::string read;  // the text as llama.cpp reads it
      for (const char32_t cp : decode_utf8_lenient(text)) append_utf8(read, cp);
      if (back != read) tokenizer_invariant_broken("BPE decode differs from the text as read", data[0]);
    }
  }
  return 0;
}

}  // namespace veloxquant::fuzz_harness
