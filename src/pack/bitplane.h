// Bit-plane packing of b-bit codes (1 ≤ b ≤ 8), the layout used by every code record:
// b planes of ceil(n/8) bytes; bit k of byte i of plane p holds bit p of code 8i + k.
// Unused bits of the last byte are zero. The layout does not depend on the CPU's vector width.
#pragma once

#include <cstddef>
#include <cstdint>

namespace veloxquant {

inline std::size_t plane_bytes(std::size_t n) { return (n + 7) / 8; }
inline std::size_t packed_bytes(std::size_t n, int bits) { return static_cast<std::size_t>(bits) * plane_bytes(n); }

// Packs codes[n] (each < 2^bits) into packed_bytes(n, bits) bytes at out.
void pack_planes(std::size_t n, const std::uint8_t* codes, int bits, std::uint8_t* out);
// Unpacks n codes.
void unpack_planes(std::size_t n, const std::uint8_t* packed, int bits, std::uint8_t* codes);

// One code without unpacking the rest.
inline unsigned plane_code(const std::uint8_t* packed, std::size_t n, int bits, std::size_t j) {
  const std::size_t pb = plane_bytes(n);
  unsigned code = 0;
  for (int p = 0; p < bits; ++p) code |= ((packed[p * pb + j / 8] >> (j % 8)) & 1u) << p;
  return code;
}

}  // namespace veloxquant
