#include "runner/tokenizer.h"

#include <queue>
#include <stdexcept>

namespace veloxquant {

namespace {

constexpr std::string_view kSpaceMarker = "\xE2\x96\x81";  // U+2581 "▁"

std::size_t utf8_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead & 0xE0) == 0xC0) return 2;
  if ((lead & 0xF0) == 0xE0) return 3;
  if ((lead & 0xF8) == 0xF0) return 4;
  return 1;  // stray continuation byte: a symbol of its own (it will fall back to bytes)
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

Tokenizer Tokenizer::from_gguf(const GgufFile& f) {
  const std::string& model = f.get_string("tokenizer.ggml.model");
  if (model != "llama") throw std::runtime_error("unsupported tokenizer model '" + model + "' (only 'llama')");
  Tokenizer t;
  t.pieces_ = f.get_string_array("tokenizer.ggml.tokens");
  const std::size_t n = t.pieces_.size();
  if (n == 0 || n > (std::size_t{1} << 31)) throw std::runtime_error("tokenizer.ggml.tokens is empty or too long");
  const std::vector<double>& scores = f.get_number_array("tokenizer.ggml.scores");
  if (scores.size() != n)
    throw std::runtime_error("tokenizer.ggml.scores has " + std::to_string(scores.size()) + " entries for " +
                             std::to_string(n) + " tokens");
  t.scores_.assign(scores.begin(), scores.end());
  if (f.has("tokenizer.ggml.token_type")) {
    const std::vector<double>& types = f.get_number_array("tokenizer.ggml.token_type");
    if (types.size() != n) throw std::runtime_error("tokenizer.ggml.token_type has the wrong length");
    t.types_.assign(types.begin(), types.end());
  } else {
    t.types_.assign(n, kNormal);
  }
  auto id = [&](const char* key, std::int32_t fallback) {
    const std::uint64_t v = f.get_uint(key, static_cast<std::uint64_t>(fallback));
    if (v >= n) throw std::runtime_error(std::string(key) + " = " + std::to_string(v) + " is not a token id");
    return static_cast<std::int32_t>(v);
  };
  t.bos_ = id("tokenizer.ggml.bos_token_id", 1);
  t.eos_ = id("tokenizer.ggml.eos_token_id", 2);
  t.unk_ = id("tokenizer.ggml.unknown_token_id", 0);
  t.add_bos_ = f.get_bool("tokenizer.ggml.add_bos_token", true);
  t.add_space_prefix_ = f.get_bool("tokenizer.ggml.add_space_prefix", true);
  t.byte_ids_.fill(-1);
  for (std::size_t i = 0; i < n; ++i) {
    const std::string& p = t.pieces_[i];
    if (t.types_[i] == kByte) {
      if (p.size() != 6 || p.compare(0, 3, "<0x") != 0 || p[5] != '>' || hex_digit(p[3]) < 0 || hex_digit(p[4]) < 0)
        throw std::runtime_error("byte token " + std::to_string(i) + " '" + p + "' is not of the form <0xXX>");
      const int byte = hex_digit(p[3]) * 16 + hex_digit(p[4]);  // 0..255, checked above
      t.byte_ids_[static_cast<std::size_t>(byte)] = static_cast<std::int32_t>(i);
    } else if (t.types_[i] == kNormal || t.types_[i] == kUserDefined) {
      t.mergeable_.emplace(p, static_cast<std::int32_t>(i));  // first id wins for duplicates
    }
  }
  return t;
}

std::vector<std::int32_t> Tokenizer::encode(std::string_view text, bool add_bos) const {
  std::vector<std::int32_t> out;
  if (add_bos) out.push_back(bos_);
  if (text.empty()) return out;
  std::string s;
  if (add_space_prefix_) s += kSpaceMarker;
  for (char c : text) {
    if (c == ' ')
      s += kSpaceMarker;
    else
      s += c;
  }

  // Symbols are UTF-8 characters in a doubly linked list; merged symbols grow in place.
  struct Symbol {
    std::size_t start, len;
    int prev, next;
  };
  std::vector<Symbol> sym;
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t len = std::min(utf8_length(static_cast<unsigned char>(s[i])), s.size() - i);
    sym.push_back({i, len, static_cast<int>(sym.size()) - 1, static_cast<int>(sym.size()) + 1});
    i += len;
  }
  sym.back().next = -1;

  struct Bigram {
    int left, right;
    float score;
    std::size_t len;                         // merged length when queued: stale entries are skipped
    bool operator<(const Bigram& o) const {  // max-heap: higher score, then leftmost
      return score < o.score || (score == o.score && left > o.left);
    }
  };
  std::priority_queue<Bigram> queue;
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const std::size_t len = sym[left].len + sym[right].len;
    auto it = mergeable_.find(std::string(s.data() + sym[left].start, len));
    if (it != mergeable_.end()) queue.push({left, right, scores_[static_cast<std::size_t>(it->second)], len});
  };
  for (std::size_t i = 1; i < sym.size(); ++i) try_add(static_cast<int>(i) - 1, static_cast<int>(i));
  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& l = sym[b.left];
    Symbol& r = sym[b.right];
    if (l.len == 0 || r.len == 0 || l.len + r.len != b.len || l.next != b.right) continue;
    l.len += r.len;
    r.len = 0;
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }

  for (int i = 0; i >= 0; i = sym[i].next) {
    const std::string piece(s.data() + sym[i].start, sym[i].len);
    if (auto it = mergeable_.find(piece); it != mergeable_.end()) {
      out.push_back(it->second);
      continue;
    }
    for (unsigned char byte : piece) out.push_back(byte_ids_[byte] >= 0 ? byte_ids_[byte] : unk_);
  }
  return out;
}

std::string Tokenizer::token_text(std::int32_t id) const {
  if (id < 0 || static_cast<std::size_t>(id) >= pieces_.size())
    throw std::invalid_argument("token id " + std::to_string(id) + " is outside the vocabulary");
  const std::string& p = pieces_[static_cast<std::size_t>(id)];
  const int type = types_[static_cast<std::size_t>(id)];
  if (type == kByte) return std::string(1, static_cast<char>(hex_digit(p[3]) * 16 + hex_digit(p[4])));
  if (type == kControl || type == kUnknown) return type == kUnknown ? p : std::string();
  std::string out;
  for (std::size_t i = 0; i < p.size();) {
    if (p.compare(i, kSpaceMarker.size(), kSpaceMarker) == 0) {
      out += ' ';
      i += kSpaceMarker.size();
    } else {
      out += p[i++];
    }
  }
  return out;
}

std::int32_t Tokenizer::find_piece(std::string_view piece) const {
  auto it = mergeable_.find(std::string(piece));
  return it == mergeable_.end() ? -1 : it->second;
}

std::string Tokenizer::decode(const std::vector<std::int32_t>& ids) const {
  std::string out;
  for (std::int32_t id : ids) out += token_text(id);
  if (add_space_prefix_ && !out.empty() && out[0] == ' ') out.erase(0, 1);
  return out;
}

}  // namespace veloxquant
