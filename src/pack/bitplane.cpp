#include "pack/bitplane.h"

#include <cstring>

namespace veloxquant {

void pack_planes(std::size_t n, const std::uint8_t* codes, int bits, std::uint8_t* out) {
  const std::size_t pb = plane_bytes(n);
  std::memset(out, 0, packed_bytes(n, bits));
  for (std::size_t j = 0; j < n; ++j) {
    for (int p = 0; p < bits; ++p) out[p * pb + j / 8] |= static_cast<std::uint8_t>(((codes[j] >> p) & 1u) << (j % 8));
  }
}

void unpack_planes(std::size_t n, const std::uint8_t* packed, int bits, std::uint8_t* codes) {
  for (std::size_t j = 0; j < n; ++j) codes[j] = static_cast<std::uint8_t>(plane_code(packed, n, bits, j));
}

}  // namespace veloxquant
