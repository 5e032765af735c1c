#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <tuple>

#include "io/crc32.h"
#include "test_util.h"
#include "veloxquant/quantizer.h"
#include "veloxquant/rotation.h"

namespace veloxquant {
namespace {

void expect_orthogonal(const Rotation& r) {
  const std::size_t d = r.dim();
  const std::vector<float> m = r.matrix();
  for (std::size_t i = 0; i < d; ++i)
    for (std::size_t j = 0; j < d; ++j) {
      double dot = 0.0;
      for (std::size_t k = 0; k < d; ++k) dot += static_cast<double>(m[i * d + k]) * m[j * d + k];
      ASSERT_NEAR(dot, i == j ? 1.0 : 0.0, 1e-5) << "d=" << d << " i=" << i << " j=" << j;
    }
}

TEST(Rotation, HadamardAndHaarAreOrthogonal) {
  for (std::size_t d : {1u, 2u, 64u, 128u, 256u}) expect_orthogonal(Rotation(d, 7, RotationKind::kHadamard));
  for (std::size_t d : {1u, 3u, 31u, 96u, 129u}) expect_orthogonal(Rotation(d, 7, RotationKind::kHaar));
}

TEST(Rotation, DefaultKind) {
  EXPECT_EQ(Rotation(128, 1).kind(), RotationKind::kHadamard);
  EXPECT_EQ(Rotation(96, 1).kind(), RotationKind::kHaar);
  EXPECT_EQ(Rotation::default_kind(kMaxDefaultHaarDim - 1), RotationKind::kHaar);
  EXPECT_EQ(Rotation::default_kind(kMaxDefaultHaarDim), RotationKind::kHadamard);
  EXPECT_EQ(Rotation::default_kind(kMaxDefaultHaarDim + 1), RotationKind::kOverlapHadamard);
  EXPECT_EQ(Rotation(3000, 1).kind(), RotationKind::kOverlapHadamard);
  EXPECT_THROW(Rotation(96, 1, RotationKind::kHadamard), std::invalid_argument);
  EXPECT_THROW(Rotation(128, 1, RotationKind::kOverlapHadamard), std::invalid_argument);
  EXPECT_THROW(Rotation(2, 1, RotationKind::kOverlapHadamard), std::invalid_argument);
  EXPECT_THROW(Rotation(0, 1), std::invalid_argument);
}

// The Haar rotations of dimensions up to kMaxDefaultHaarDim are what stored caches and model
// files were encoded with: their bytes must not change (CRC-32 of the float32 matrix, as
// zlib.crc32(vq.rotation_matrix(d, seed).tobytes()) gave before the overlapping kind existed).
TEST(Rotation, HaarRotationsOfExistingDimensionsArePinned) {
  struct Pin {
    std::size_t dim;
    std::uint64_t seed;
    std::uint32_t crc;
  };
  for (const Pin& p : {Pin{96, 1, 0x1ab90b29u}, Pin{129, 7, 0x2b721ba0u}, Pin{768, 3, 0x93d54164u}}) {
    const std::vector<float> m = Rotation(p.dim, p.seed).matrix();
    EXPECT_EQ(crc32(m.data(), m.size() * sizeof(float)), p.crc) << "d=" << p.dim;
  }
}

TEST(Rotation, OverlapHadamardIsOrthogonalForAnyDimension) {
  for (std::size_t d : {3u, 5u, 31u, 96u, 129u, 200u})
    expect_orthogonal(Rotation(d, 7, RotationKind::kOverlapHadamard));
  for (std::size_t d : {1025u, 3000u}) {
    const Rotation r(d, 11);
    const std::vector<float> x = test::gaussian(3 * d, 5);
    std::vector<float> y(x.size()), back(x.size());
    r.apply(3, x.data(), y.data());
    r.apply_transpose(3, y.data(), back.data());
    for (std::size_t t = 0; t < 3; ++t) {
      double nx = 0.0, ny = 0.0;
      for (std::size_t i = 0; i < d; ++i) {
        nx += static_cast<double>(x[t * d + i]) * x[t * d + i];
        ny += static_cast<double>(y[t * d + i]) * y[t * d + i];
        ASSERT_NEAR(back[t * d + i], x[t * d + i], 1e-5) << d;
      }
      EXPECT_NEAR(ny / nx, 1.0, 1e-5) << d;
    }
  }
}

// What a rotation is for: after it, structured vectors (one spike, a few spikes, a constant, a
// ramp) quantize as well as random ones, whose rotated coordinates have the density the codebook
// is made for whatever the rotation. tq3 at d = 1500 and 3000 (overlapping Hadamard) against
// Gaussian vectors through the same quantizer: measured ratios 0.94–1.03.
TEST(Rotation, OverlapHadamardMakesStructuredVectorsQuantizeLikeRandomOnes) {
  for (std::size_t d : {1500u, 3000u}) {
    const auto q = make_quantizer("tq3", d, 1);
    const auto mse = [&](const std::vector<float>& x, std::size_t n) {
      std::vector<std::uint8_t> codes(n * q->code_size());
      std::vector<float> back(x.size());
      q->encode(n, x.data(), codes.data());
      q->decode(n, codes.data(), back.data());
      double sum = 0.0;
      for (std::size_t t = 0; t < n; ++t) {
        double e = 0.0, s = 0.0;
        for (std::size_t i = 0; i < d; ++i) {
          e += std::pow(static_cast<double>(x[t * d + i]) - back[t * d + i], 2);
          s += static_cast<double>(x[t * d + i]) * x[t * d + i];
        }
        sum += e / s;
      }
      return sum / static_cast<double>(n);
    };
    constexpr std::size_t kN = 64;
    const double random = mse(test::gaussian(kN * d, 2), kN);
    std::vector<float> spikes(kN * d, 0.0f), few(kN * d, 0.0f), constant(2 * d, 1.0f), ramp(2 * d);
    SplitMix64 rng(3);
    for (std::size_t t = 0; t < kN; ++t) {
      spikes[t * d + (t * 997) % d] = 1.0f;  // positions in both windows, their overlap and the tail
      for (int s = 0; s < 3; ++s) few[t * d + rng.next() % d] = static_cast<float>(rng.normal());
    }
    for (std::size_t i = 0; i < 2 * d; ++i) ramp[i] = static_cast<float>(i % d) / static_cast<float>(d) - 0.5f;
    for (const auto& [name, x, n] :
         {std::tuple<const char*, const std::vector<float>&, std::size_t>{"spike", spikes, kN},
          {"three spikes", few, kN},
          {"constant", constant, 2},
          {"ramp", ramp, 2}}) {
      const double ratio = mse(x, n) / random;
      EXPECT_GT(ratio, 0.85) << name << " d=" << d;
      EXPECT_LT(ratio, 1.1) << name << " d=" << d;
    }
  }
}

TEST(Rotation, TransposeInvertsAndApplyMatchesMatrix) {
  for (std::size_t d : {3u, 64u, 96u, 128u}) {
    const Rotation r(d, 99);
    const std::vector<float> x = test::gaussian(5 * d, 3);
    std::vector<float> y(x.size()), back(x.size());
    r.apply(5, x.data(), y.data());
    r.apply_transpose(5, y.data(), back.data());
    for (std::size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(back[i], x[i], 1e-5);
    const std::vector<float> m = r.matrix();
    for (std::size_t i = 0; i < d; ++i) {
      double s = 0.0;
      for (std::size_t k = 0; k < d; ++k) s += m[i * d + k] * x[k];
      EXPECT_NEAR(y[i], s, 1e-5);
    }
    // In place.
    std::vector<float> inplace = x;
    r.apply(5, inplace.data(), inplace.data());
    for (std::size_t i = 0; i < x.size(); ++i) EXPECT_FLOAT_EQ(inplace[i], y[i]);
  }
}

TEST(Rotation, SameSeedSameBytesDifferentSeedDiffers) {
  for (std::size_t d : {64u, 96u}) {
    const auto a = Rotation(d, 5).matrix(), b = Rotation(d, 5).matrix(), c = Rotation(d, 6).matrix();
    EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float)));
    EXPECT_NE(0, std::memcmp(a.data(), c.data(), a.size() * sizeof(float)));
  }
}

// Pinned values: a change of PRNG, Box–Muller or Gram–Schmidt changes every stored cache.
TEST(Rotation, GaussianStreamIsPinned) {
  const std::vector<float> g = gaussian_matrix(1, 4, 42);
  std::vector<float> again = gaussian_matrix(1, 4, 42);
  EXPECT_EQ(g, again);
  double mean = 0.0, var = 0.0;
  const std::vector<float> big = gaussian_matrix(1000, 100, 1);
  for (float v : big) mean += v;
  mean /= big.size();
  for (float v : big) var += (v - mean) * (v - mean);
  var /= big.size();
  EXPECT_NEAR(mean, 0.0, 0.01);
  EXPECT_NEAR(var, 1.0, 0.02);
}

}  // namespace
}  // namespace veloxquant
