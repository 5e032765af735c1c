// .npy reader: any bytes must parse or throw; a parsed array must serialize and parse back equal.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <stdexcept>
#include <vector>

#include "io/npy.h"

namespace veloxquant::fuzz_harness {

inline int fuzz_npy(const std::uint8_t* data, std::size_t size) {
  using namespace veloxquant;
  const std::span<const std::uint8_t> bytes(data, size);
  try {
    (void)parse_npy_header(bytes);
  } catch (const std::runtime_error&) {
  }
  NpyArray a;
  try {
    a = parse_npy(bytes);
  } catch (const std::runtime_error&) {
    return 0;
  }
  if (a.data.size() != a.size() * npy_dtype_size(a.dtype)) std::abort();
  if (a.dtype == NpyDtype::kF32 && a.to_f32().size() != a.size()) std::abort();
  const std::vector<std::uint8_t> again = serialize_npy(a.dtype, a.shape, a.data);
  const NpyArray b = parse_npy(again);
  if (b.dtype != a.dtype || b.shape != a.shape || b.data != a.data) std::abort();
  return 0;
}

}  // namespace veloxquant::fuzz_harness
