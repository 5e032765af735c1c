// The same inputs give bit-identical codes and attention outputs on every SIMD target this CPU
// runs (Highway's targets forced one at a time), for every format of the format table.
#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <cstring>
#include <string>
#include <vector>

#include "cache_test_util.h"
#include "veloxquant/format.h"
#include "veloxquant/kv_cache.h"
#include "veloxquant/quantizer.h"

namespace veloxquant {
namespace {

struct Outputs {
  std::vector<std::uint8_t> codes;
  std::vector<float> attention;
};

Outputs run_on_current_target(const std::string& format, std::size_t d) {
  const std::size_t n = 300, kv_heads = 2, q_heads = 8, nq = 3;
  const std::vector<float> k = test::random_normal(n * kv_heads * d, 1), v = test::random_normal(n * kv_heads * d, 2);
  const std::vector<float> q = test::random_normal(nq * q_heads * d, 3);
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
  o.attention.resize(nq * q_heads * d);
  cache.attend(0, nq, q.data(), o.attention.data());
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
        EXPECT_EQ(0, std::memcmp(first.attention.data(), other.attention.data(), first.attention.size() * sizeof(float)))
            << info.name << " d=" << d << " on " << hwy::TargetName(targets[i]) << " vs "
            << hwy::TargetName(targets.front());
      }
    }
  hwy::SetSupportedTargetsForTest(0);
}

}  // namespace
}  // namespace veloxquant
