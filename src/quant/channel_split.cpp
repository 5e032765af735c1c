// Channel lists of the outlier splits of tq and tqp formats (quantizers.h).
#include <stdexcept>
#include <string>
#include <vector>

#include "quant/quantizers.h"

namespace veloxquant {

std::vector<std::uint32_t> checked_outlier_channels(const FormatSpec& spec, std::size_t dim,
                                                    std::span<const std::uint32_t> chosen) {
  const std::size_t n_out = spec.outliers_for_dim(dim);
  if (n_out < 2 || n_out + 2 > dim)
    throw std::invalid_argument("format " + spec.name() + ": " + std::to_string(n_out) +
                                " outlier channels do not fit head dimension " + std::to_string(dim) +
                                " (need 2 <= outliers <= dim - 2)");
  std::vector<std::uint32_t> channels(chosen.begin(), chosen.end());
  if (channels.empty()) {
    for (std::uint32_t j = 0; j < n_out; ++j) channels.push_back(j);
  }
  if (channels.size() != n_out)
    throw std::invalid_argument("format " + spec.name() + " needs " + std::to_string(n_out) +
                                " outlier channels, got " + std::to_string(channels.size()));
  std::vector<bool> seen(dim, false);
  for (std::uint32_t c : channels) {
    if (c >= dim)
      throw std::invalid_argument("outlier channel " + std::to_string(c) + " >= dim " + std::to_string(dim));
    if (seen[c]) throw std::invalid_argument("outlier channel " + std::to_string(c) + " listed twice");
    seen[c] = true;
  }
  return channels;
}

std::vector<std::uint32_t> complement_channels(const std::vector<std::uint32_t>& chosen, std::size_t dim) {
  std::vector<bool> taken(dim, false);
  for (std::uint32_t c : chosen) taken[c] = true;
  std::vector<std::uint32_t> rest;
  for (std::uint32_t j = 0; j < dim; ++j)
    if (!taken[j]) rest.push_back(j);
  return rest;
}

}  // namespace veloxquant
