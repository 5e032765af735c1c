#include "pack/plane_blocks.h"

#include <cstring>

namespace veloxquant {

namespace {

// Record r's nibble in the 8 bytes of one half of a chunk.
inline void set_nibble(std::uint8_t* chunk, std::size_t r, unsigned nibble) {
  const unsigned shift = 4 * (r % 2);
  chunk[r / 2] = static_cast<std::uint8_t>((chunk[r / 2] & ~(15u << shift)) | (nibble << shift));
}
inline unsigned get_nibble(const std::uint8_t* chunk, std::size_t r) { return (chunk[r / 2] >> (4 * (r % 2))) & 15u; }

}  // namespace

void put_block_scale(const std::uint8_t* scale, std::uint8_t* block_scales, std::size_t r) {
  std::memcpy(block_scales + 2 * r, scale, 2);
}

void get_block_scale(const std::uint8_t* block_scales, std::size_t r, std::uint8_t* scale) {
  std::memcpy(scale, block_scales + 2 * r, 2);
}

void put_block_planes(const std::uint8_t* planes, int bits, std::size_t plane_bytes, std::uint8_t* block_planes,
                      std::size_t r) {
  for (std::size_t j = 0; j < plane_bytes; ++j)
    for (int p = 0; p < bits; ++p) {
      std::uint8_t* chunk = block_planes + 16 * (j * static_cast<std::size_t>(bits) + p);
      const unsigned byte = planes[p * plane_bytes + j];
      set_nibble(chunk, r, byte & 15u);
      set_nibble(chunk + 8, r, byte >> 4);
    }
}

void get_block_planes(const std::uint8_t* block_planes, int bits, std::size_t plane_bytes, std::size_t r,
                      std::uint8_t* planes) {
  for (std::size_t j = 0; j < plane_bytes; ++j)
    for (int p = 0; p < bits; ++p) {
      const std::uint8_t* chunk = block_planes + 16 * (j * static_cast<std::size_t>(bits) + p);
      planes[p * plane_bytes + j] = static_cast<std::uint8_t>(get_nibble(chunk, r) | get_nibble(chunk + 8, r) << 4);
    }
}

}  // namespace veloxquant
