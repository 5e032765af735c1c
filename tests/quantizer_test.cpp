// Quantizers against theory.md and against their own decode: MSE, unbiasedness, error with bits,
// determinism and bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "pack/bitplane.h"
#include "test_util.h"
#include "veloxquant/codebook.h"
#include "veloxquant/quantizer.h"

namespace veloxquant {
namespace {

double measured_mse(const Quantizer& q, const std::vector<float>& x) {
  const std::size_t d = q.dim(), n = x.size() / d;
  std::vector<std::uint8_t> codes(n * q.code_size());
  std::vector<float> y(x.size());
  q.encode(n, x.data(), codes.data());
  q.decode(n, codes.data(), y.data());
  double s = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) s += (x[i] - y[i]) * static_cast<double>(x[i] - y[i]);
  return s / static_cast<double>(n);
}

TEST(TurboMse, MseWithin2PercentOfTheory) {
  for (std::size_t d : {64u, 128u, 256u}) {
    const std::vector<float> x = test::unit_vectors(20000, d, d);
    for (int b = 1; b <= 4; ++b) {
      const double theory = static_cast<double>(d) * sphere_codebook(d, b).mse;
      const auto plain = make_quantizer("tq" + std::to_string(b) + ":scale=norm", d, 1);
      const double mse = measured_mse(*plain, x);
      EXPECT_NEAR(mse, theory, 0.02 * theory) << "d=" << d << " b=" << b;
      // The least-squares scale (the default) never does worse.
      const auto corrected = make_quantizer("tq" + std::to_string(b), d, 1);
      EXPECT_LE(measured_mse(*corrected, x), mse) << "d=" << d << " b=" << b;
    }
  }
}

// tqB:extra=N codes N rotated coordinates with B+1 bits: every rotated coordinate follows f_d, so
// the MSE is the mixture of the two codebooks' MSE, and the record is exactly the mixed rate.
TEST(TurboMse, ExtraBitCoordinatesGiveTheMixedRate) {
  const std::size_t d = 64;
  const std::vector<float> x = test::unit_vectors(20000, d, 17);
  for (int b = 2; b <= 4; ++b) {
    const std::size_t extra = 16;
    const auto q = make_quantizer("tq" + std::to_string(b) + ":extra=16,scale=norm", d, 1);
    EXPECT_EQ(q->code_size(), 2 + (b + 1) * extra / 8 + b * (d - extra) / 8);
    const double theory = static_cast<double>(extra) * sphere_codebook(d, b + 1).mse +
                          static_cast<double>(d - extra) * sphere_codebook(d, b).mse;
    EXPECT_NEAR(measured_mse(*q, x), theory, 0.02 * theory) << "b=" << b;
  }
  EXPECT_DOUBLE_EQ(make_quantizer("tq4:extra=16", 64, 1)->bits_per_coord(), 4.5);  // q4's rate at d = 64
  EXPECT_THROW(make_quantizer("tq4:extra=64", 64, 1), std::invalid_argument);
  EXPECT_THROW(make_quantizer("tq8:extra=4", 64, 1), std::invalid_argument);
  EXPECT_THROW(make_quantizer("tq3:extra=8,outliers=8/4", 64, 1), std::invalid_argument);
}

TEST(TurboMse, ErrorFallsWithBits) {
  const std::vector<float> x = test::unit_vectors(2000, 96, 3);  // Haar rotation path
  double previous = 1e9;
  for (int b = 1; b <= 8; ++b) {
    const double mse = measured_mse(*make_quantizer("tq" + std::to_string(b), 96, 2), x);
    EXPECT_LT(mse, previous) << "b=" << b;
    previous = mse;
  }
  previous = 1e9;
  for (int b = 2; b <= 8; ++b) {
    const double mse = measured_mse(*make_quantizer("tqp" + std::to_string(b), 96, 2), x);
    EXPECT_LT(mse, previous) << "tqp b=" << b;
    previous = mse;
  }
}

// Inner-product estimate of ⟨y, x⟩ from the codes of x, as attention computes it.
float estimate(const Quantizer& q, const float* x, const float* y) {
  std::vector<std::uint8_t> code(q.code_size());
  q.encode(1, x, code.data());
  std::vector<float> prepared(q.query_size());
  q.prepare_query(y, prepared.data());
  float est = 0.0f;
  q.score(1, prepared.data(), 1, code.data(), &est);
  return est;
}

// Unbiased over the randomness of S: fixed x and y, 2 000 independent seeds.
TEST(TurboProdAndQjl, UnbiasedOverSeeds) {
  const std::size_t d = 64;
  const std::vector<float> x = test::unit_vectors(1, d, 10), y = test::unit_vectors(1, d, 11);
  double truth = 0.0;
  for (std::size_t j = 0; j < d; ++j) truth += x[j] * y[j];
  // With outlier channels (the default channels 0..3 / 0..7): each instance is unbiased, so the sum is.
  for (const char* format : {"tqp2", "tqp3", "qjl", "tqp2:outliers=4/3", "tqp3:outliers=8/4"}) {
    double sum = 0.0, sum_sq = 0.0;
    const int seeds = 2000;
    for (int s = 0; s < seeds; ++s) {
      const double err = estimate(*make_quantizer(format, d, 1000 + s), x.data(), y.data()) - truth;
      sum += err;
      sum_sq += err * err;
    }
    const double mean = sum / seeds, se = std::sqrt((sum_sq / seeds - mean * mean) / seeds);
    EXPECT_LT(std::fabs(mean), 3 * se) << format << " mean error " << mean << " se " << se;
    EXPECT_GT(se, 0.0) << format;
  }
}

// D_prod ≈ (π/2)·D_mse(b−1)/d for the plain-norm MSE stage (theory.md).
TEST(TurboProd, InnerProductErrorWithin10PercentOfTheory) {
  const std::size_t d = 128, n = 4000;
  for (int b = 2; b <= 4; ++b) {
    const double theory = M_PI / 2 * sphere_codebook(d, b - 1).mse;
    double sum_sq = 0.0;
    int count = 0;
    for (int s = 0; s < 5; ++s) {
      const auto q = make_quantizer("tqp" + std::to_string(b) + ":scale=norm", d, 50 + s);
      const std::vector<float> x = test::unit_vectors(n, d, 100 + s), y = test::unit_vectors(n, d, 200 + s);
      std::vector<std::uint8_t> codes(n * q->code_size());
      q->encode(n, x.data(), codes.data());
      std::vector<float> prepared(q->query_size());
      for (std::size_t i = 0; i < n; ++i) {
        q->prepare_query(&y[i * d], prepared.data());
        float est;
        q->score(1, prepared.data(), 1, &codes[i * q->code_size()], &est);
        double truth = 0.0;
        for (std::size_t j = 0; j < d; ++j) truth += x[i * d + j] * y[i * d + j];
        sum_sq += (est - truth) * (est - truth);
        ++count;
      }
    }
    EXPECT_NEAR(sum_sq / count, theory, 0.1 * theory) << "tqp" << b;
  }
}

TEST(Polar, MseNearIndependentSimulation) {
  const std::vector<float> x = test::unit_vectors(20000, 128, 8);
  const auto q = make_quantizer("polar", 128, 3);
  EXPECT_DOUBLE_EQ(q->bits_per_coord(), 3.875);
  EXPECT_NEAR(measured_mse(*q, x), 0.032, 0.1 * 0.032);
  const auto finer = make_quantizer("polar:bits=4/3/3/3", 128, 3);
  EXPECT_NEAR(finer->bits_per_coord(), 4.3125, 1e-9);
  EXPECT_NEAR(measured_mse(*finer, x), 0.0181, 0.1 * 0.0181);
}

// Level-1 angles use the whole circle: every one of the 16 cells is hit, including the
// third and fourth quadrants that a folded atan would never produce.
TEST(Polar, LevelOneAnglesCoverFullCircle) {
  const std::size_t d = 128, n = 500;
  const auto q = make_quantizer("polar", d, 3);
  const std::vector<float> x = test::unit_vectors(n, d, 9);
  std::vector<std::uint8_t> codes(n * q->code_size());
  q->encode(n, x.data(), codes.data());
  std::vector<int> hits(16, 0);
  const std::size_t radii = 2 * (d / 16), angles = d / 2;
  for (std::size_t t = 0; t < n; ++t)
    for (std::size_t a = 0; a < angles; ++a) ++hits[plane_code(&codes[t * q->code_size() + radii], angles, 4, a)];
  for (int c = 0; c < 16; ++c) EXPECT_GT(hits[c], 0) << "cell " << c;
}

// Every format: score and accumulate on the codes agree with the decoded vectors.
TEST(AllFormats, ScoreAndAccumulateMatchDecode) {
  std::vector<std::string> names;
  for (const FormatInfo& info : format_table()) names.push_back(info.name);
  names.push_back("tq3:extra=5");        // a fractional rate: two plane blocks per record, both integer paths
  names.push_back("tq4:extra=7");        // ... with a 5-bit part
  names.push_back("tq5:extra=7");        // ... and a 6-bit part on the float path
  names.push_back("tqp3:outliers=3/4");  // two TurboQuant-Prod instances on a channel split
  names.push_back("tqp2:outliers=5/7");  // ... the outlier one's 6-bit MSE stage on the float path
  for (const std::string& name : names)
    for (std::size_t d : {8u, 31u, 64u, 96u, 129u}) {
      const FormatInfo info{name.c_str(), parse_format(name).method, ""};
      const auto q = make_quantizer(info.name, d, 4);
      const std::size_t n = 37;
      const std::vector<float> x = test::gaussian(n * d, d), y = test::gaussian(3 * d, d + 1);
      std::vector<std::uint8_t> codes(n * q->code_size());
      q->encode(n, x.data(), codes.data());
      std::vector<float> dec(n * d);
      q->decode(n, codes.data(), dec.data());
      std::vector<float> prepared(3 * q->query_size()), scores(3 * n);
      for (int i = 0; i < 3; ++i) q->prepare_query(&y[i * d], &prepared[i * q->query_size()]);
      // score() takes prepared queries query_size() apart.
      q->score(3, prepared.data(), n, codes.data(), scores.data());
      const std::vector<float> w = test::gaussian(3 * n, 5);
      std::vector<float> acc(3 * q->accumulator_size(), 0.0f);
      q->accumulate(3, w.data(), n, codes.data(), acc.data());
      // Keys of ≤ 5-bit codes are scored in int8 (query and codebook rounded to 8 bits): allow
      // 1 % of ‖y‖·‖x̂‖, about 10× the typical rounding error (docs/formats.md).
      const FormatSpec spec = parse_format(info.name);
      const bool int8_scored = spec.method == Method::kQjl || spec.method == Method::kTurboProd ||
                               (spec.method == Method::kTurboMse && spec.bits <= 5);
      for (int i = 0; i < 3; ++i) {
        double yy = 0.0;
        for (std::size_t j = 0; j < d; ++j) yy += y[i * d + j] * y[i * d + j];
        for (std::size_t t = 0; t < n; ++t) {
          double dot = 0.0, xx = 0.0;
          for (std::size_t j = 0; j < d; ++j) {
            dot += y[i * d + j] * dec[t * d + j];
            xx += dec[t * d + j] * dec[t * d + j];
          }
          const double tol = 2e-4 * (1 + std::fabs(dot)) + (int8_scored ? 0.01 * std::sqrt(yy * xx) : 0.0);
          ASSERT_NEAR(scores[i * n + t], dot, tol) << info.name << " d=" << d;
        }
        std::vector<float> out(d);
        q->finish_accumulate(&acc[i * q->accumulator_size()], out.data());
        // ≤ 5-bit codes are accumulated in integers (int8 codebook, 16-bit weights): each record
        // then moves by at most 1.1 % of its norm (docs/formats.md), so the error vector is
        // bounded by 0.011·Σ_t |w_t|·‖x̂_t‖.
        double err = 0.0, bound = 0.0;
        for (std::size_t t = 0; t < n; ++t) {
          double xx = 0.0;
          for (std::size_t j = 0; j < d; ++j) xx += dec[t * d + j] * dec[t * d + j];
          bound += 0.011 * std::fabs(w[i * n + t]) * std::sqrt(xx);
        }
        for (std::size_t j = 0; j < d; ++j) {
          double want = 0.0;
          for (std::size_t t = 0; t < n; ++t) want += w[i * n + t] * dec[t * d + j];
          if (int8_scored) {
            err += (out[j] - want) * (out[j] - want);
          } else {
            ASSERT_NEAR(out[j], want, 2e-4 * (1 + std::fabs(want))) << info.name << " d=" << d;
          }
        }
        if (int8_scored) {
          EXPECT_LE(std::sqrt(err), bound + 1e-4) << info.name << " d=" << d;
        }
      }
    }
}

TEST(AllFormats, DeterministicBytesAndSeedMatters) {
  const std::vector<float> x = test::gaussian(10 * 64, 1);
  for (const FormatInfo& info : format_table()) {
    const auto a = make_quantizer(info.name, 64, 9), b = make_quantizer(info.name, 64, 9);
    std::vector<std::uint8_t> ca(10 * a->code_size()), cb(ca.size());
    a->encode(10, x.data(), ca.data());
    b->encode(10, x.data(), cb.data());
    EXPECT_EQ(ca, cb) << info.name;
    if (info.method == Method::kTurboMse || info.method == Method::kTurboProd || info.method == Method::kQjl ||
        info.method == Method::kPolar) {
      const auto c = make_quantizer(info.name, 64, 10);
      std::vector<std::uint8_t> cc(ca.size());
      c->encode(10, x.data(), cc.data());
      EXPECT_NE(ca, cc) << info.name;
    }
  }
}

TEST(AllFormats, ZeroVectorDecodesToZero) {
  for (const FormatInfo& info : format_table()) {
    const auto q = make_quantizer(info.name, 64, 1);
    const std::vector<float> zero(64, 0.0f);
    std::vector<std::uint8_t> code(q->code_size());
    q->encode(1, zero.data(), code.data());
    std::vector<float> out(64, 1.0f);
    q->decode(1, code.data(), out.data());
    for (float v : out) EXPECT_EQ(v, 0.0f) << info.name;
  }
}

TEST(AllFormats, NonFiniteInputIsRejectedNamingTheCoordinate) {
  for (const FormatInfo& info : format_table()) {
    const auto q = make_quantizer(info.name, 16, 1);
    for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
      std::vector<float> x(32, 0.5f);
      x[16 + 5] = bad;
      std::vector<std::uint8_t> codes(2 * q->code_size(), 0xEE);
      try {
        q->encode(2, x.data(), codes.data());
        FAIL() << info.name << " accepted a non-finite value";
      } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("vector 1 at coordinate 5"), std::string::npos) << e.what();
      }
      for (std::uint8_t c : codes) ASSERT_EQ(c, 0xEE) << "codes were written before the error";
    }
  }
}

