#include "veloxquant/format.h"

#include <charconv>
#include <cmath>
#include <stdexcept>
#include <string>

namespace veloxquant {

namespace {

[[noreturn]] void bad(std::string_view name, const std::string& why) {
  throw std::invalid_argument("format '" + std::string(name) + "': " + why);
}

int parse_int(std::string_view name, std::string_view text, int lo, int hi, const char* what) {
  int v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size())
    bad(name, std::string(what) + " '" + std::string(text) + "' is not an integer");
  if (v < lo || v > hi)
    bad(name, std::string(what) + " " + std::to_string(v) + " is out of range " + std::to_string(lo) + ".." +
                  std::to_string(hi));
  return v;
}

// Splits "a/b/c" into parts.
std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    const std::size_t at = s.find(sep, start);
    out.push_back(s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) return out;
    start = at + 1;
  }
}

void parse_option(std::string_view name, FormatSpec& spec, std::string_view option) {
  const std::size_t eq = option.find('=');
  if (eq == std::string_view::npos) bad(name, "option '" + std::string(option) + "' needs key=value");
  const std::string_view key = option.substr(0, eq), value = option.substr(eq + 1);
  if (key == "m" && spec.method == Method::kQjl) {
    spec.qjl_dim = static_cast<std::size_t>(parse_int(name, value, 1, 1 << 16, "qjl sketch size m"));
  } else if (key == "bits" && spec.method == Method::kPolar) {
    const auto parts = split(value, '/');
    if (parts.size() != 4) bad(name, "polar bits need 4 levels like 4/2/2/2, got '" + std::string(value) + "'");
    for (int l = 0; l < 4; ++l) spec.polar_bits[l] = parse_int(name, parts[l], 1, 8, "polar level bits");
  } else if (key == "outliers" && (spec.method == Method::kTurboMse || spec.method == Method::kTurboProd) &&
             spec.outlier_fraction == 0.0) {
    const auto parts = split(value, '/');
    if (parts.size() != 2) bad(name, "outliers need COUNT/BITS like 16/4, got '" + std::string(value) + "'");
    spec.outlier_channels = static_cast<std::size_t>(parse_int(name, parts[0], 1, 1 << 16, "outlier count"));
    // A TurboQuant-Prod instance spends one of its bits on the residual sketch: at least 2.
    spec.outlier_bits = parse_int(name, parts[1], spec.method == Method::kTurboProd ? 2 : 1, 8, "outlier bits");
  } else if (key == "extra" && spec.method == Method::kTurboMse && spec.outlier_fraction == 0.0) {
    spec.extra_coords = static_cast<std::size_t>(parse_int(name, value, 1, 1 << 16, "extra-bit coordinates"));
    if (spec.bits >= 8) bad(name, "extra coordinates need bits < 8");
  } else if (key == "scale" && (spec.method == Method::kTurboMse || spec.method == Method::kTurboProd)) {
    if (value == "norm")
      spec.norm_correction = false;
    else if (value == "optimal")
      spec.norm_correction = true;
    else
      bad(name, "scale must be 'norm' or 'optimal', got '" + std::string(value) + "'");
  } else {
    bad(name, "unknown option '" + std::string(key) + "' for this method");
  }
}

}  // namespace

FormatSpec parse_format(std::string_view name) {
  const std::size_t colon = name.find(':');
  const std::string_view base = name.substr(0, colon);
  FormatSpec spec;
  if (base == "f32")
    spec.method = Method::kF32;
  else if (base == "f16")
    spec.method = Method::kF16;
  else if (base == "bf16")
    spec.method = Method::kBF16;
  else if (base == "q8")
    spec.method = Method::kQ8;
  else if (base == "q4")
    spec.method = Method::kQ4;
  else if (base == "qjl")
    spec.method = Method::kQjl;
  else if (base == "polar")
    spec.method = Method::kPolar;
  else if (base == "tq2.5" || base == "tq3.5") {
    // TurboQuant paper §4: 2.5 = 32/128 channels at 3 bits + the rest at 2; 3.5 = 64/128 at 4 + 64 at 3.
    spec.method = Method::kTurboMse;
    spec.bits = base[2] - '0';
    spec.outlier_bits = spec.bits + 1;
    spec.outlier_fraction = base == "tq2.5" ? 0.25 : 0.5;
  } else if (base.rfind("tqp", 0) == 0) {
    spec.method = Method::kTurboProd;
    spec.bits = parse_int(name, base.substr(3), 2, 8, "tqp bits");
  } else if (base.rfind("tq", 0) == 0) {
    spec.method = Method::kTurboMse;
    spec.bits = parse_int(name, base.substr(2), 1, 8, "tq bits");
  } else {
    bad(name, "unknown format (known: f32 f16 bf16 q8 q4 tq1..tq8 tq2.5 tq3.5 tqp2..tqp8 qjl polar)");
  }
  if (colon != std::string_view::npos) {
    for (std::string_view option : split(name.substr(colon + 1), ',')) parse_option(name, spec, option);
  }
  return spec;
}

