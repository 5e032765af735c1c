// Greedy pairwise merging of adjacent symbols, the loop both tokenizers share: the text is cut
// into UTF-8 characters by lead byte, and while some adjacent pair has a priority, the pair with
// the highest one (ties: the leftmost) is merged into one symbol. SentencePiece ranks a pair by
// its merged piece's score, byte-level BPE by its merge rank (lower first).
#pragma once

#include <cstddef>
#include <functional>
#include <string_view>
#include <vector>

namespace veloxquant {

struct SymbolSpan {
  std::size_t start, len;
};

// `priority(left, right, p)` returns whether the pair may merge and sets its priority p.
using PairPriority = std::function<bool(std::string_view left, std::string_view right, double& priority)>;

// The final symbols of `text`, in order.
std::vector<SymbolSpan> merge_symbols(std::string_view text, const PairPriority& priority);

}  // namespace veloxquant
