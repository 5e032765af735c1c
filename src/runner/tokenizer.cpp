#include "runner/tokenizer.h"

#include <algorithm>
#include <stdexcept>

#include "runner/pretokenizer.h"
#include "runner/unicode_text.h"

namespace veloxquant {

namespace {

// llama.cpp's token attribute bits and GGUF token types.
enum : std::uint32_t {
  kAttrUnknown = 1u << 0,
  kAttrUnused = 1u << 1,
  kAttrNormal = 1u << 2,
  kAttrControl = 1u << 3,
  kAttrUserDefined = 1u << 4,
  kAttrByte = 1u << 5,
  kAttrLstrip = 1u << 7,
  kAttrRstrip = 1u << 8,
};
enum TokenType : int { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

std::uint32_t attr_of_type(double type) {
  switch (static_cast<int>(type)) {
    case kNormal:
      return kAttrNormal;
    case kUnknown:
      return kAttrUnknown;
    case kControl:
      return kAttrControl;
    case kUserDefined:
      return kAttrUserDefined;
    case kUnused:
      return kAttrUnused;
    case kByte:
      return kAttrByte;
    default:
      return 0;  // undefined
  }
}

constexpr std::string_view kSpaceMarker = "\xE2\x96\x81";  // U+2581 "▁"

// Texts llama.cpp treats as end-of-generation (and so as control tokens), whatever their type.
const std::vector<std::string_view> kEogTexts = {"<|eot_id|>",
                                                 "<|im_end|>",
                                                 "<|end|>",
                                                 "<|return|>",
                                                 "<|call|>",
                                                 "<|flush|>",
                                                 "<|calls|>",
                                                 "<end_of_turn>",
                                                 "<|endoftext|>",
                                                 "</s>",
                                                 "<|eom_id|>",
                                                 "<EOT>",
                                                 "_<EOT>",
                                                 "[EOT]",
                                                 "[EOS]",
                                                 "<|end_of_text|>",
                                                 "<end_of_utterance>",
                                                 "<eos>",
                                                 "<turn|>",
                                                 "<|tool_response>",
                                                 "<｜end▁of▁sentence｜>",
                                                 "[e~["};
// The end-of-turn texts, the first present of which is the EOT token when the metadata names none.
const std::vector<std::string_view> kEotTexts = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",         "<|endoftext|>",     "<|end_of_text|>",
    "<EOT>",      "_<EOT>",     "[EOT]",   "<｜end▁of▁sentence｜>", "<end_of_utterance>"};
// Fill-in-the-middle markers: the first of each group present becomes a control token; the pad,
// repo and file-separator markers also end generation.
const std::vector<std::vector<std::string_view>> kFimTexts = {
    {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>",
     "<|prefix|>"},
    {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>",
     "<|suffix|>"},
    {"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>",
     "<|middle|>"},
    {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"},
    {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"},
    {"<|file_sep|>"}};
const std::vector<std::string> kFimKeys = {"tokenizer.ggml.fim_pre_token_id", "tokenizer.ggml.fim_suf_token_id",
                                           "tokenizer.ggml.fim_mid_token_id", "tokenizer.ggml.fim_pad_token_id",
                                           "tokenizer.ggml.fim_rep_token_id", "tokenizer.ggml.fim_sep_token_id"};

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool is_ascii_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

std::string lowercase(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    if (s.compare(i, from.size(), from) == 0) {
      out += to;
      i += from.size();
    } else {
      out += s[i++];
    }
  }
  s = std::move(out);
}

// HF's clean_up_tokenization_spaces as llama.cpp applies it: " ?" " !" " ." " ," lose the
// space, " ' " loses both, " 's" " 'm" " 're" " 've" lose it.
std::string clean_spaces(const std::string& text) {
  std::string a;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char x = text[i];
    if (i > 0 && text[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) a.pop_back();
    a += x;
  }
  std::string b;  // a[i + 1] is cleared when skipped, so it is no longer a space to the next check
  for (std::size_t i = 0; i < a.size(); ++i) {
    const char x = a[i];
    if (i > 0 && x == '\'' && i + 1 < a.size() && a[i - 1] == ' ' && a[i + 1] == ' ') {
      b.pop_back();
      b += x;
      a[++i] = '\0';
      continue;
    }
    b += x;
  }
  std::string c;
  for (std::size_t i = 0; i < b.size(); ++i) {
    const char x = b[i];
    if (i > 0 && b[i - 1] == ' ' && x == '\'' && i + 1 < b.size()) {
      const char x1 = b[i + 1];
      const bool drop = x1 == 's' || x1 == 'm' ||
                        (x1 != 't' && x1 != 'd' && i + 2 < b.size() &&
                         ((x1 == 'r' && b[i + 2] == 'e') || (x1 == 'v' && b[i + 2] == 'e')));
      if (drop) c.pop_back();
    }
    c += x;
  }
  return c;
}

}  // namespace

Tokenizer Tokenizer::from_gguf(const GgufFile& f) {
  Tokenizer t;
  const PreTokenizerSpec* spec = nullptr;  // byte-level BPE only
  const std::string& model = f.get_string("tokenizer.ggml.model");
  if (model == "llama") {
    t.kind_ = Kind::kSentencePiece;
    t.add_space_prefix_ = true;
    t.add_bos_ = true;
  } else if (model == "gpt2") {
    t.kind_ = Kind::kBytePairs;
    spec = &pretokenizer_spec(f.has("tokenizer.ggml.pre") ? f.get_string("tokenizer.ggml.pre") : "");
    t.pre_family_ = spec->family;
    t.ignore_merges_ = spec->ignore_merges;
    t.clean_spaces_ = spec->clean_spaces;
    t.add_bos_ = spec->add_bos;
    t.splitter_ = std::make_shared<RegexSplitter>(spec->patterns);
  } else {
    throw std::runtime_error("unsupported tokenizer.ggml.model '" + model + "' (supported: llama, gpt2)");
  }
  t.load_vocabulary(f);
  if (t.kind_ == Kind::kBytePairs) t.load_merges(f);
  t.add_space_prefix_ = f.get_bool("tokenizer.ggml.add_space_prefix", t.add_space_prefix_);
  t.load_special_ids(f, spec != nullptr && spec->no_bos);
  t.add_bos_ = f.get_bool("tokenizer.ggml.add_bos_token", t.add_bos_);
  t.add_eos_ = f.get_bool("tokenizer.ggml.add_eos_token", t.add_eos_);
  if (t.add_bos_ && t.bos_ < 0)
    throw std::runtime_error("tokenizer.ggml.add_bos_token is true, but the vocabulary has no BOS token");
  if (t.add_eos_ && t.eos_ < 0)
    throw std::runtime_error("tokenizer.ggml.add_eos_token is true, but the vocabulary has no EOS token");
  t.mark_special_tokens(f);
  return t;
}

void Tokenizer::load_vocabulary(const GgufFile& f) {
  pieces_ = f.get_string_array("tokenizer.ggml.tokens");
  const std::size_t n = pieces_.size();
  if (n == 0 || n > (std::size_t{1} << 31)) throw std::runtime_error("tokenizer.ggml.tokens is empty or too long");
  scores_.assign(n, 0.0f);
  if (f.has("tokenizer.ggml.scores")) {
    const std::vector<double>& scores = f.get_number_array("tokenizer.ggml.scores");
    if (scores.size() < n)
      throw std::runtime_error("tokenizer.ggml.scores has " + std::to_string(scores.size()) + " entries for " +
                               std::to_string(n) + " tokens");
    std::copy(scores.begin(), scores.begin() + static_cast<std::ptrdiff_t>(n), scores_.begin());
  }
  attrs_.assign(n, kAttrNormal);
  if (f.has("tokenizer.ggml.token_type")) {
    const std::vector<double>& types = f.get_number_array("tokenizer.ggml.token_type");
    if (types.size() < n)
      throw std::runtime_error("tokenizer.ggml.token_type has " + std::to_string(types.size()) + " entries for " +
                               std::to_string(n) + " tokens");
    for (std::size_t i = 0; i < n; ++i) attrs_[i] = attr_of_type(types[i]);
  }
  ids_.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    std::string& p = pieces_[i];
    if (p.empty()) p = "[EMPTY_" + std::to_string(i) + "]";  // as llama.cpp names them
    const auto [it, inserted] = ids_.emplace(p, static_cast<std::int32_t>(i));
    if (!inserted)
      throw std::runtime_error("duplicate token '" + p + "' in tokenizer.ggml.tokens (ids " +
                               std::to_string(it->second) + " and " + std::to_string(i) + ")");
    if ((attrs_[i] & kAttrByte) &&
        (p.size() != 6 || p.compare(0, 3, "<0x") != 0 || p[5] != '>' || hex_digit(p[3]) < 0 || hex_digit(p[4]) < 0))
      throw std::runtime_error("byte token " + std::to_string(i) + " '" + p + "' is not of the form <0xXX>");
  }
  byte_ids_.fill(-1);
  for (int b = 0; b < 256; ++b) {  // llama.cpp's byte_to_token: "<0xXX>", else the byte itself
    char hex[8];
    std::snprintf(hex, sizeof hex, "<0x%02X>", b);
    std::int32_t id = lookup(hex);
    if (id < 0) id = lookup(std::string(1, static_cast<char>(b)));
    byte_ids_[static_cast<std::size_t>(b)] = id;
  }
}

void Tokenizer::load_special_ids(const GgufFile& f, bool no_bos) {
  const auto n = static_cast<std::int64_t>(pieces_.size());
  auto id = [&](const char* key, std::int32_t fallback) -> std::int32_t {
    if (fallback >= n) fallback = -1;  // a default outside the vocabulary means none
    if (!f.has(key)) return fallback;
    const std::uint64_t v = f.get_uint(key);
    if (v >= static_cast<std::uint64_t>(n))
      throw std::runtime_error(std::string(key) + " = " + std::to_string(v) + " is not a token id (vocabulary of " +
                               std::to_string(n) + ")");
    return static_cast<std::int32_t>(v);
  };
  const bool spm = kind_ == Kind::kSentencePiece;
  bos_ = id("tokenizer.ggml.bos_token_id", no_bos ? -1 : spm ? 1 : 11);
  eos_ = id("tokenizer.ggml.eos_token_id", spm ? 2 : 11);
  unk_ = id("tokenizer.ggml.unknown_token_id", spm ? 0 : -1);
  eot_ = id("tokenizer.ggml.eot_token_id", -1);
}

void Tokenizer::mark_special_tokens(const GgufFile& f) {
  auto make_control = [&](std::int32_t i) {
    eog_.insert(i);
    attrs_[static_cast<std::size_t>(i)] |= kAttrControl;
  };
  if (eot_ < 0) {
    for (std::size_t i = 0; i < pieces_.size() && eot_ < 0; ++i)
      if (std::find(kEotTexts.begin(), kEotTexts.end(), pieces_[i]) != kEotTexts.end())
        eot_ = static_cast<std::int32_t>(i);
  }
  for (std::size_t g = 0; g < kFimTexts.size(); ++g) {
    std::int32_t fim = f.has(kFimKeys[g]) ? static_cast<std::int32_t>(f.get_uint(kFimKeys[g])) : -1;
    if (fim < 0) {
      for (std::size_t i = 0; i < pieces_.size() && fim < 0; ++i)
        if (std::find(kFimTexts[g].begin(), kFimTexts[g].end(), pieces_[i]) != kFimTexts[g].end()) {
          fim = static_cast<std::int32_t>(i);
          attrs_[i] |= kAttrControl;
        }
    }
    if (g >= 3 && fim >= 0 && static_cast<std::size_t>(fim) < pieces_.size()) eog_.insert(fim);
  }
  for (std::size_t i = 0; i < pieces_.size(); ++i) {
    const std::string& p = pieces_[i];
    if (std::find(kEogTexts.begin(), kEogTexts.end(), p) != kEogTexts.end()) make_control(static_cast<std::int32_t>(i));
    if (p == "<|channel|>" || p == "<|message|>" || p == "<|start|>" || p == "<|constrain|>")
      attrs_[i] = kAttrUserDefined;  // llama.cpp always renders these (gpt-oss)
  }
  if (eos_ >= 0) eog_.insert(eos_);
  if (eot_ >= 0) eog_.insert(eot_);
  if (const std::int32_t eom = find_token("<|eom_id|>"); eom >= 0) eog_.insert(eom);

  for (std::size_t i = 0; i < pieces_.size(); ++i)
    if (attrs_[i] & (kAttrControl | kAttrUserDefined | kAttrUnknown))
      special_tokens_.push_back(static_cast<std::int32_t>(i));
  std::stable_sort(special_tokens_.begin(), special_tokens_.end(), [&](std::int32_t a, std::int32_t b) {
    return pieces_[static_cast<std::size_t>(a)].size() > pieces_[static_cast<std::size_t>(b)].size();
  });

  // Phi-3 models keep no whitespace after their special tokens (llama.cpp sets this by model name).
  const std::string name = f.has("general.name") ? lowercase(f.get_string("general.name")) : "";
  if (name.find("phi-3") != std::string::npos || name.find("phi3") != std::string::npos) {
    for (std::int32_t i : special_tokens_) attrs_[static_cast<std::size_t>(i)] |= kAttrRstrip;
    if (const std::int32_t s = find_token("</s>"); s >= 0) attrs_[static_cast<std::size_t>(s)] |= kAttrRstrip;
    for (const char* text : {"<unk>", "<s>", "<|endoftext|>"})
      if (const std::int32_t s = find_token(text); s >= 0) attrs_[static_cast<std::size_t>(s)] &= ~kAttrRstrip;
  }
}

std::int32_t Tokenizer::lookup(const std::string& text) const {
  const auto it = ids_.find(text);
  return it == ids_.end() ? -1 : it->second;
}

std::int32_t Tokenizer::find_token(std::string_view text) const { return lookup(std::string(text)); }

std::int32_t Tokenizer::find_piece(std::string_view piece) const {
  const std::int32_t id = find_token(piece);
  return id >= 0 && (attrs_[static_cast<std::size_t>(id)] & (kAttrNormal | kAttrUserDefined)) ? id : -1;
}

bool Tokenizer::is_control(std::int32_t id) const {
  piece(id);  // range check
  return (attrs_[static_cast<std::size_t>(id)] & kAttrControl) != 0;
}

const std::string& Tokenizer::piece(std::int32_t id) const {
  if (id < 0 || static_cast<std::size_t>(id) >= pieces_.size())
    throw std::invalid_argument("token id " + std::to_string(id) + " is outside the vocabulary of " +
                                std::to_string(pieces_.size()));
  return pieces_[static_cast<std::size_t>(id)];
}

// llama.cpp's tokenizer_st_partition: each special token in turn (longest first) is cut out of
// every raw fragment, left to right.
std::vector<Tokenizer::Fragment> Tokenizer::split_special(std::string_view text, bool parse_special) const {
  std::vector<Fragment> fragments;
  if (text.empty()) return fragments;
  fragments.push_back({-1, 0, text.size()});
  for (const std::int32_t id : special_tokens_) {
    const std::uint32_t attr = attrs_[static_cast<std::size_t>(id)];
    if (!parse_special && (attr & (kAttrControl | kAttrUnknown))) continue;
    const std::string& special = pieces_[static_cast<std::size_t>(id)];
    if (text.find(special) == std::string_view::npos) continue;
    std::vector<Fragment> next;
    for (const Fragment& fr : fragments) {
      if (fr.token >= 0) {
        next.push_back(fr);
        continue;
      }
      std::size_t begin = fr.begin;
      const std::size_t end = fr.end;
      while (begin < end) {
        const std::size_t match = text.substr(0, end).find(special, begin);
        if (match == std::string_view::npos) break;
        std::size_t left_end = match;
        if (attr & kAttrLstrip)
          while (left_end > begin && is_ascii_space(text[left_end - 1])) --left_end;
        if (left_end > begin) next.push_back({-1, begin, left_end});
        next.push_back({id, match, match + special.size()});
        begin = match + special.size();
        if (attr & kAttrRstrip)
          while (begin < end && is_ascii_space(text[begin])) ++begin;
      }
      if (begin < end) next.push_back({-1, begin, end});
    }
    fragments = std::move(next);
  }
  return fragments;
}

std::vector<std::int32_t> Tokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
  std::vector<std::int32_t> out;
  const std::vector<Fragment> fragments = split_special(text, parse_special);
  if (add_special && add_bos_) out.push_back(bos_);
  bool after_special = true;  // SentencePiece prefixes a space to text that starts or follows a special token
  for (const Fragment& fr : fragments) {
    if (fr.token >= 0) {
      out.push_back(fr.token);
      after_special = true;
      continue;
    }
    const std::string_view raw = text.substr(fr.begin, fr.end - fr.begin);
    if (kind_ == Kind::kSentencePiece) {
      std::string s = add_space_prefix_ && after_special ? " " : "";
      s += raw;
      replace_all(s, " ", kSpaceMarker);
      encode_spm(s, out);
    } else {
      encode_bpe(raw, out);
    }
    after_special = false;
  }
  if (add_special && add_eos_) out.push_back(eos_);
  return out;
}

