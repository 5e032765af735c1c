// Configurations and inputs whose sizes or magnitudes the cache cannot honour: counts that would
// overflow a buffer size, queries whose scores overflow float32, and cache files whose compressed
// records carry non-finite scales. Each must give a clear error, never a crash or a silent NaN.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "cache/cache_impl.h"
#include "cache/persist.h"
#include "cache/persist_format.h"
#include "cache_test_util.h"
#include "io/crc32.h"
#include "io/file_error.h"
#include "veloxquant/kv_cache.h"

namespace veloxquant {
namespace {

using test::config_error;
using test::random_normal;
using ::testing::HasSubstr;

// The window ring is window × record bytes per head: 2^56 used to wrap around to a small
// allocation that the first append overran (SIGSEGV from Python).
TEST(CacheLimits, HugeCountsAreRefusedNamingTheValue) {
  CacheConfig c;
  c.window = std::size_t{1} << 56;
  EXPECT_THAT(config_error(c), HasSubstr("window = 72057594037927936"));
  for (std::size_t window : {std::size_t{1} << 25, std::numeric_limits<std::size_t>::max()}) {
    c.window = window;
    EXPECT_THAT(config_error(c), HasSubstr("window = " + std::to_string(window)));
  }
  c = CacheConfig{};
  c.sinks = std::size_t{1} << 62;
  EXPECT_THAT(config_error(c), HasSubstr("sinks = "));
  c = CacheConfig{};
  c.page_tokens = std::size_t{1} << 40;
  EXPECT_THAT(config_error(c), HasSubstr("page_tokens = "));
  c = CacheConfig{};
  c.calibration_tokens = std::numeric_limits<std::size_t>::max();
  EXPECT_THAT(config_error(c), HasSubstr("calibration_tokens = "));
  c = CacheConfig{};
  c.max_tokens = std::numeric_limits<std::size_t>::max();
  EXPECT_THAT(config_error(c), HasSubstr("max_tokens = "));
  c = CacheConfig{};
  c.head_dim = std::size_t{1} << 40;
  EXPECT_THAT(config_error(c), HasSubstr("head_dim = "));
  c = CacheConfig{};
  c.layers = std::size_t{1} << 33;
  c.kv_heads = c.q_heads = std::size_t{1} << 33;  // the product wraps to 2^66 mod 2^64 = 0
  EXPECT_THAT(config_error(c), HasSubstr("layers × kv_heads"));
  c = CacheConfig{};
  c.layers = 2048;
  c.kv_heads = c.q_heads = 1024;
  EXPECT_THAT(config_error(c), HasSubstr("layers × kv_heads = 2048 × 1024"));
  c = CacheConfig{};
  c.q_heads = 4096;
  EXPECT_THAT(config_error(c), HasSubstr("q_heads = 4096"));
}

// Within the per-part bounds, the buffers sized from the configuration alone (window rings,
// sinks, one page per head) are bounded too: 16 M-token f32 windows over 64 heads are 2 TiB.
TEST(CacheLimits, FixedBuffersOutOfProportionAreRefused) {
  CacheConfig c;
  c.layers = 8;
  c.kv_heads = c.q_heads = 8;
  c.key_format = c.value_format = "f32";
  c.window = std::size_t{1} << 24;
  EXPECT_THAT(config_error(c), HasSubstr("bytes of buffers over 64 heads"));
  c.window = 4096;  // 128 MiB of rings: fine
  EXPECT_EQ(config_error(c), "");
}

TEST(CacheLimits, LargestAllowedWindowStillWorks) {
  CacheConfig c;
  c.head_dim = 16;
  c.window = std::size_t{1} << 20;  // 1 M tokens × 32 B (f16) per ring: 64 MiB in all
  c.sinks = 0;
  KVCache cache(c);
  const std::vector<float> k = random_normal(3 * 16, 1), v = random_normal(3 * 16, 2);
  cache.append(0, 3, k.data(), v.data());
  std::vector<float> out(16);
  cache.attend(0, 1, k.data() + 2 * 16, out.data());
  EXPECT_EQ(cache.size(0), 3u);
}

// q = 3e38: the scores overflow float32 and the softmax computed Inf − Inf. The cache reports it
// instead of returning NaN, and stays usable.
TEST(CacheLimits, QueriesWhoseScoresOverflowFloatAreRefused) {
  for (const char* format : {"f32", "f16", "q8", "q4", "tq3", "tqp3", "qjl", "polar", "tq2.5"}) {
    CacheConfig c;
    c.head_dim = 64;
    c.key_format = c.value_format = format;
    c.window = 4;
    c.sinks = 1;
    c.page_tokens = 16;
    KVCache cache(c);
    const std::vector<float> k = random_normal(20 * 64, 3), v = random_normal(20 * 64, 4);
    cache.append(0, 20, k.data(), v.data());
    const std::vector<float> huge(64, 3e38f);
    std::vector<float> out(64);
    try {
      cache.attend(0, 1, huge.data(), out.data());
      ADD_FAILURE() << format << ": no error for q = 3e38";
    } catch (const std::invalid_argument& e) {
      EXPECT_THAT(e.what(), HasSubstr("q[query 0][head 0] has norm 2.4e+39")) << format;
      EXPECT_THAT(e.what(), HasSubstr("overflow float32")) << format;
    }
    // Large but representable scores are fine: the softmax is then one-hot, finite.
    const std::vector<float> big(64, 1e30f);
    cache.attend(0, 1, big.data(), out.data());
    for (float x : out) EXPECT_TRUE(std::isfinite(x)) << format;
  }
}

// Layer section of a one-head cache without sinks, window or outliers: 48 bytes of counts, then
// key seed, value seed, flags and two outlier counts (28 bytes), then the paged key records.
constexpr std::size_t kPagedKeysInPayload = 48 + 28;

std::size_t layer_payload(const std::vector<std::uint8_t>& image) {
  std::size_t at = persist::kHeaderBytes;
  for (int s = 0; s < 2; ++s) {
    std::uint64_t bytes;
    std::memcpy(&bytes, image.data() + at + 8, 8);
    at += persist::kSectionHeaderBytes + bytes + persist::kSectionTrailerBytes;
  }
  return at;  // the layer section's header
}

void fix_layer_crc(std::vector<std::uint8_t>& image, std::size_t section) {
  const std::size_t end = image.size() - persist::kSectionTrailerBytes;
  const std::uint32_t crc =
      crc32(image.data() + section + persist::kSectionHeaderBytes, end - section - persist::kSectionHeaderBytes,
            crc32(image.data() + section, persist::kSectionHeaderBytes));
  std::memcpy(image.data() + end, &crc, 4);
}

std::string load_error(const std::vector<std::uint8_t>& image) {
  try {
    (void)parse_cache(image);
    return "";
  } catch (const FileFormatError& e) {
    return e.what();
  }
}

// A compressed record whose fp16 scale is Inf or NaN (valid CRC) loaded and made every later
// attention output NaN (56 of 2 700 mutated files). The loader refuses it, naming the record.
TEST(CacheLimits, CacheFileWithANonFiniteRecordScaleIsRefused) {
  struct Case {
    const char* format;
    std::size_t scale_at;  // byte offset of an fp16 scale inside the record
  };
  // d = 16. tq3: [fp16 scale][planes]; tqp3: [tq2 record (2 + 4 B)][fp16 γ][signs]; q8: [fp16 scale][int8 × d];
  // q4: [fp16 scale][16 nibble bytes].
  for (const Case& cs : {Case{"tq3", 0}, Case{"tqp3", 0}, Case{"tqp3", 6}, Case{"q8", 0}, Case{"q4", 0}}) {
    for (const std::uint16_t bits : {std::uint16_t{0x7C00}, std::uint16_t{0xFC00}, std::uint16_t{0x7E00}}) {
      CacheConfig c;
      c.head_dim = 16;
      c.key_format = c.value_format = cs.format;
      c.window = 0;
      c.sinks = 0;
      KVCache cache(c);
      const std::vector<float> k = random_normal(5 * 16, 7), v = random_normal(5 * 16, 8);
      cache.append(0, 5, k.data(), v.data());
      std::vector<std::uint8_t> image = serialize_cache(cache);
      ASSERT_EQ(load_error(image), "") << cs.format;
      const std::size_t section = layer_payload(image);
      const std::size_t key_cs = cache.internals().formats[0].key_code_size;
      // Record 3 of the keys, then (separately) record 1 of the values.
      for (const bool values : {false, true}) {
        std::vector<std::uint8_t> bad = image;
        const std::size_t rec = values ? 5 * key_cs + 1 * cache.internals().formats[0].value_code_size : 3 * key_cs;
        std::memcpy(bad.data() + section + persist::kSectionHeaderBytes + kPagedKeysInPayload + rec + cs.scale_at,
                    &bits, 2);
        fix_layer_crc(bad, section);
        const std::string e = load_error(bad);
        EXPECT_THAT(e, HasSubstr(std::string("paged ") + (values ? "value record 1" : "key record 3"))) << cs.format;
        EXPECT_THAT(e, HasSubstr("non-finite scale")) << cs.format;
      }
    }
  }
}

}  // namespace
}  // namespace veloxquant
