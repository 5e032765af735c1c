// SentencePiece-style merging of one text (tokenizer.ggml.model = "llama"), as llama.cpp's
// llm_tokenizer_spm_session: the text (spaces already "▁") is cut into UTF-8 characters by lead
// byte, adjacent symbols merge greedily, highest score of the merged piece first (ties: the
// leftmost), as long as the merged text is a token of any type; a final symbol that is no token
// falls back to one token per byte.
#include <queue>
#include <stdexcept>

#include "runner/tokenizer.h"
#include "runner/unicode_text.h"

namespace veloxquant {

void Tokenizer::encode_spm(std::string_view s, std::vector<std::int32_t>& out) const {
  if (s.empty()) return;
  // Symbols are characters in a doubly linked list; merged symbols grow in place.
  struct Symbol {
    std::size_t start, len;
    int prev, next;
  };
  std::vector<Symbol> sym;
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t len = std::min(utf8_sequence_length(static_cast<unsigned char>(s[i])), s.size() - i);
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
  std::string key;
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const std::size_t len = sym[left].len + sym[right].len;
    key.assign(s.data() + sym[left].start, len);
    const std::int32_t id = lookup(key);
    if (id >= 0) queue.push({left, right, scores_[static_cast<std::size_t>(id)], len});
  };
  for (std::size_t i = 1; i < sym.size(); ++i) try_add(static_cast<int>(i) - 1, static_cast<int>(i));
  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& l = sym[b.left];
    Symbol& r = sym[b.right];
    if (l.len == 0 || r.len == 0 || l.len + r.len != b.len) continue;
    l.len += r.len;
    r.len = 0;
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }

  for (int i = 0; i >= 0; i = sym[i].next) {
    key.assign(s.data() + sym[i].start, sym[i].len);
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
