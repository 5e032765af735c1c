// Record blocks: the page layout of records that attention reads 16 at a time (docs/formats.md,
// "Record blocks"). A block holds 16 records of code_size bytes in 16·code_size bytes; record
// bytes [a, b) map to block bytes [16a, 16b), with two kinds of segment:
// - an fp16 scale at record offset o: the 16 scales as little-endian u16 at block offset 16·o;
// - `bits` bit planes of pb bytes at record offset o (byte j of plane p at o + p·pb + j): for each
//   j and then p, a 16-byte chunk at 16·o + 16·(j·bits + p) holding bit p of coordinates
//   8j..8j+7 of the 16 records, in one of two orders (BlockOrder):
//   keys:   byte k < 8 holds the low nibbles (coordinates 8j..8j+3) of records 2k (bits 0–3) and
//           2k + 1 (bits 4–7); byte 8 + k the high nibbles (coordinates 8j+4..8j+7). Read as
//           64-bit words, each half holds coordinate c of record r at bit 4r + c.
//   values: 8 little-endian u16, word c holding coordinate 8j + c of record r at bit r. Read as
//           64-bit words, each half holds coordinate c of record r at bit 16c + r.
// After the byte-to-bit transpose of the AVX-512 kernels, a key half gives each record's codes of
// 4 coordinates in one 32-bit lane (a dot product per lane), a value half gives each coordinate's
// codes of 4 records in one lane (a weighted sum per lane).
#pragma once

#include <cstddef>
#include <cstdint>

#include "veloxquant/format.h"

namespace veloxquant {

constexpr std::size_t kBlockRecords = 16;

// Record r (< 16) of a block: its fp16 scale (2 bytes) / its planes, to and from the segments.
void put_block_scale(const std::uint8_t* scale, std::uint8_t* block_scales, std::size_t r);
void get_block_scale(const std::uint8_t* block_scales, std::size_t r, std::uint8_t* scale);
void put_block_planes(BlockOrder order, const std::uint8_t* planes, int bits, std::size_t plane_bytes,
                      std::uint8_t* block_planes, std::size_t r);
void get_block_planes(BlockOrder order, const std::uint8_t* block_planes, int bits, std::size_t plane_bytes,
                      std::size_t r, std::uint8_t* planes);

// The code of coordinate j of record r, read from the segment (the layout's definition).
inline unsigned block_plane_code(BlockOrder order, const std::uint8_t* block_planes, int bits, std::size_t r,
                                 std::size_t j) {
  const std::size_t c = j % 8;
  const std::size_t byte = order == BlockOrder::kKeys ? 8 * (c / 4) + r / 2 : 2 * c + r / 8;
  const std::size_t bit = order == BlockOrder::kKeys ? 4 * (r % 2) + c % 4 : r % 8;
  unsigned code = 0;
  for (int p = 0; p < bits; ++p) {
    const std::uint8_t* chunk = block_planes + 16 * ((j / 8) * static_cast<std::size_t>(bits) + p);
    code |= ((chunk[byte] >> bit) & 1u) << p;
  }
  return code;
}

}  // namespace veloxquant
