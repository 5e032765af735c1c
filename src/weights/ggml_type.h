// The ggml tensor types veloxquant reads and writes, with ggml's own numbers (the `type` field of
// a GGUF tensor record, ggml.h's enum ggml_type). Every property of a type (block size, bytes,
// kernels) is in one table: weights/weight_types.h.
#pragma once

#include <cstdint>
#include <string>

namespace veloxquant {

enum class GgmlType : std::uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kIQ4_NL = 20,
  kIQ4_XS = 23,
  kBF16 = 30,
};

// ggml's name of any type number, supported or not ("q4_K", "iq2_xxs"; "type 99" when ggml has
// none), for messages that name what a file holds.
std::string ggml_type_number_name(std::uint32_t type);

}  // namespace veloxquant
