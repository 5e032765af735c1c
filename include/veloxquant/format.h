// The table of storage formats. Every tool, test, benchmark and binding loops over it.
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace veloxquant {

enum class Method {
  kF32,        // "f32": 32-bit floats
  kF16,        // "f16": IEEE half
  kBF16,       // "bf16": bfloat16
  kQ8,         // "q8": int8 per vector with an fp16 scale
  kQ4,         // "q4": 4-bit symmetric in groups of 32 with an fp16 scale (llama.cpp q4_0)
  kTurboMse,   // "tqB": TurboQuant-MSE, B bits; "tqB.5"-style names add outlier channels
  kTurboProd,  // "tqpB": TurboQuant-Prod, (B−1)-bit MSE + 1-bit QJL of the residual
  kQjl,        // "qjl": m sign bits of a Gaussian sketch + the norm
  kPolar,      // "polar": PolarQuant, 4 levels of angles per 16 coordinates
};

// A parsed format name with its options. Parse with parse_format(); the name round-trips.
struct FormatSpec {
  Method method = Method::kF32;
  int bits = 0;                               // tq / tqp bits per coordinate (inlier bits for tq with outliers)
  int outlier_bits = 0;                       // tq / tqp with outlier channels: bits of the outlier instance
  std::size_t outlier_channels = 0;           // how many channels (0 = none)
  double outlier_fraction = 0.0;              // outliers as a fraction of d when given by a fractional name
  std::size_t qjl_dim = 0;                    // qjl: sketch rows m (0 = d)
  std::array<int, 4> polar_bits{4, 2, 2, 2};  // polar: bits of levels 1..4
  bool norm_correction = true;                // tq: store the optimal scale instead of ‖x‖
  std::size_t extra_coords = 0;               // tq: rotated coordinates coded with bits + 1 (fractional rate)

  std::string name() const;  // canonical name, e.g. "tq3", "tq2.5", "polar", "qjl"
  // Number of outlier channels for head dimension d (explicit count or fraction of d).
  std::size_t outliers_for_dim(std::size_t dim) const;
};

// Parses a format name: f32 f16 bf16 q8 q4 tq1..tq8 tq2.5 tq3.5 tqp2..tqp8 qjl polar.
// Options may follow after ':' separated by ',': e.g. "qjl:m=256", "polar:bits=4/3/3/3",
// "tq3:outliers=16/4" (16 outlier channels at 4 bits; also "tqp2:outliers=4/3" for TurboQuant-Prod),
// "tq4:scale=norm" (no norm correction),
// "tq4:extra=16" (16 of the rotated coordinates at 5 bits, the rest at 4: 4.5 bits at d = 64).
// Throws std::invalid_argument naming the offending text.
FormatSpec parse_format(std::string_view name);

struct FormatInfo {
  const char* name;  // canonical name of the default variant
  Method method;
  const char* description;
};

// How a cache page interleaves the records of one block (Quantizer::block_records()): keys so that
// scoring reads 4 coordinates of 16 records per 32-bit lane group, values so that accumulating
// reads 4 records of 16 coordinate lanes (docs/formats.md, "Record blocks").
enum class BlockOrder { kKeys, kValues };

// Every named format, in table order.
const std::vector<FormatInfo>& format_table();

// Names of a method family, e.g. "tq" → tq1..tq8. Throws on unknown method names.
std::vector<std::string> format_names_for_method(std::string_view method, const std::vector<int>& bits);

}  // namespace veloxquant
