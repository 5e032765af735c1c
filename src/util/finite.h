// A branch-free scan for NaN/±Inf (all exponent bits set), so it vectorises; callers look for
// the first bad value only when this says there is one, to name it in their error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace veloxquant {

inline bool any_non_finite(const float* x, std::size_t count) {
  std::uint32_t bad = 0;
  for (std::size_t i = 0; i < count; ++i) {
    std::uint32_t bits;
    std::memcpy(&bits, x + i, sizeof bits);
    bad |= static_cast<std::uint32_t>((bits & 0x7F800000u) == 0x7F800000u);
  }
  return bad != 0;
}

}  // namespace veloxquant
