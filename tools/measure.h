// Quality and speed of one format on random unit vectors and random unit queries.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace veloxquant::cli {

struct FormatMeasurement {
  std::string format;
  std::size_t dim = 0;
  int bits = 0;                      // nominal bits (0 where the method has none)
  double bits_per_coord = 0.0;       // measured from the record size
  std::size_t code_bytes = 0;        // bytes per vector
  double mse = 0.0;                  // mean ‖u − û‖²
  std::optional<double> mse_theory;  // where theory.md gives one
  double ip_bias = 0.0;              // mean of (estimate − ⟨y, u⟩)
  double ip_mse = 0.0;               // mean squared inner-product error
  std::optional<double> ip_mse_theory;
  double ip_corr = 0.0;               // correlation of estimates with true inner products
  double encode_ns_per_vector = 0.0;  // median of several timed passes
};

FormatMeasurement measure_format(const std::string& format, std::size_t dim, std::size_t samples, std::uint64_t seed);

}  // namespace veloxquant::cli
