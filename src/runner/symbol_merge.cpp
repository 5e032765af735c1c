#include "runner/symbol_merge.h"

#include <algorithm>
#include <queue>

#include "runner/unicode_text.h"

namespace veloxquant {

std::vector<SymbolSpan> merge_symbols(std::string_view text, const PairPriority& priority) {
  // Symbols are characters in a doubly linked list; a merged symbol grows in place.
  struct Symbol {
    std::size_t start, len;
    int prev, next;
  };
  std::vector<Symbol> sym;
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t len = std::min(utf8_sequence_length(static_cast<unsigned char>(text[i])), text.size() - i);
    sym.push_back({i, len, static_cast<int>(sym.size()) - 1, static_cast<int>(sym.size()) + 1});
    i += len;
  }
  if (sym.empty()) return {};
  sym.back().next = -1;

  struct Pair {
    int left, right;
    double priority;
    std::size_t len;                       // merged length when queued: outdated pairs are skipped
    bool operator<(const Pair& o) const {  // max-heap: higher priority, then leftmost
      return priority < o.priority || (priority == o.priority && left > o.left);
    }
  };
  std::priority_queue<Pair> queue;
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const Symbol& l = sym[static_cast<std::size_t>(left)];
    const Symbol& r = sym[static_cast<std::size_t>(right)];
    double p = 0.0;
    if (priority(text.substr(l.start, l.len), text.substr(r.start, r.len), p))
      queue.push({left, right, p, l.len + r.len});
  };
  for (std::size_t i = 1; i < sym.size(); ++i) try_add(static_cast<int>(i) - 1, static_cast<int>(i));
  while (!queue.empty()) {
    const Pair b = queue.top();
    queue.pop();
    Symbol& l = sym[static_cast<std::size_t>(b.left)];
    Symbol& r = sym[static_cast<std::size_t>(b.right)];
    if (l.len == 0 || r.len == 0 || l.len + r.len != b.len) continue;
    l.len += r.len;
    r.len = 0;
    l.next = r.next;
    if (r.next >= 0) sym[static_cast<std::size_t>(r.next)].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }
  std::vector<SymbolSpan> out;
  for (int i = 0; i >= 0; i = sym[static_cast<std::size_t>(i)].next)
    out.push_back({sym[static_cast<std::size_t>(i)].start, sym[static_cast<std::size_t>(i)].len});
  return out;
}

}  // namespace veloxquant