std::string Tokenizer::piece_text(std::int32_t id, bool special) const {
  const std::string& p = piece(id);
  const std::uint32_t attr = attrs_[static_cast<std::size_t>(id)];
  if (attr & (kAttrUnknown | kAttrControl)) return special ? p : std::string();
  if (attr & kAttrUserDefined) return p;
  if (attr & kAttrNormal) {
    if (kind_ == Kind::kSentencePiece) {
      std::string s = p;
      replace_all(s, kSpaceMarker, " ");
      return s;
    }
    std::string s;  // byte-level: each code point stands for one byte
    for (const char32_t cp : decode_utf8_lenient(p)) {
      const int b = byte_level_byte(cp);
      if (b >= 0) {
        s += static_cast<char>(b);
        continue;
      }
      std::string utf8;  // llama.cpp's marker for a character outside the byte alphabet
      append_utf8(utf8, cp);
      s += "[UNK_BYTE_0x";
      for (const char c : utf8) {
        char hex[4];
        std::snprintf(hex, sizeof hex, "%02x", static_cast<unsigned char>(c));
        s += hex;
      }
      s += p + "]";
    }
    return s;
  }
  if (attr & kAttrByte) return std::string(1, static_cast<char>(hex_digit(p[3]) * 16 + hex_digit(p[4])));
  return std::string();  // unused and undefined tokens have no text
}

std::string Tokenizer::token_text(std::int32_t id, bool special) const { return piece_text(id, special); }

std::string Tokenizer::decode(const std::vector<std::int32_t>& ids, bool special) const {
  std::string out;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    std::string p = piece_text(ids[i], special);
    if (i == 0 && add_space_prefix_ && !p.empty() && p[0] == ' ') p.erase(0, 1);  // the prefix space
    out += p;
  }
  return clean_spaces_ ? clean_spaces(out) : out;
}

}  // namespace veloxquant
