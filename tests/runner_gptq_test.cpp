// GPTQ weight quantization (runner/gptq.h, runner/calibration.h): with H = I it is plain
// rounding; on correlated inputs it lowers the output error; calibrated models round-trip through
// .vqm files; bad calibration input fails clearly.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "io/gguf.h"
#include "quant/rotated_records.h"
#include "runner/calibration.h"
#include "runner/gptq.h"
#include "runner/kv_store.h"
#include "runner/llama_forward.h"
#include "runner/llama_model.h"
#include "runner/model_file.h"
#include "runner_gguf_writer.h"
#include "runner_test_model.h"
#include "test_util.h"
#include "util/half.h"

namespace veloxquant {
namespace {

std::vector<double> identity(std::size_t n) {
  std::vector<double> h(n * n, 0.0);
  for (std::size_t i = 0; i < n; ++i) h[i * n + i] = 1.0;
  return h;
}

// H = Σ x·xᵀ over `samples` inputs x = L·z with a random lower-triangular L: strongly
// correlated channels of unequal power, like a layer's activations.
std::vector<double> correlated_moment(std::size_t n, std::size_t samples, std::uint64_t seed) {
  const std::vector<float> l = test::gaussian(n * n, seed), z = test::gaussian(samples * n, seed + 1);
  std::vector<double> h(n * n, 0.0), x(n);
  for (std::size_t s = 0; s < samples; ++s) {
    for (std::size_t i = 0; i < n; ++i) {
      x[i] = 0.0;
      for (std::size_t k = 0; k <= i; ++k) x[i] += l[i * n + k] * z[s * n + k];
    }
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < n; ++j) h[i * n + j] += x[i] * x[j];
  }
  return h;
}

// Encodes rows [rows][cols] as records of q (one row's records contiguous), plainly or by GPTQ.
std::vector<std::uint8_t> encode_rows(const Quantizer& q, const std::vector<float>& w, std::size_t cols,
                                      const GptqEncoder* gptq) {
  const std::size_t rows = w.size() / cols, blocks = cols / q.dim(), cs = q.code_size();
  std::vector<std::uint8_t> recs(rows * blocks * cs);
  for (std::size_t r = 0; r < rows; ++r) {
    if (gptq)
      gptq->encode_row(w.data() + r * cols, recs.data() + r * blocks * cs, cs);
    else
      q.encode(blocks, w.data() + r * cols, recs.data() + r * blocks * cs);
  }
  return recs;
}

// tr((W − Ŵ) H (W − Ŵ)ᵀ).
double output_error(const Quantizer& q, const std::vector<float>& w, std::size_t cols,
                    const std::vector<std::uint8_t>& recs, const std::vector<double>& h) {
  std::vector<float> back(w.size());
  q.decode(w.size() / q.dim(), recs.data(), back.data());
  double total = 0.0;
  for (std::size_t r = 0; r < w.size() / cols; ++r)
    for (std::size_t i = 0; i < cols; ++i) {
      const double ei = static_cast<double>(w[r * cols + i]) - back[r * cols + i];
      for (std::size_t j = 0; j < cols; ++j)
        total += ei * h[i * cols + j] * (static_cast<double>(w[r * cols + j]) - back[r * cols + j]);
    }
  return total;
}

TEST(Gptq, InverseUpperCholeskyFactorsTheInverse) {
  const std::size_t n = 24;
  std::vector<double> a = correlated_moment(n, 64, 3);
  for (std::size_t i = 0; i < n; ++i) a[i * n + i] += 1.0;
  const std::vector<double> u = inverse_upper_cholesky(a, n);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < i; ++j) EXPECT_EQ(u[i * n + j], 0.0);
  // A · (UᵀU) = I.
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j) {
      double s = 0.0;
      for (std::size_t k = 0; k < n; ++k) {
        double inv_kj = 0.0;
        for (std::size_t m = 0; m < n; ++m) inv_kj += u[m * n + k] * u[m * n + j];
        s += a[i * n + k] * inv_kj;
      }
      EXPECT_NEAR(s, i == j ? 1.0 : 0.0, 1e-9);
    }
  std::vector<double> not_pd = identity(3);
  not_pd[4] = -1.0;
  EXPECT_THROW(inverse_upper_cholesky(not_pd, 3), std::invalid_argument);
}

