// The weight-type table, the block layouts (hand-made blocks decoded by the spec of
// weights/block_layout.h), the quantizers' errors and the activation forms.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "test_util.h"
#include "util/half.h"
#include "weights/activation.h"
#include "weights/block_layout.h"
#include "weights/weight_types.h"

namespace veloxquant {
namespace {

TEST(WeightTypes, TableHoldsEveryTypeWithGgmlsNumbersAndSizes) {
  struct Want {
    std::uint32_t number;
    const char* name;
    std::size_t elements, bytes;
  };
  // ggml.h / ggml-common.h
  const Want want[] = {{0, "f32", 1, 4},       {1, "f16", 1, 2},       {30, "bf16", 1, 2},      {8, "q8_0", 32, 34},
                       {2, "q4_0", 32, 18},    {3, "q4_1", 32, 20},    {6, "q5_0", 32, 22},     {7, "q5_1", 32, 24},
                       {10, "q2_K", 256, 84},  {11, "q3_K", 256, 110}, {12, "q4_K", 256, 144},  {13, "q5_K", 256, 176},
                       {14, "q6_K", 256, 210}, {20, "iq4_nl", 32, 18}, {23, "iq4_xs", 256, 136}};
  ASSERT_EQ(weight_type_table().size(), std::size(want));
  std::set<std::string> names;
  for (const Want& w : want) {
    const WeightTypeInfo* t = find_weight_type(w.number);
    ASSERT_NE(t, nullptr) << w.name;
    EXPECT_STREQ(t->name, w.name);
    EXPECT_EQ(t->block_elements, w.elements) << w.name;
    EXPECT_EQ(t->block_bytes, w.bytes) << w.name;
    EXPECT_EQ(find_weight_type_by_name(w.name), t);
    EXPECT_TRUE(names.insert(t->name).second);
    EXPECT_EQ(weight_row_bytes(t->type, 512), 512 / w.elements * w.bytes);
    EXPECT_NE(t->dot, nullptr);
    EXPECT_NE(t->dot_reference, nullptr);
  }
  EXPECT_EQ(find_weight_type_by_name("Q4_K"), find_weight_type(12));
  EXPECT_EQ(find_weight_type(16), nullptr);
  EXPECT_EQ(find_weight_type(9), nullptr);  // q8_1 is an activation type of ggml, not a weight type here
  EXPECT_EQ(ggml_type_number_name(16), "iq2_xxs (16)");
  EXPECT_EQ(ggml_type_number_name(4), "type 4");
  EXPECT_THROW(weight_row_bytes(GgmlType::kQ4_K, 300), std::invalid_argument);
  EXPECT_EQ(supported_weight_type_names().substr(0, 21), "f32, f16, bf16, q8_0,");
}

// --- hand-made blocks: the values ggml's spec gives element by element ----------------------------

std::vector<float> decode(GgmlType type, const std::vector<std::uint8_t>& block) {
  const WeightTypeInfo& t = weight_type(type);
  std::vector<float> out(t.block_elements);
  t.dequantize(block.data(), t.block_elements, out.data());
  return out;
}
void put_half(std::vector<std::uint8_t>& b, std::size_t at, float v) { store_u16(b.data() + at, float_to_half(v)); }

TEST(WeightTypes, Blocks32DecodeBySpec) {
  // q4_0: d = 0.5, qs[3] = 0xA1 → element 3 = (1 − 8)·0.5, element 19 = (10 − 8)·0.5.
  std::vector<std::uint8_t> q4(18, 0x88);
  put_half(q4, 0, 0.5f);
  q4[2 + 3] = 0xA1;
  std::vector<float> v = decode(GgmlType::kQ4_0, q4);
  EXPECT_EQ(v[3], -3.5f);
  EXPECT_EQ(v[19], 1.0f);
  EXPECT_EQ(v[0], 0.0f);
  // q4_1: d = 2, m = −1, qs[0] = 0x3F → element 0 = 15·2 − 1, element 16 = 3·2 − 1.
  std::vector<std::uint8_t> q41(20, 0);
  put_half(q41, 0, 2.0f);
  put_half(q41, 2, -1.0f);
  q41[4] = 0x3F;
  v = decode(GgmlType::kQ4_1, q41);
  EXPECT_EQ(v[0], 29.0f);
  EXPECT_EQ(v[16], 5.0f);
  EXPECT_EQ(v[1], -1.0f);
  // q5_0: d = 1, qh bit 5 and bit 20 set; qs[5] = 0x21, qs[4] = 0x00.
  std::vector<std::uint8_t> q5(22, 0);
  put_half(q5, 0, 1.0f);
  const std::uint32_t qh = (1u << 5) | (1u << 20);
  std::memcpy(q5.data() + 2, &qh, 4);
  q5[6 + 5] = 0x21;
  v = decode(GgmlType::kQ5_0, q5);
  EXPECT_EQ(v[5], static_cast<float>((1 | 16) - 16));
  EXPECT_EQ(v[21], static_cast<float>(2 - 16));
  EXPECT_EQ(v[20], static_cast<float>(16 - 16));  // element 20: qs[4] high nibble 0, qh bit 20
  EXPECT_EQ(v[4], -16.0f);
  // q5_1: d = 1, m = 0.25, qh bit 31 → element 31 = (qs[15] >> 4 | 16)·1 + 0.25.
  std::vector<std::uint8_t> q51(24, 0);
  put_half(q51, 0, 1.0f);
  put_half(q51, 2, 0.25f);
  const std::uint32_t qh31 = 1u << 31;
  std::memcpy(q51.data() + 4, &qh31, 4);
  q51[8 + 15] = 0x70;
  v = decode(GgmlType::kQ5_1, q51);
  EXPECT_EQ(v[31], 23.25f);
  EXPECT_EQ(v[15], 0.25f);
  // q8_0: d = 0.25, qs[7] = −100.
  std::vector<std::uint8_t> q8(34, 0);
  put_half(q8, 0, 0.25f);
  q8[2 + 7] = static_cast<std::uint8_t>(-100);
  EXPECT_EQ(decode(GgmlType::kQ8_0, q8)[7], -25.0f);
  // iq4_nl: d = 1, qs[2] = 0xF0 → element 2 = values[0] = −127, element 18 = values[15] = 113.
  std::vector<std::uint8_t> nl(18, 0x88);
  put_half(nl, 0, 1.0f);
  nl[2 + 2] = 0xF0;
  v = decode(GgmlType::kIQ4_NL, nl);
  EXPECT_EQ(v[2], -127.0f);
  EXPECT_EQ(v[18], 113.0f);
  EXPECT_EQ(v[0], 1.0f);  // index 8 → value 1
}

TEST(WeightTypes, KQuantBlocksDecodeBySpec) {
  // q4_K: d = 1, dmin = 0.5; sub-block 5 has scale 37 and min 9 (six bits split per block_layout.h).
  std::vector<std::uint8_t> q4(144, 0);
  put_half(q4, 0, 1.0f);
  put_half(q4, 2, 0.5f);
  q4[4 + 9] = static_cast<std::uint8_t>((37 & 0xF) | ((9 & 0xF) << 4));  // byte j+4 for j = 5
  q4[4 + 1] = static_cast<std::uint8_t>((37 >> 4) << 6);                 // byte j−4: top bits of the scale
  q4[4 + 5] = static_cast<std::uint8_t>((9 >> 4) << 6);                  // byte j: top bits of the min
  // Element 160 + 7 (sub-block 5 = high nibbles of qs[64..95]) gets level 11.
  q4[16 + 64 + 7] = 0xB0;
  std::vector<float> v = decode(GgmlType::kQ4_K, q4);
  EXPECT_EQ(v[167], 37.0f * 11.0f - 0.5f * 9.0f);
  EXPECT_EQ(v[166], -0.5f * 9.0f);
  EXPECT_EQ(v[135], 0.0f);  // element 128 + 7: sub-block 4, scale and min 0
  // q5_K: the same, plus the fifth bit of element 167 at bit 5 of qh[7].
  std::vector<std::uint8_t> q5(176, 0);
  std::memcpy(q5.data(), q4.data(), 16);
  q5[16 + 7] = 1u << 5;
  q5[48 + 64 + 7] = 0xB0;
  EXPECT_EQ(decode(GgmlType::kQ5_K, q5)[167], 37.0f * 27.0f - 0.5f * 9.0f);
  // q6_K: d = 0.5; element 128 + 64 + 3 (half 1, k = 2: high nibble of ql[64 + 3], qh bits 4..5
  // of qh[32 + 3]), sub-block 12 with scale −3.
  std::vector<std::uint8_t> q6(210, 0);
  put_half(q6, 208, 0.5f);
  q6[192 + 12] = static_cast<std::uint8_t>(-3);
  q6[64 + 3] = 0x50;        // low four bits 5
  q6[128 + 32 + 3] = 0x20;  // high two bits 2 → level 5 | 32 = 37
  v = decode(GgmlType::kQ6_K, q6);
  EXPECT_EQ(v[195], 0.5f * -3.0f * static_cast<float>(37 - 32));
  EXPECT_EQ(v[192], 0.5f * -3.0f * -32.0f);  // level 0 stands for −32
}

TEST(WeightTypes, KQuantSmallBlocksDecodeBySpec) {
  // q2_K: d = 1, dmin = 1, sub-block 9 (elements 144..159) scale 6, min 2; element 150 is
  // e = 128 + 22: qs[32 + 22] bits 0..1.
  std::vector<std::uint8_t> q2(84, 0);
  put_half(q2, 80, 1.0f);
  put_half(q2, 82, 1.0f);
  q2[9] = 6 | (2 << 4);
  q2[16 + 32 + 22] = 0x03;
  std::vector<float> v = decode(GgmlType::kQ2_K, q2);
  EXPECT_EQ(v[150], 6.0f * 3.0f - 2.0f);
  EXPECT_EQ(v[151], -2.0f);
  // q3_K: d = 1; sub-block 13 has six-bit scale 40 (used as 8); element 212 = 128 + 2·32 + 20:
  // low bits at qs[32 + 20] >> 4, high bit at hmask[20] bit 6.
  std::vector<std::uint8_t> q3(110, 0);
  put_half(q3, 108, 1.0f);
  q3[96 + 5] = static_cast<std::uint8_t>((40 & 0xF) << 4);     // nibble 13/8 = 1 of byte 13 % 8
  q3[96 + 8 + 1] = static_cast<std::uint8_t>((40 >> 4) << 6);  // bits 2·(13/4) of byte 8 + 13 % 4
  q3[32 + 32 + 20] = 0x20;                                     // level 2 at shift 4
  q3[20] = 1u << 6;                                            // high bit set: no −4
  v = decode(GgmlType::kQ3_K, q3);
  EXPECT_EQ(v[212], 8.0f * 2.0f);
  EXPECT_EQ(v[213], 8.0f * -4.0f);  // high bit clear, level 0: −4
  // iq4_xs: d = 0.5; sub-block 6 six-bit scale 35 (used as 3); element 192 + 17 = high nibble of qs[16·6 + 1].
  std::vector<std::uint8_t> xs(136, 0x88);
  put_half(xs, 0, 0.5f);
  store_u16(xs.data() + 2, static_cast<std::uint16_t>((35 >> 4) << 12));  // bits 2·6 of scales_h
  xs[4 + 3] = static_cast<std::uint8_t>(35 & 0xF);                        // low nibble of scales_l[3]
  xs[8 + 96 + 1] = 0x38;
  v = decode(GgmlType::kIQ4_XS, xs);
  EXPECT_EQ(v[209], 0.5f * 3.0f * static_cast<float>(blocks::kIq4nlValues[3]));
  EXPECT_EQ(v[193], 0.5f * 3.0f * static_cast<float>(blocks::kIq4nlValues[8]));
}

TEST(WeightTypes, QuantizersErrIntoTheirRangeAndFallWithBits) {
  // Relative RMS error on 2^20 Gaussians (measured at this commit; bounds about 5 % above).
  struct Bound {
    GgmlType type;
    double max_error;
  };
  const Bound bounds[] = {{GgmlType::kF16, 3e-4},   {GgmlType::kBF16, 2e-3},    {GgmlType::kQ8_0, 0.0057},
                          {GgmlType::kQ6_K, 0.019}, {GgmlType::kQ5_1, 0.040},   {GgmlType::kQ5_K, 0.038},
                          {GgmlType::kQ5_0, 0.045}, {GgmlType::kQ4_1, 0.082},   {GgmlType::kQ4_K, 0.075},
                          {GgmlType::kQ4_0, 0.090}, {GgmlType::kIQ4_NL, 0.080}, {GgmlType::kIQ4_XS, 0.081},
                          {GgmlType::kQ3_K, 0.158}, {GgmlType::kQ2_K, 0.311}};
  const std::vector<float> x = test::gaussian(std::size_t{1} << 20, 21);
  auto error_of = [&](GgmlType type) {
    const WeightTypeInfo& t = weight_type(type);
    std::vector<std::uint8_t> b(x.size() / t.block_elements * t.block_bytes);
    std::vector<float> y(x.size());
    t.quantize(x.data(), x.size(), b.data());
    t.dequantize(b.data(), x.size(), y.data());
    double e = 0, p = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      e += (x[i] - y[i]) * (x[i] - static_cast<double>(y[i]));
      p += static_cast<double>(x[i]) * x[i];
    }
    return std::sqrt(e / p);
  };
  for (const Bound& b : bounds) EXPECT_LE(error_of(b.type), b.max_error) << weight_type(b.type).name;
  EXPECT_EQ(error_of(GgmlType::kF32), 0.0);
  // More bits, less error, within each family.
  EXPECT_LT(error_of(GgmlType::kQ6_K), error_of(GgmlType::kQ5_K));
  EXPECT_LT(error_of(GgmlType::kQ5_K), error_of(GgmlType::kQ4_K));
  EXPECT_LT(error_of(GgmlType::kQ4_K), error_of(GgmlType::kQ3_K));
  EXPECT_LT(error_of(GgmlType::kQ3_K), error_of(GgmlType::kQ2_K));
  EXPECT_LT(error_of(GgmlType::kQ5_0), error_of(GgmlType::kQ4_0));
  EXPECT_LT(error_of(GgmlType::kQ5_1), error_of(GgmlType::kQ4_1));
  EXPECT_LT(error_of(GgmlType::kQ8_0), error_of(GgmlType::kQ5_0));
}

TEST(WeightTypes, ZeroBlocksQuantizeToZeros) {
  for (const WeightTypeInfo& t : weight_type_table()) {
    const std::vector<float> zeros(512, 0.0f);
    std::vector<std::uint8_t> b(weight_row_bytes(t.type, 512));
    t.quantize(zeros.data(), zeros.size(), b.data());
    std::vector<float> y(512, 1.0f);
    t.dequantize(b.data(), 512, y.data());
    for (float v : y) ASSERT_EQ(v, 0.0f) << t.name;
  }
}

// --- activations ---------------------------------------------------------------------------------

TEST(Activations, Q8BlocksRoundHalfToEvenWithAnFp16Scale) {
  std::vector<float> x(32, 0.0f);
  x[0] = 127.0f;  // amax 127: d = 1, q = round(x)
  x[1] = 2.5f;
  x[2] = 3.5f;
  x[3] = -2.5f;
  x[4] = -0.4f;
  std::int8_t q[32];
  float d;
  std::int16_t sum;
  quantize_q8_block(x.data(), q, d, sum);
  EXPECT_EQ(d, 1.0f);
  EXPECT_EQ(q[0], 127);
  EXPECT_EQ(q[1], 2);  // ties to even, as ggml's AVX2 _mm256_round_ps
  EXPECT_EQ(q[2], 4);
  EXPECT_EQ(q[3], -2);
  EXPECT_EQ(q[4], 0);
  EXPECT_EQ(sum, 127 + 2 + 4 - 2);
  x[0] = 0.3f;  // d = fp16(0.3/127), held as that half's value
  quantize_q8_block(x.data(), q, d, sum);
  EXPECT_EQ(d, half_to_float(float_to_half(x[2] / 127.0f)));  // amax is now 3.5
}

TEST(Activations, Q8KUsesTheSignedMaximumAndSumsPer16And32) {
  std::vector<float> x = test::gaussian(512, 4);
  x[300] = -9.0f;  // the largest magnitude of the second block, negative
  ActivationBuffer buffer;
  const ActivationBatch a = quantize_activations(ActivationForm::kQ8K, x.data(), 2, 256, buffer);
  // Token 1 is the second block: iscale = −127/max = 127/9 maps its maximum −9 to −127.
  EXPECT_EQ(a.q_of(1)[300 - 256], -127);
  EXPECT_FLOAT_EQ(a.d_of(1)[0], 9.0f / 127.0f);
  for (std::size_t t = 0; t < 2; ++t)
    for (std::size_t g = 0; g < 16; ++g) {
      int s = 0;
      for (std::size_t j = 0; j < 16; ++j) s += a.q_of(t)[16 * g + j];
      EXPECT_EQ(a.sums_of(t)[g], s);
      if (g % 2 == 1) {
        EXPECT_EQ(a.sums32_of(t)[g / 2], a.sums_of(t)[g - 1] + a.sums_of(t)[g]);
      }
    }
  for (std::size_t c = 0; c < 256; ++c) EXPECT_LE(a.q_of(0)[c], 127);
  // Zeros give d = 0, a NaN or an infinity gives d = NaN and q = 0.
  std::vector<float> z(256, 0.0f);
  const ActivationBatch zero = quantize_activations(ActivationForm::kQ8K, z.data(), 1, 256, buffer);
  EXPECT_EQ(zero.d[0], 0.0f);
  z[5] = std::numeric_limits<float>::infinity();
  const ActivationBatch inf = quantize_activations(ActivationForm::kQ8K, z.data(), 1, 256, buffer);
  EXPECT_TRUE(std::isnan(inf.d[0]));
  EXPECT_EQ(inf.q[5], 0);
  EXPECT_THROW(quantize_activations(ActivationForm::kQ8K, z.data(), 1, 100, buffer), std::invalid_argument);
}

}  // namespace
}  // namespace veloxquant