std::string FormatSpec::name() const {
  std::string n;
  std::vector<std::string> options;
  switch (method) {
    case Method::kF32:
      return "f32";
    case Method::kF16:
      return "f16";
    case Method::kBF16:
      return "bf16";
    case Method::kQ8:
      return "q8";
    case Method::kQ4:
      return "q4";
    case Method::kQjl:
      n = "qjl";
      if (qjl_dim) options.push_back("m=" + std::to_string(qjl_dim));
      break;
    case Method::kPolar:
      n = "polar";
      if (polar_bits != std::array<int, 4>{4, 2, 2, 2})
        options.push_back("bits=" + std::to_string(polar_bits[0]) + "/" + std::to_string(polar_bits[1]) + "/" +
                          std::to_string(polar_bits[2]) + "/" + std::to_string(polar_bits[3]));
      break;
    case Method::kTurboMse:
      if (outlier_fraction > 0) {
        n = "tq" + std::to_string(bits) + ".5";
      } else {
        n = "tq" + std::to_string(bits);
        if (outlier_channels)
          options.push_back("outliers=" + std::to_string(outlier_channels) + "/" + std::to_string(outlier_bits));
        if (extra_coords) options.push_back("extra=" + std::to_string(extra_coords));
      }
      if (!norm_correction) options.push_back("scale=norm");
      break;
    case Method::kTurboProd:
      n = "tqp" + std::to_string(bits);
      if (outlier_channels)
        options.push_back("outliers=" + std::to_string(outlier_channels) + "/" + std::to_string(outlier_bits));
      if (!norm_correction) options.push_back("scale=norm");
      break;
  }
  for (std::size_t i = 0; i < options.size(); ++i) n += (i == 0 ? ":" : ",") + options[i];
  return n;
}

std::size_t FormatSpec::outliers_for_dim(std::size_t dim) const {
  if (method != Method::kTurboMse && method != Method::kTurboProd) return 0;
  if (outlier_fraction > 0) return static_cast<std::size_t>(std::lround(outlier_fraction * static_cast<double>(dim)));
  return outlier_channels;
}

const std::vector<FormatInfo>& format_table() {
  static const std::vector<FormatInfo> table = {
      {"f32", Method::kF32, "32-bit float (exact reference)"},
      {"f16", Method::kF16, "IEEE half"},
      {"bf16", Method::kBF16, "bfloat16"},
      {"q8", Method::kQ8, "int8 per vector, fp16 scale"},
      {"q4", Method::kQ4, "4-bit groups of 32 with fp16 scale (llama.cpp q4_0)"},
      {"tq1", Method::kTurboMse, "TurboQuant-MSE 1 bit"},
      {"tq2", Method::kTurboMse, "TurboQuant-MSE 2 bits"},
      {"tq2.5", Method::kTurboMse, "TurboQuant-MSE, 25% outlier channels at 3 bits, rest at 2"},
      {"tq3", Method::kTurboMse, "TurboQuant-MSE 3 bits"},
      {"tq3.5", Method::kTurboMse, "TurboQuant-MSE, 50% outlier channels at 4 bits, rest at 3"},
      {"tq4", Method::kTurboMse, "TurboQuant-MSE 4 bits"},
      {"tq5", Method::kTurboMse, "TurboQuant-MSE 5 bits"},
      {"tq6", Method::kTurboMse, "TurboQuant-MSE 6 bits"},
      {"tq7", Method::kTurboMse, "TurboQuant-MSE 7 bits"},
      {"tq8", Method::kTurboMse, "TurboQuant-MSE 8 bits"},
      {"tqp2", Method::kTurboProd, "TurboQuant-Prod 2 bits (1-bit MSE + 1-bit QJL residual)"},
      {"tqp3", Method::kTurboProd, "TurboQuant-Prod 3 bits"},
      {"tqp4", Method::kTurboProd, "TurboQuant-Prod 4 bits"},
      {"tqp5", Method::kTurboProd, "TurboQuant-Prod 5 bits"},
      {"tqp6", Method::kTurboProd, "TurboQuant-Prod 6 bits"},
      {"tqp7", Method::kTurboProd, "TurboQuant-Prod 7 bits"},
      {"tqp8", Method::kTurboProd, "TurboQuant-Prod 8 bits"},
      {"qjl", Method::kQjl, "QJL: m = d sign bits + norm"},
      {"polar", Method::kPolar, "PolarQuant 4/2/2/2 bits per level, fp16 radius per 16"},
  };
  return table;
}

std::vector<std::string> format_names_for_method(std::string_view method, const std::vector<int>& bits) {
  std::vector<std::string> names;
  if (method == "tq" || method == "tqp") {
    for (int b : bits) names.push_back(std::string(method) + std::to_string(b));
  } else if (method == "f32" || method == "f16" || method == "bf16" || method == "q8" || method == "q4" ||
             method == "qjl" || method == "polar") {
    names.emplace_back(method);
  } else {
    throw std::invalid_argument("unknown method '" + std::string(method) +
                                "' (known: tq tqp qjl polar q8 q4 f16 bf16 f32)");
  }
  for (const std::string& n : names) parse_format(n);  // validates bit ranges
  return names;
}

}  // namespace veloxquant
