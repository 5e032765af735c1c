// How the runner stores its weight matrices when asked to quantize them (`--weights`): a
// quantizer format and the number of columns each record covers. "tq4" stores each row as one
// record (one scale per row); "tq4:block=64" stores each row as records of 64 columns, each with
// its own rotation-domain codes and scale (more scales, smaller error).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace veloxquant {

struct WeightScheme {
  std::string format;        // a quantizer format name with its options, e.g. "tq4" or "tq4:scale=norm"
  std::size_t block = 0;     // columns per record; 0 = the whole row
  std::string name() const;  // round-trips through parse_weight_scheme
  // Columns per record for a matrix of `cols` columns; throws std::invalid_argument when the
  // block does not divide the row, or a record width that is not a power of two exceeds
  // kMaxDenseRecordDim (its rotation is a dense d×d matrix built in O(d³): use a block).
  std::size_t record_dim(std::size_t cols) const;
};

inline constexpr std::size_t kMaxWeightBlock = std::size_t{1} << 20;
inline constexpr std::size_t kMaxDenseRecordDim = 4096;

// Parses "FORMAT" or "FORMAT:opt,...,block=N" (block taken out, the other options stay with the
// format). Throws std::invalid_argument naming the bad text.
WeightScheme parse_weight_scheme(std::string_view text);

}  // namespace veloxquant
