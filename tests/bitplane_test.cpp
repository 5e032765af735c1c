#include <gtest/gtest.h>

#include "math/prng.h"
#include "pack/bitplane.h"

namespace veloxquant {
namespace {

TEST(Bitplane, RoundTripsEveryWidthAndOddLengths) {
  SplitMix64 rng(1);
  for (int bits = 1; bits <= 8; ++bits)
    for (std::size_t n : {1u, 3u, 7u, 8u, 9u, 31u, 64u, 96u, 129u, 256u}) {
      std::vector<std::uint8_t> codes(n), back(n), packed(packed_bytes(n, bits) + 1, 0xAB);
      for (auto& c : codes) c = static_cast<std::uint8_t>(rng.next() & ((1u << bits) - 1));
      pack_planes(n, codes.data(), bits, packed.data());
      EXPECT_EQ(packed.back(), 0xAB) << "wrote past the end";
      unpack_planes(n, packed.data(), bits, back.data());
      EXPECT_EQ(codes, back) << "bits=" << bits << " n=" << n;
      if (n % 8) {  // unused bits of the last byte are zero
        const std::uint8_t last = packed[plane_bytes(n) - 1];
        EXPECT_EQ(last >> (n % 8), 0);
      }
    }
}

TEST(Bitplane, DocumentedLayout) {
  // Codes 0..7 at 3 bits: plane p holds bit p of each code, coordinate 8i+k at bit k of byte i.
  const std::uint8_t codes[8] = {0, 1, 2, 3, 4, 5, 6, 7};
  std::uint8_t packed[3];
  pack_planes(8, codes, 3, packed);
  EXPECT_EQ(packed[0], 0xAA);  // bit 0: 0,1,0,1,...
  EXPECT_EQ(packed[1], 0xCC);  // bit 1: 0,0,1,1,...
  EXPECT_EQ(packed[2], 0xF0);  // bit 2
}

}  // namespace
}  // namespace veloxquant
