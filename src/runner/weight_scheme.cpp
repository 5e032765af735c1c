#include "runner/weight_scheme.h"

#include <charconv>
#include <stdexcept>
#include <vector>

#include "veloxquant/format.h"

namespace veloxquant {

std::string WeightScheme::name() const {
  if (block == 0) return format;
  return format + (format.find(':') == std::string::npos ? ":" : ",") + "block=" + std::to_string(block);
}

std::size_t WeightScheme::record_dim(std::size_t cols) const {
  if (block != 0 && cols % block != 0)
    throw std::invalid_argument("weight block " + std::to_string(block) + " does not divide a row of " +
                                std::to_string(cols) + " columns");
  const std::size_t d = block == 0 ? cols : block;
  if ((d & (d - 1)) != 0 && d > kMaxDenseRecordDim)
    throw std::invalid_argument("records of " + std::to_string(d) +
                                " columns (not a power of two) would need a dense " + "rotation; give a block, e.g. " +
                                format + ":block=128");
  return d;
}

WeightScheme parse_weight_scheme(std::string_view text) {
  WeightScheme s;
  const std::size_t colon = text.find(':');
  s.format = std::string(text.substr(0, colon));
  if (colon != std::string_view::npos) {
    std::string rest;
    std::string_view opts = text.substr(colon + 1);
    while (true) {
      const std::size_t comma = opts.find(',');
      const std::string_view opt = opts.substr(0, comma);
      if (opt.substr(0, 6) == "block=") {
        const std::string_view v = opt.substr(6);
        std::size_t n = 0;
        const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
        if (ec != std::errc() || end != v.data() + v.size() || n == 0 || n > kMaxWeightBlock)
          throw std::invalid_argument("bad weight block '" + std::string(opt) + "' (1 .. 2^20 columns)");
        s.block = n;
      } else {
        if (!rest.empty()) rest += ',';
        rest += opt;
      }
      if (comma == std::string_view::npos) break;
      opts = opts.substr(comma + 1);
    }
    if (!rest.empty()) s.format += ":" + rest;
  }
  parse_format(s.format);  // a bad format name fails here, before any work
  return s;
}

}  // namespace veloxquant