// With H = I there is nothing to move: every code is plain encoding's. The tq scale is refit in
// double instead of plain encoding's float dot products, so it may differ by one fp16 step.
TEST(Gptq, IdentityMomentGivesPlainCodes) {
  for (const char* format : {"tq4", "tq3", "tq4:scale=norm", "tq4:outliers=16/5", "tq2:extra=16", "q4"}) {
    SCOPED_TRACE(format);
    const std::size_t dim = 64, cols = 128, rows = 40;
    const auto q = make_quantizer(format, dim, 11);
    const GptqEncoder gptq(*q, cols, identity(cols));
    std::vector<float> w = test::gaussian(rows * cols, 5);
    std::fill(w.begin(), w.begin() + dim, 0.0f);  // a zero record stays all zero bytes
    const std::vector<std::uint8_t> plain = encode_rows(*q, w, cols, nullptr), ours = encode_rows(*q, w, cols, &gptq);
    if (!rotated_records(*q)) {  // q4 keeps plain q4's scales
      EXPECT_EQ(plain, ours);
      continue;
    }
    const std::size_t cs = q->code_size();
    std::vector<bool> is_scale(cs, false);  // the bytes of each group's fp16 scale
    for (const RotatedRecords::Group& g : rotated_records(*q)->groups())
      is_scale[g.offset] = is_scale[g.offset + 1] = true;
    std::size_t scales_off_by_one = 0, scales = 0;
    for (std::size_t i = 0; i < plain.size(); ++i) {
      if (!is_scale[i % cs]) {
        ASSERT_EQ(plain[i], ours[i]) << "record " << i / cs << " byte " << i % cs;
      } else if (!is_scale[(i + cs - 1) % cs] || i % cs == 0) {  // the first byte of a scale
        const int a = load_u16(plain.data() + i), b = load_u16(ours.data() + i);
        ASSERT_LE(std::abs(a - b), 1) << "record " << i / cs;
        scales_off_by_one += a != b;
        ++scales;
      }
    }
    EXPECT_LE(scales_off_by_one, scales / 10);
    if (std::string(format) == "tq4:scale=norm") {
      EXPECT_EQ(plain, ours);
    }
  }
}

// A row whose scale fp16 cannot hold fails as plain encoding does, and writes nothing (every scale
// is checked before the first record is written).
TEST(Gptq, RowsPastTheFp16RangeFailClearly) {
  for (const char* format : {"q4", "tq4"}) {
    SCOPED_TRACE(format);
    const std::size_t dim = 64, cols = 128;
    const auto q = make_quantizer(format, dim, 11);
    const GptqEncoder gptq(*q, cols, identity(cols));
    std::vector<float> row = test::gaussian(cols, 6);
    row[70] = 1e7f;
    std::vector<std::uint8_t> recs(cols / dim * q->code_size(), 0xAB);
    EXPECT_THROW(gptq.encode_row(row.data(), recs.data(), q->code_size()), std::invalid_argument);
    EXPECT_EQ(recs, std::vector<std::uint8_t>(recs.size(), 0xAB));
    EXPECT_THROW(q->encode(1, row.data() + dim, recs.data()), std::invalid_argument);  // plain encoding agrees
  }
}

// On correlated inputs the output error tr((W − Ŵ) H (W − Ŵ)ᵀ) drops well below plain rounding's.
TEST(Gptq, CorrelatedMomentLowersOutputError) {
  for (const char* format : {"tq4", "tq3", "tq4:outliers=16/5", "q4"}) {
    SCOPED_TRACE(format);
    const std::size_t dim = 64, cols = 128, rows = 48;
    const auto q = make_quantizer(format, dim, 2);
    const std::vector<double> h = correlated_moment(cols, 512, 9);
    const GptqEncoder gptq(*q, cols, h);
    const std::vector<float> w = test::gaussian(rows * cols, 21);
    const double plain = output_error(*q, w, cols, encode_rows(*q, w, cols, nullptr), h);
    const double ours = output_error(*q, w, cols, encode_rows(*q, w, cols, &gptq), h);
    EXPECT_LT(ours, 0.7 * plain) << "plain " << plain << " gptq " << ours;
  }
}

TEST(Gptq, RejectsFormatsWithoutRotatedRecordsAndBadMoments) {
  const auto q8 = make_quantizer("q8", 64, 1);
  EXPECT_THROW(GptqEncoder(*q8, 64, identity(64)), std::invalid_argument);
  const auto tq = make_quantizer("tq4", 64, 1);
  EXPECT_THROW(GptqEncoder(*tq, 96, identity(96)), std::invalid_argument);  // not whole records
  EXPECT_THROW(GptqEncoder(*tq, 64, identity(32)), std::invalid_argument);  // wrong size
  std::vector<double> nan = identity(64);
  nan[5] = std::nan("");
  EXPECT_THROW(GptqEncoder(*tq, 64, nan), std::invalid_argument);
  EXPECT_THROW(GptqEncoder(*tq, 64, std::vector<double>(64 * 64, 0.0)), std::invalid_argument);  // no inputs at all
}

