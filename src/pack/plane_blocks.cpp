#include "pack/plane_blocks.h"

#include <array>
#include <bit>
#include <cstring>

namespace veloxquant {

static_assert(std::endian::native == std::endian::little, "value chunks are read as little-endian words");

namespace {

// Keys: record r's nibble in the 8 bytes of one half of a chunk.
inline void set_nibble(std::uint8_t* half, std::size_t r, unsigned nibble) {
  const unsigned shift = 4 * (r % 2);
  half[r / 2] = static_cast<std::uint8_t>((half[r / 2] & ~(15u << shift)) | (nibble << shift));
}
inline unsigned get_nibble(const std::uint8_t* half, std::size_t r) { return (half[r / 2] >> (4 * (r % 2))) & 15u; }

// Values: bits 0..3 of x to bits 0, 16, 32, 48 and back. The multiplier's terms 2^(15k) move bit c
// to 16c (spread) or to 45 + c (gather) and no two products share a bit, so nothing carries.
constexpr std::uint64_t kTerms = 1 + (1ull << 15) + (1ull << 30) + (1ull << 45);
constexpr std::uint64_t kLanes = 0x0001000100010001ull;
constexpr std::uint64_t spread4(unsigned x) { return (x * kTerms) & kLanes; }
inline unsigned gather4(std::uint64_t y) { return static_cast<unsigned>(((y & kLanes) * kTerms) >> 45) & 15u; }

// spread4 of every nibble, looked up: appending puts every record, and a load is cheaper than the
// multiply on the path.
constexpr auto kSpread = [] {
  std::array<std::uint64_t, 16> t{};
  for (unsigned x = 0; x < 16; ++x) t[x] = spread4(x);
  return t;
}();

// Record r's bits of 4 coordinates in one 64-bit half of a value chunk.
inline void set_column(std::uint8_t* half, std::size_t r, unsigned nibble) {
  std::uint64_t w;
  std::memcpy(&w, half, 8);
  w = (w & ~(kLanes << r)) | (kSpread[nibble] << r);
  std::memcpy(half, &w, 8);
}
inline unsigned get_column(const std::uint8_t* half, std::size_t r) {
  std::uint64_t w;
  std::memcpy(&w, half, 8);
  return gather4(w >> r);
}

}  // namespace

void put_block_scale(const std::uint8_t* scale, std::uint8_t* block_scales, std::size_t r) {
  std::memcpy(block_scales + 2 * r, scale, 2);
}

void get_block_scale(const std::uint8_t* block_scales, std::size_t r, std::uint8_t* scale) {
  std::memcpy(scale, block_scales + 2 * r, 2);
}

namespace {

// One loop per order, so that the half accessors inline (appending puts every record).
template <class Put>
void put_planes(Put put, const std::uint8_t* planes, int bits, std::size_t plane_bytes, std::uint8_t* block_planes,
                std::size_t r) {
  for (std::size_t j = 0; j < plane_bytes; ++j)
    for (int p = 0; p < bits; ++p) {
      std::uint8_t* chunk = block_planes + 16 * (j * static_cast<std::size_t>(bits) + p);
      const unsigned byte = planes[p * plane_bytes + j];
      put(chunk, r, byte & 15u);
      put(chunk + 8, r, byte >> 4);
    }
}

template <class Get>
void get_planes(Get get, const std::uint8_t* block_planes, int bits, std::size_t plane_bytes, std::size_t r,
                std::uint8_t* planes) {
  for (std::size_t j = 0; j < plane_bytes; ++j)
    for (int p = 0; p < bits; ++p) {
      const std::uint8_t* chunk = block_planes + 16 * (j * static_cast<std::size_t>(bits) + p);
      planes[p * plane_bytes + j] = static_cast<std::uint8_t>(get(chunk, r) | get(chunk + 8, r) << 4);
    }
}

}  // namespace

void put_block_planes(BlockOrder order, const std::uint8_t* planes, int bits, std::size_t plane_bytes,
                      std::uint8_t* block_planes, std::size_t r) {
  if (order == BlockOrder::kKeys) return put_planes(set_nibble, planes, bits, plane_bytes, block_planes, r);
  put_planes(set_column, planes, bits, plane_bytes, block_planes, r);
}

void get_block_planes(BlockOrder order, const std::uint8_t* block_planes, int bits, std::size_t plane_bytes,
                      std::size_t r, std::uint8_t* planes) {
  if (order == BlockOrder::kKeys) return get_planes(get_nibble, block_planes, bits, plane_bytes, r, planes);
  get_planes(get_column, block_planes, bits, plane_bytes, r, planes);
}

}  // namespace veloxquant
