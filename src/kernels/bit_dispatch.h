// The plane kernels are templates over the bits per code: with_bits<kMax>(bits, f) calls
// f(std::integral_constant<int, bits>{}) for bits in 1..kMax (kMax for any larger value; callers
// check the range). f is typically a lambda without the kernels' target attribute, so SIMD
// vectors must cross it by reference only.
#pragma once

#include <type_traits>

namespace veloxquant::kernels {

template <int kMax, int kBits = 1, class F>
inline void with_bits(int bits, F&& f) {
  if constexpr (kBits < kMax) {
    if (bits == kBits) return f(std::integral_constant<int, kBits>{});
    return with_bits<kMax, kBits + 1>(bits, f);
  } else {
    return f(std::integral_constant<int, kBits>{});
  }
}

}  // namespace veloxquant::kernels