// ---- whole models ----

std::vector<std::int32_t> calibration_tokens(std::size_t n) {
  SplitMix64 rng(17);
  std::vector<std::int32_t> t(n);
  for (auto& id : t) id = static_cast<std::int32_t>(rng.next() % 64);
  return t;
}

TEST(GptqModel, MomentsDoNotDependOnThreads) {
  const LlamaModel model = LlamaModel::from_gguf(GgufFile::from_bytes(testing::tiny_llama_gguf()));
  ThreadPool one(1), three(3);
  const std::vector<std::int32_t> tokens = calibration_tokens(96);
  const InputMoments a = collect_input_moments(model, tokens, 16, 1, 4, one);
  const InputMoments b = collect_input_moments(model, tokens, 16, 1, 4, three);
  ASSERT_EQ(a.size(), model.matrices().size());
  EXPECT_EQ(a, b);
  for (const auto& [name, view] : model.matrices()) {
    const std::vector<double>& h = a.at(name);
    ASSERT_EQ(h.size(), view->cols * view->cols) << name;
    EXPECT_GT(h[0], 0.0) << name;
    EXPECT_EQ(h[1], h[view->cols]) << name;  // symmetric
  }
}

TEST(GptqModel, CalibratedModelFileGivesTheSameLogits) {
  for (const char* scheme : {"tq4", "tq3:outliers=8/4,block=16", "q4"}) {
    SCOPED_TRACE(scheme);
    LlamaModel model = LlamaModel::from_gguf(GgufFile::from_bytes(testing::tiny_llama_gguf()));
    ThreadPool pool(2);
    const InputMoments moments = collect_input_moments(model, calibration_tokens(96), 16, 0, 6, pool);
    model.quantize_weights(scheme, 5, false, &moments);
    LlamaModel plain = LlamaModel::from_gguf(GgufFile::from_bytes(testing::tiny_llama_gguf()));
    plain.quantize_weights(scheme, 5);
    const WeightView& a = model.layers()[0].w_down;
    const WeightView& b = plain.layers()[0].w_down;
    EXPECT_NE(std::memcmp(a.data, b.data, a.rows * a.row_bytes), 0);  // GPTQ chose other codes

    const std::filesystem::path path =
        std::filesystem::temp_directory_path() / ("vq_gptq_" + std::to_string(::getpid()) + ".vqm");
    save_quantized_model(model, path.string());
    const LlamaModel loaded = LlamaModel::load(path.string());
    std::filesystem::remove(path);
    const std::vector<float> x = testing::prompt_logits(model), y = testing::prompt_logits(loaded);
    ASSERT_EQ(x.size(), y.size());
    EXPECT_EQ(std::memcmp(x.data(), y.data(), x.size() * sizeof(float)), 0);
  }
}

TEST(GptqModel, BadCalibrationInputFailsClearly) {
  const LlamaModel model = LlamaModel::from_gguf(GgufFile::from_bytes(testing::tiny_llama_gguf()));
  ThreadPool pool(1);
  try {
    collect_input_moments(model, calibration_tokens(40), 16, 1, 2, pool);
    FAIL() << "too few tokens accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("40 calibration tokens hold 2 windows of 16"), std::string::npos) << e.what();
  }
  std::vector<std::int32_t> bad = calibration_tokens(32);
  bad[3] = 64;  // outside the vocabulary
  EXPECT_THROW(collect_input_moments(model, bad, 16, 0, 2, pool), std::invalid_argument);
  LlamaModel m = LlamaModel::from_gguf(GgufFile::from_bytes(testing::tiny_llama_gguf()));
  InputMoments moments = collect_input_moments(model, calibration_tokens(32), 16, 0, 2, pool);
  moments.erase("blk.1.ffn_up.weight");
  try {
    m.quantize_weights("tq4", 1, false, &moments);
    FAIL() << "missing statistics accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("blk.1.ffn_up.weight"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(m.weights_quantized());
  const InputMoments full = collect_input_moments(model, calibration_tokens(32), 16, 0, 2, pool);
  EXPECT_THROW(m.quantize_weights("q8", 1, false, &full), std::invalid_argument);  // not a tq format
}

}  // namespace
}  // namespace veloxquant
