// Key blocks: the page layout of keys whose scoring reads 16 records at once (docs/formats.md,
// "Key blocks"). A block holds 16 records of code_size bytes in 16·code_size bytes; record bytes
// [a, b) map to block bytes [16a, 16b), with two kinds of segment:
// - an fp16 scale at record offset o: the 16 scales as little-endian u16 at block offset 16·o;
// - `bits` bit planes of pb bytes at record offset o (byte j of plane p at o + p·pb + j): for each
//   j and then p, 16 bytes at 16·o + 16·(j·bits + p). Byte k < 8 holds the low nibbles (the codes'
//   bit p of coordinates 8j..8j+3) of records 2k (bits 0–3) and 2k + 1 (bits 4–7); byte 8 + k
//   the high nibbles (coordinates 8j+4..8j+7). So the 8 bytes of one nibble, read as a 64-bit
//   word, hold bit p of 4 coordinates × 16 records, coordinate c of record r at bit 4r + c.
#pragma once

#include <cstddef>
#include <cstdint>

namespace veloxquant {

constexpr std::size_t kBlockRecords = 16;

// Record r (< 16) of a block: its fp16 scale (2 bytes) / its planes, to and from the segments.
void put_block_scale(const std::uint8_t* scale, std::uint8_t* block_scales, std::size_t r);
void get_block_scale(const std::uint8_t* block_scales, std::size_t r, std::uint8_t* scale);
void put_block_planes(const std::uint8_t* planes, int bits, std::size_t plane_bytes, std::uint8_t* block_planes,
                      std::size_t r);
void get_block_planes(const std::uint8_t* block_planes, int bits, std::size_t plane_bytes, std::size_t r,
                      std::uint8_t* planes);

// The code of coordinate j of record r, read from the segment (the layout's definition).
inline unsigned block_plane_code(const std::uint8_t* block_planes, int bits, std::size_t r, std::size_t j) {
  const std::size_t half = (j % 8) / 4, bit = 4 * (r % 2) + j % 4;
  unsigned code = 0;
  for (int p = 0; p < bits; ++p) {
    const std::uint8_t* chunk = block_planes + 16 * ((j / 8) * static_cast<std::size_t>(bits) + p);
    code |= ((chunk[8 * half + r / 2] >> bit) & 1u) << p;
  }
  return code;
}

}  // namespace veloxquant