TEST(AllFormats, HugeNormsGiveAClearError) {
  std::vector<float> x(16, 1e30f);
  for (const char* f : {"tq3", "tqp3", "qjl", "polar", "q8", "q4"}) {
    const auto q = make_quantizer(f, 16, 1);
    std::vector<std::uint8_t> code(q->code_size());
    EXPECT_THROW(q->encode(1, x.data(), code.data()), std::invalid_argument) << f;
  }
}

TEST(AllFormats, BadArgumentsNameTheValue) {
  auto message = [](auto&& fn) {
    try {
      fn();
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message([] { make_quantizer("tq9", 64, 1); }).find("9"), std::string::npos);
  EXPECT_NE(message([] { make_quantizer("tq0", 64, 1); }).find("0"), std::string::npos);
  EXPECT_NE(message([] { make_quantizer("tqp1", 64, 1); }).find("1"), std::string::npos);
  EXPECT_NE(message([] { make_quantizer("zq3", 64, 1); }).find("zq3"), std::string::npos);
  EXPECT_NE(message([] { make_quantizer("tq3", 0, 1); }).find("0"), std::string::npos);
  EXPECT_NE(message([] { make_quantizer("tq2.5", 4, 1); }).find("4"), std::string::npos);
  const std::uint32_t dup[] = {3, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17};
  EXPECT_NE(message([&] { make_quantizer(parse_format("tq2.5"), 64, 1, dup); }).find("3"), std::string::npos);
}

TEST(Formats, NamesRoundTrip) {
  for (const FormatInfo& info : format_table()) EXPECT_EQ(parse_format(info.name).name(), info.name);
  for (const char* n : {"qjl:m=256", "polar:bits=4/3/3/3", "tq3:outliers=16/4", "tq4:scale=norm", "tqp3:scale=norm",
                        "tq4:extra=16", "tq3:extra=8,scale=norm"})
    EXPECT_EQ(parse_format(n).name(), n);
  EXPECT_THROW(parse_format("qjl:m=0"), std::invalid_argument);
  EXPECT_THROW(parse_format("polar:bits=4/2/2"), std::invalid_argument);
  EXPECT_THROW(parse_format("tq3:colour=red"), std::invalid_argument);
  EXPECT_THROW(parse_format(""), std::invalid_argument);
}

TEST(OutlierSplit, BitsAndChannelsAsSpecified) {
  const auto q25 = make_quantizer("tq2.5", 128, 1);
  EXPECT_DOUBLE_EQ(q25->bits_per_coord(), 2.5);  // 32×3 + 96×2 bits + two fp16 scales per 128
  const auto q35 = make_quantizer("tq3.5", 128, 1);
  EXPECT_DOUBLE_EQ(q35->bits_per_coord(), 3.75);
  // Outlier channels with large magnitude: giving them to the 3-bit instance lowers the error.
  const std::size_t d = 128, n = 2000;
  std::vector<float> x = test::gaussian(n * d, 4);
  for (std::size_t t = 0; t < n; ++t)
    for (std::size_t j = 0; j < 32; ++j) x[t * d + 4 * j] *= 8.0f;
  std::vector<std::uint32_t> chosen;
  for (std::uint32_t j = 0; j < 32; ++j) chosen.push_back(4 * j);
  const auto aligned = make_quantizer(parse_format("tq2.5"), d, 1, chosen);
  const auto misaligned = make_quantizer(parse_format("tq2.5"), d, 1);
  EXPECT_LT(measured_mse(*aligned, x), 0.8 * measured_mse(*misaligned, x));
}

}  // namespace
}  // namespace veloxquant

