#include "io/crc32.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace veloxquant {
namespace {

TEST(Crc32, MatchesZlibCheckValues) {
  EXPECT_EQ(crc32("", 0), 0u);
  EXPECT_EQ(crc32("123456789", 9), 0xCBF43926u);  // the standard CRC-32 check value
  EXPECT_EQ(crc32("The quick brown fox jumps over the lazy dog", 43), 0x414FA339u);
}

TEST(Crc32, ChunkedEqualsWholeAndDetectsOneBitFlips) {
  std::vector<std::uint8_t> data(1031);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i * 131 + 7);
  const std::uint32_t whole = crc32(data.data(), data.size());
  for (std::size_t split : {0, 1, 3, 4, 5, 512, 1030, 1031})
    EXPECT_EQ(crc32(data.data() + split, data.size() - split, crc32(data.data(), split)), whole) << split;
  for (std::size_t i = 0; i < data.size(); i += 97) {
    data[i] ^= 0x10;
    EXPECT_NE(crc32(data.data(), data.size()), whole) << i;
    data[i] ^= 0x10;
  }
}

}  // namespace
}  // namespace veloxquant
