#include "cache/outlier_channels.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <string>

namespace veloxquant {

std::vector<std::uint32_t> choose_outlier_channels(std::size_t n, std::size_t dim, const float* x, std::size_t count) {
  if (count > dim)
    throw std::invalid_argument("outlier count " + std::to_string(count) + " exceeds head_dim " + std::to_string(dim));
  // Double sums: the ranking must not depend on float rounding of long sums.
  std::vector<double> energy(dim, 0.0);
  for (std::size_t t = 0; t < n; ++t)
    for (std::size_t c = 0; c < dim; ++c) energy[c] += static_cast<double>(x[t * dim + c]) * x[t * dim + c];
  std::vector<std::uint32_t> order(dim);
  std::iota(order.begin(), order.end(), 0u);
  std::stable_sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) { return energy[a] > energy[b]; });
  std::vector<std::uint32_t> chosen(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(count));
  std::sort(chosen.begin(), chosen.end());
  return chosen;  // exact capacity: memory_bytes() counts it
}

}  // namespace veloxquant
