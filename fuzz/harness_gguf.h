// GGUF reader: any bytes must parse or throw std::runtime_error; never read outside the buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "io/gguf.h"

namespace veloxquant::fuzz_harness {

inline int fuzz_gguf(const std::uint8_t* data, std::size_t size) {
  try {
    const veloxquant::GgufFile f = veloxquant::GgufFile::from_bytes(std::vector<std::uint8_t>(data, data + size));
    // Touch the first and last byte of every tensor so ASan sees any span past the buffer.
    unsigned sum = 0;
    for (const veloxquant::GgufTensor& t : f.tensors()) {
      (void)t.elements();
      if (t.bytes > 0) sum += t.data[0] + t.data[t.bytes - 1];
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
