// The same inputs give bit-identical codes, attention outputs and saved cache files on every SIMD
// target this CPU runs (Highway's targets forced one at a time), for every format of the format
// table; a cache saved on one target attends identically after loading on another.
#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "cache/persist.h"
#include "cache_test_util.h"
#include "io/crc32.h"
#include "veloxquant/format.h"
#include "veloxquant/kv_cache.h"
#include "veloxquant/quantizer.h"

namespace veloxquant {
namespace {

struct Outputs {
  std::vector<std::uint8_t> codes, saved_cache;
  std::vector<float> attention;
};

constexpr std::size_t kTokens = 300, kKvHeads = 2, kQHeads = 8, kQueries = 3;

std::vector<float> attend(const KVCache& cache, std::size_t d) {
  const std::vector<float> q = test::random_normal(kQueries * kQHeads * d, 3);
  std::vector<float> out(kQueries * kQHeads * d);
  cache.attend(0, kQueries, q.data(), out.data());
  return out;
}

Outputs run_on_current_target(const std::string& format, std::size_t d) {
  const std::size_t n = kTokens, kv_heads = kKvHeads, q_heads = kQHeads;
  const std::vector<float> k = test::random_normal(n * kv_heads * d, 1), v = test::random_normal(n * kv_heads * d, 2);
  Outputs o;
  const auto quantizer = make_quantizer(format, d, 7);
  o.codes.resize(n * quantizer->code_size());
  quantizer->encode(n, k.data(), o.codes.data());
  CacheConfig c;
  c.kv_heads = kv_heads;
  c.q_heads = q_heads;
  c.head_dim = d;
  c.key_format = format;
  c.value_format = format;
  c.window = 16;
  c.page_tokens = 64;
  c.seed = 9;
  KVCache cache(c);
  cache.append(0, n, k.data(), v.data());
  o.attention = attend(cache, d);
  o.saved_cache = serialize_cache(cache);
  return o;
}

TEST(Determinism, EveryTargetGivesIdenticalCodesAndOutputs) {
  const std::vector<std::int64_t> targets = hwy::SupportedAndGeneratedTargets();
  for (const FormatInfo& info : format_table())
    for (std::size_t d : {64u, 96u, 128u}) {
      hwy::SetSupportedTargetsForTest(targets.front());
      const Outputs first = run_on_current_target(info.name, d);
      for (std::size_t i = 1; i < targets.size(); ++i) {
        hwy::SetSupportedTargetsForTest(targets[i]);
        const Outputs other = run_on_current_target(info.name, d);
        EXPECT_EQ(first.codes, other.codes) << info.name << " d=" << d << " on " << hwy::TargetName(targets[i]);
        EXPECT_EQ(0,
                  std::memcmp(first.attention.data(), other.attention.data(), first.attention.size() * sizeof(float)))
            << info.name << " d=" << d << " on " << hwy::TargetName(targets[i]) << " vs "
            << hwy::TargetName(targets.front());
        // The cache saved on the first target, loaded and attended on this one.
        EXPECT_EQ(first.saved_cache, other.saved_cache) << info.name << " d=" << d;
        const std::vector<float> loaded = attend(parse_cache(first.saved_cache), d);
        EXPECT_EQ(0, std::memcmp(first.attention.data(), loaded.data(), loaded.size() * sizeof(float)))
            << info.name << " d=" << d << " loaded on " << hwy::TargetName(targets[i]);
      }
    }
  hwy::SetSupportedTargetsForTest(0);
}

// The same cases' codes, attention outputs and cache files as CRC-32 digests, one line per format
// and dimension, into the file VELOXQUANT_DIGESTS names (default determinism_digests.txt in the
// working directory). `make test-arm64` writes it from this build and from an aarch64 build under
// qemu and compares the two: the canonical arithmetic promises the same bits on every CPU.
TEST(Determinism, DigestsForOtherMachines) {
  const char* env = std::getenv("VELOXQUANT_DIGESTS");
  const std::string path = env && *env ? env : "determinism_digests.txt";
  std::ofstream out(path, std::ios::trunc);
  ASSERT_TRUE(out) << "cannot write " << path;
  std::size_t lines = 0;
  for (const FormatInfo& info : format_table())
    for (std::size_t d : {64u, 96u, 128u}) {
      const Outputs o = run_on_current_target(info.name, d);
      char line[160];
      std::snprintf(line, sizeof line, "%s d=%zu codes %08x attention %08x cache %08x\n", info.name, d,
                    crc32(o.codes.data(), o.codes.size()),
                    crc32(o.attention.data(), o.attention.size() * sizeof(float)),
                    crc32(o.saved_cache.data(), o.saved_cache.size()));
      out << line;
      ++lines;
    }
  out.close();
  EXPECT_TRUE(out) << "writing " << path;
  EXPECT_EQ(lines, 3 * format_table().size());
}

}  // namespace
}  // namespace veloxquant
