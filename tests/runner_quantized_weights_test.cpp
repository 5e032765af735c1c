// Weights stored as quantizer records: products on the codes against dequantize-then-multiply.
#include <gtest/gtest.h>

#include <cmath>

#include "io/gguf.h"
#include "runner/kv_store.h"
#include "runner/llama_forward.h"
#include "runner/llama_model.h"
#include "runner/matmul.h"
#include "runner_gguf_writer.h"
#include "test_util.h"
#include "veloxquant/quantizer.h"

namespace veloxquant {
namespace {

// Every row scored on its codes equals the decoded row times the input: exactly (to float
// rounding) for the float-scored tq5, within the documented int8 bound (1 % of ‖x‖·‖row‖) for
// tq4, whose rows are scored with an int8-rounded input.
TEST(QuantizedWeights, MatmulOnCodesEqualsDequantizeThenMultiply) {
  for (const char* format : {"tq4", "tq5", "q8"}) {
    const std::size_t rows = 37, cols = 96, tokens = 5;
    const auto q = make_quantizer(format, cols, 3);
    const std::vector<float> w = test::gaussian(rows * cols, 1), x = test::gaussian(tokens * cols, 2);
    std::vector<std::uint8_t> codes(rows * q->code_size());
    q->encode(rows, w.data(), codes.data());
    const WeightView view{GgmlType::kF32, rows, cols, q->code_size(), codes.data(), q.get()};
    ThreadPool pool(2);
    std::vector<float> y(tokens * rows);
    matmul(view, x.data(), tokens, y.data(), pool);
    std::vector<float> row(cols);
    for (std::size_t r = 0; r < rows; ++r) {
      dequantize_row(view, r, row.data());
      for (std::size_t t = 0; t < tokens; ++t) {
        double dot = 0.0, xx = 0.0, rr = 0.0;
        for (std::size_t c = 0; c < cols; ++c) {
          dot += static_cast<double>(row[c]) * x[t * cols + c];
          xx += static_cast<double>(x[t * cols + c]) * x[t * cols + c];
          rr += static_cast<double>(row[c]) * row[c];
        }
        const bool int8_scored = std::string(format) == "tq4" || std::string(format) == "tq5";  // ≤ 5 bits: int8
        const double tol = 1e-4 * (1 + std::fabs(dot)) + (int8_scored ? 0.01 * std::sqrt(xx * rr) : 0.0);
        ASSERT_NEAR(y[t * rows + r], dot, tol) << format << " row " << r << " token " << t;
      }
    }
  }
}

// A whole model: 8-bit TurboQuant weights keep the logits close to the original ones; the byte
// count falls to about a quarter of f32; a bad format name is refused before any change.
TEST(QuantizedWeights, ModelWithTq8WeightsStaysCloseToF32) {
  testing::TinyLlama m;
  std::vector<std::pair<std::string, std::vector<float>>> list;
  const auto bytes = testing::write_tiny_llama(m, 7, list);
  const LlamaModel original = LlamaModel::from_gguf(GgufFile::from_bytes(bytes));
  LlamaModel quantized = LlamaModel::from_gguf(GgufFile::from_bytes(bytes));
  EXPECT_THROW(quantized.quantize_weights("tq9", 1), std::invalid_argument);
  const LlamaModel::WeightBytes b = quantized.quantize_weights("tq8", 1);
  EXPECT_GT(b.count, 0u);
  EXPECT_LT(b.after, b.before / 3);  // 8 bits + a scale per row instead of 32 bits
  EXPECT_THROW(quantized.quantize_weights("tq8", 1), std::runtime_error);  // already quantized

  ThreadPool pool(1);
  const LlamaConfig& c = original.config();
  const std::int32_t tokens[] = {1, 5, 9, 2, 33, 17};
  std::vector<float> want(6 * c.vocab), got(6 * c.vocab);
  ExactKvStore a({c.layers, c.heads, c.kv_heads, c.head_dim}, pool),
      b2({c.layers, c.heads, c.kv_heads, c.head_dim}, pool);
  LlamaSession(original, a, pool).forward(tokens, 6, want.data(), true);
  LlamaSession(quantized, b2, pool).forward(tokens, 6, got.data(), true);
  double err = 0.0, ref = 0.0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    err += (got[i] - want[i]) * static_cast<double>(got[i] - want[i]);
    ref += want[i] * static_cast<double>(want[i]);
  }
  EXPECT_LT(std::sqrt(err / ref), 0.02);
  EXPECT_GT(err, 0.0);  // the weights did change
}

}  // namespace
}  // namespace veloxquant