namespace veloxquant {
namespace {

// Queries and weights so small that 127/max or 32767/max overflow to Inf (found by fuzzing a
// cache file): the integer paths must not round Inf (undefined) but take the float path. The
// results stay within the bounds of the normal-size test above (a part whose scaled weights are
// larger, e.g. tqp3's sign sketch, may still take the integer path).
TEST(AllFormats, TinyQueriesAndWeightsTakeTheFloatPath) {
  const std::size_t d = 64, n = 5;
  const float tiny = 1e-37f;
  for (const char* format : {"tq3", "tq4", "qjl", "tqp3"}) {
    const auto q = make_quantizer(format, d, 3);
    const std::vector<float> x = test::gaussian(n * d, 4);
    std::vector<std::uint8_t> codes(n * q->code_size());
    q->encode(n, x.data(), codes.data());
    std::vector<float> dec(n * d);
    q->decode(n, codes.data(), dec.data());
    std::vector<float> y = test::gaussian(d, 5);
    for (float& v : y) v *= tiny;
    std::vector<float> prepared(q->query_size()), scores(n);
    q->prepare_query(y.data(), prepared.data());
    q->score(1, prepared.data(), n, codes.data(), scores.data());
    std::vector<float> w(n, tiny), acc(q->accumulator_size(), 0.0f), out(d);
    q->accumulate(1, w.data(), n, codes.data(), acc.data());
    q->finish_accumulate(acc.data(), out.data());
    double yy = 0.0, bound = 0.0, err = 0.0;
    for (float v : y) yy += static_cast<double>(v) * v;
    for (std::size_t t = 0; t < n; ++t) {
      double dot = 0.0, xx = 0.0;
      for (std::size_t j = 0; j < d; ++j) {
        dot += static_cast<double>(y[j]) * dec[t * d + j];
        xx += static_cast<double>(dec[t * d + j]) * dec[t * d + j];
      }
      ASSERT_TRUE(std::isfinite(scores[t])) << format;
      EXPECT_NEAR(scores[t], dot, 0.01 * std::sqrt(yy * xx) + 1e-40) << format;
      bound += 0.011 * tiny * std::sqrt(xx);
    }
    for (std::size_t j = 0; j < d; ++j) {
      double want = 0.0;
      for (std::size_t t = 0; t < n; ++t) want += static_cast<double>(tiny) * dec[t * d + j];
      ASSERT_TRUE(std::isfinite(out[j])) << format;
      err += (out[j] - want) * (out[j] - want);
    }
    EXPECT_LE(std::sqrt(err), bound + 1e-40) << format;
  }
}

}  // namespace
}  // namespace veloxquant
