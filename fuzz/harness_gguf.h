// GGUF reader: any bytes must parse or throw std::runtime_error; never read outside the buffer.
// Tensors of every weight type are then decoded and dotted on their first row, so that corrupt
// blocks (NaN or infinite scales, any level bits) run through the dequantization and the SIMD
// kernels under the sanitizers.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "io/gguf.h"
#include "weights/weight_types.h"

namespace veloxquant::fuzz_harness {

inline int fuzz_gguf(const std::uint8_t* data, std::size_t size) {
  try {
    const veloxquant::GgufFile f = veloxquant::GgufFile::from_bytes(std::vector<std::uint8_t>(data, data + size));
    // Touch the first and last byte of every tensor so ASan sees any span past the buffer.
    unsigned sum = 0;
    for (const veloxquant::GgufTensor& t : f.tensors()) {
      (void)t.elements();
      if (t.bytes > 0) sum += t.data[0] + t.data[t.bytes - 1];
      const std::size_t cols = static_cast<std::size_t>(t.dims[0]);
      if (cols > 4096) continue;  // a row of at most 4096 values: bounded work per input
      const veloxquant::WeightTypeInfo& type = veloxquant::weight_type(t.type);
      std::vector<float> row(cols);
      type.dequantize(t.data, cols, row.data());
      veloxquant::ActivationBuffer buffer;
      const std::vector<float> x(cols, 0.5f);
      const veloxquant::ActivationBatch a =
          veloxquant::quantize_activations(type.activation, x.data(), 1, cols, buffer);
      float y = 0.0f;
      type.dot(t.data, veloxquant::weight_row_bytes(t.type, cols), 0, 1, a, 0, 1, &y, 1);
      sum += static_cast<unsigned>(y == y) + static_cast<unsigned>(row[0] == row[0]);
    }
    for (const auto& [key, value] : f.metadata()) sum += static_cast<unsigned>(key.size() + value.strings.size());
    volatile unsigned sink = sum;
    (void)sink;
  } catch (const std::runtime_error&) {
  } catch (const std::invalid_argument&) {
  }
  return 0;
}

}  // namespace veloxquant::fuzz_harness
