// TurboQuant-Prod with outlier channels (tqpB:outliers=N/B'): N channels in their own
// TurboQuant-Prod instance at B' bits, the rest at B bits. Record layout, names, the gain on keys
// that have outlier channels, and the cache: calibration, attention accuracy, save and load.
// (Unbiasedness: TurboProdAndQjl.UnbiasedOverSeeds; score and accumulate against decode:
// AllFormats.ScoreAndAccumulateMatchDecode.)
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "cache/cache_impl.h"
#include "cache/persist.h"
#include "cache_test_util.h"
#include "test_util.h"
#include "veloxquant/format.h"
#include "veloxquant/kv_cache.h"
#include "veloxquant/quantizer.h"

namespace veloxquant {
namespace {

using ::testing::HasSubstr;

double dot(const float* a, const float* b, std::size_t d) {
  double s = 0.0;
  for (std::size_t j = 0; j < d; ++j) s += static_cast<double>(a[j]) * b[j];
  return s;
}

TEST(TurboProdOutliers, NamesRecordSizeAndBadArguments) {
  for (const char* n : {"tqp2:outliers=4/3", "tqp3:outliers=16/4,scale=norm", "tqp8:outliers=2/8"})
    EXPECT_EQ(parse_format(n).name(), n);
  EXPECT_EQ(parse_format("tqp2:outliers=4/3").outliers_for_dim(128), 4u);
  // d = 128: outliers 4 dims (tq2 core: 2 + 2 planes × 1 B, γ 2 B, 1 sign byte) = 7 B, inliers
  // 124 dims (tq1 core: 2 + 16 B, γ 2 B, 16 sign bytes) = 36 B; plain tqp2 is 36 B.
  EXPECT_EQ(make_quantizer("tqp2:outliers=4/3", 128, 1)->code_size(), 43u);
  EXPECT_EQ(make_quantizer("tqp2", 128, 1)->code_size(), 36u);
  const auto error = [](const std::string& format, std::size_t d) {
    try {
      (void)make_quantizer(format, d, 1);
      return std::string();
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
  };
  EXPECT_THAT(error("tqp3:outliers=4/1", 64), HasSubstr("outlier bits 1 is out of range 2..8"));
  EXPECT_THAT(error("tqp3:outliers=4/3", 5), HasSubstr("4 outlier channels do not fit head dimension 5"));
  EXPECT_THAT(error("tqp3:outliers=1/3", 64), HasSubstr("1 outlier channels do not fit"));
  const std::uint32_t dup[] = {3, 3, 4, 5};
  EXPECT_THROW(make_quantizer(parse_format("tqp3:outliers=4/4"), 64, 1, dup), std::invalid_argument);
}

// Keys whose 8 chosen channels are 10× larger: the 4-bit outlier instance estimates inner products
// better than plain tqp3 (same inlier bits), at 8·(4 − 3) bits more per record plus the second
// part's scales and sign bits: measured 52.3 against 142.5 (2.7× lower).
TEST(TurboProdOutliers, OutlierChannelsLowerTheInnerProductError) {
  const std::size_t d = 128, n = 2000;
  std::vector<float> x = test::gaussian(n * d, 4);
  const std::vector<float> y = test::gaussian(n * d, 5);
  std::vector<std::uint32_t> chosen;
  for (std::uint32_t j = 0; j < 8; ++j) chosen.push_back(16 * j + 3);
  for (std::size_t t = 0; t < n; ++t)
    for (std::uint32_t c : chosen) x[t * d + c] *= 10.0f;
  const auto squared_error = [&](const Quantizer& q) {
    std::vector<std::uint8_t> codes(n * q.code_size());
    q.encode(n, x.data(), codes.data());
    std::vector<float> prepared(q.query_size());
    double sum = 0.0;
    for (std::size_t t = 0; t < n; ++t) {
      float est;
      q.prepare_query(&y[t * d], prepared.data());
      q.score(1, prepared.data(), 1, &codes[t * q.code_size()], &est);
      sum += std::pow(est - dot(&x[t * d], &y[t * d], d), 2);
    }
    return sum / n;
  };
  const double split = squared_error(*make_quantizer(parse_format("tqp3:outliers=8/4"), d, 1, chosen));
  const double plain = squared_error(*make_quantizer("tqp3", d, 1));
  std::printf("  inner-product squared error: tqp3:outliers=8/4 %.3f, tqp3 %.3f\n", split, plain);
  EXPECT_LT(split, 0.6 * plain);
}

CacheConfig config(const std::string& key_format) {
  CacheConfig c;
  c.kv_heads = 2;
  c.q_heads = 4;
  c.head_dim = 64;
  c.key_format = key_format;
  c.value_format = "tq3";
  c.window = 0;
  c.sinks = 0;
  c.page_tokens = 32;
  c.calibration_tokens = 64;
  c.seed = 9;
  return c;
}

// The seed project's quick start: turboquant_prod keys with outlier channels, calibrated by the
// cache from the first tokens (largest mean square), then saved and loaded bit-exactly.
TEST(TurboProdOutliers, CacheCalibratesAttendsSavesAndLoads) {
  const std::size_t n = 300, d = 64;
  std::vector<float> k = test::random_normal(n * 2 * d, 21);
  const std::vector<float> v = test::random_normal(n * 2 * d, 22), q = test::random_normal(4 * 4 * d, 23);
  for (std::size_t t = 0; t < n; ++t)
    for (std::size_t j = 0; j < 4; ++j) {
      k[(t * 2 + 0) * d + 5 + 9 * j] *= 8.0f;   // head 0: channels 5, 14, 23, 32
      k[(t * 2 + 1) * d + 60 - 3 * j] *= 8.0f;  // head 1: channels 51, 54, 57, 60
    }
  const std::vector<float> exact = test::reference_attention(k, v, n, 2, 4, d, 4, q.data());
  double errors[2];
  for (int split = 0; split < 2; ++split) {
    KVCache cache(config(split ? "tqp3:outliers=4/4" : "tqp3"));
    cache.append(0, 100, k.data(), v.data());
    cache.append(0, n - 100, k.data() + 100 * 2 * d, v.data() + 100 * 2 * d);
    std::vector<float> out(4 * 4 * d);
    cache.attend(0, 4, q.data(), out.data());
    errors[split] = test::relative_error(out, exact);
    if (!split) continue;
    const auto& heads = cache.internals().layers[0].heads;
    EXPECT_EQ(heads[0].key_outliers, (std::vector<std::uint32_t>{5, 14, 23, 32}));
    EXPECT_EQ(heads[1].key_outliers, (std::vector<std::uint32_t>{51, 54, 57, 60}));
    EXPECT_TRUE(heads[0].value_outliers.empty());
    const std::vector<std::uint8_t> image = serialize_cache(cache);
    const KVCache loaded = parse_cache(image);
    EXPECT_EQ(serialize_cache(loaded), image);
    std::vector<float> again(out.size());
    loaded.attend(0, 4, q.data(), again.data());
    EXPECT_EQ(again, out);
  }
  std::printf("  attention rel. error, keys with 4 large channels: tqp3:outliers=4/4 %.4f, tqp3 %.4f\n", errors[1],
              errors[0]);
  EXPECT_LT(errors[1], errors[0]);
}

}  // namespace
}  // namespace veloxquant
