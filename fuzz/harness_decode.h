// Arbitrary record bytes for every format: decode, score, accumulate and finish_accumulate
// must never crash or read/write out of bounds (NaN or Inf outputs from garbage scales are fine).
//
// Input: byte 0 picks a format (the format table plus option variants), byte 1 a head
// dimension, the rest are the records (zero-padded to a whole record, at least one).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "fuzz_formats.h"
#include "veloxquant/quantizer.h"

namespace veloxquant::fuzz_harness {

inline int fuzz_decode(const std::uint8_t* data, std::size_t size) {
  using namespace veloxquant;
  static const std::vector<std::string> names = fuzz::decode_format_names();
  static std::map<std::pair<std::size_t, std::size_t>, std::unique_ptr<Quantizer>> quantizers;
  if (size < 2) return 0;
  const std::size_t fi = data[0] % names.size(), dim = fuzz::kDecodeDims[data[1] % std::size(fuzz::kDecodeDims)];
  auto& q = quantizers[{fi, dim}];
  if (!q) {
    try {
      q = make_quantizer(names[fi], dim, 1234);
    } catch (const std::invalid_argument&) {
      return 0;  // e.g. outlier counts larger than the dimension
    }
  }
  const std::size_t cs = q->code_size();
  const std::size_t n = std::max<std::size_t>(1, (size - 2 + cs - 1) / cs);
  std::vector<std::uint8_t> codes(n * cs, 0);
  std::memcpy(codes.data(), data + 2, size - 2);
  // Exactly sized buffers, so AddressSanitizer sees any write past them.
  std::vector<float> x(n * dim);
  q->decode(n, codes.data(), x.data());
  constexpr std::size_t kQueries = 2;
  std::vector<float> query(dim), prepared(kQueries * q->query_size()), scores(kQueries * n);
  for (std::size_t i = 0; i < dim; ++i) query[i] = static_cast<float>(i % 7) - 3.0f;
  for (std::size_t i = 0; i < kQueries; ++i) q->prepare_query(query.data(), prepared.data() + i * q->query_size());
  q->score(kQueries, prepared.data(), n, codes.data(), scores.data());
  std::vector<float> weights(kQueries * n, 1.0f / static_cast<float>(n)), acc(kQueries * q->accumulator_size(), 0.0f);
  q->accumulate(kQueries, weights.data(), n, codes.data(), acc.data());
  std::vector<float> out(dim);
  for (std::size_t i = 0; i < kQueries; ++i) q->finish_accumulate(acc.data() + i * q->accumulator_size(), out.data());
  return 0;
}

}  // namespace veloxquant::fuzz_harness
