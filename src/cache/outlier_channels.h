// Choice of the outlier channels of formats with an outlier instance (tq2.5, tq3.5,
// tqB:outliers=N/B): the `count` channels with the largest mean square over calibration vectors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace veloxquant {

// The `count` channels of x[n][dim] with the largest Σ_t x[t][c]² (ties: lower channel first),
// returned in ascending channel order. count ≤ dim; n may be 0 (then channels 0..count−1).
std::vector<std::uint32_t> choose_outlier_channels(std::size_t n, std::size_t dim, const float* x, std::size_t count);

}  // namespace veloxquant
