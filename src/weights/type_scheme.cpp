#include "weights/type_scheme.h"

#include <cctype>
#include <stdexcept>

#include "weights/weight_types.h"

namespace veloxquant {

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// llama-quant.cpp's use_more_bits.
bool use_more_bits(std::size_t i, std::size_t n) {
  return i < n / 8 || i >= 7 * n / 8 || (i >= n / 8 && (i - n / 8) % 3 == 2);
}

// The layer of "blk.<i>.…", or n_layers when the name has none.
std::size_t layer_of(const std::string& name, std::size_t n_layers) {
  if (name.compare(0, 4, "blk.") != 0) return n_layers;
  std::size_t i = 0, pos = 4;
  if (pos >= name.size() || !std::isdigit(static_cast<unsigned char>(name[pos]))) return n_layers;
  while (pos < name.size() && std::isdigit(static_cast<unsigned char>(name[pos])))
    i = i * 10 + static_cast<std::size_t>(name[pos++] - '0');
  return i;
}

// llama.cpp's fallback for rows that are not whole blocks of the chosen type.
GgmlType fit_rows(GgmlType type, std::uint64_t cols) {
  auto fits = [cols](GgmlType t) { return cols % weight_type(t).block_elements == 0; };
  if (fits(type)) return type;
  switch (type) {
    case GgmlType::kQ4_K:
      type = GgmlType::kQ5_0;
      break;
    case GgmlType::kQ5_K:
      type = GgmlType::kQ5_1;
      break;
    case GgmlType::kQ6_K:
      type = GgmlType::kQ8_0;
      break;
    case GgmlType::kQ2_K:
    case GgmlType::kQ3_K:
      type = GgmlType::kQ4_0;
      break;
    case GgmlType::kIQ4_XS:
      type = GgmlType::kIQ4_NL;
      break;
    default:
      break;
  }
  return fits(type) ? type : GgmlType::kF16;
}

}  // namespace

TypeScheme parse_type_scheme(const std::string& name) {
  const std::string n = lower(name);
  if (n == "q4_k_m") return {name, GgmlType::kQ4_K, true};
  if (n == "q5_k_m") return {name, GgmlType::kQ5_K, true};
  if (const WeightTypeInfo* t = find_weight_type_by_name(n)) return {name, t->type, false};
  throw std::invalid_argument("unknown --type '" + name + "' (choose q4_k_m, q5_k_m or one of " +
                              supported_weight_type_names() + ")");
}

bool scheme_converts(const std::string& name, const std::vector<std::uint64_t>& dims) {
  // llama.cpp: 2-D tensors named *weight, no norms
  return dims.size() == 2 && ends_with(name, "weight") && name.find("_norm.weight") == std::string::npos;
}

GgmlType scheme_tensor_type(const TypeScheme& scheme, const std::string& name, const std::vector<std::uint64_t>& dims,
                            GgmlType source, std::size_t n_layers, bool tied) {
  if (!scheme_converts(name, dims)) return source;
  GgmlType type = scheme.base;
  if (scheme.k_mix) {
    const bool output = name == "output.weight" || (tied && name == "token_embd.weight");
    const std::size_t layer = layer_of(name, n_layers);
    const bool more_bits = layer < n_layers && use_more_bits(layer, n_layers);
    if (output)
      type = dims[0] % 256 == 0 ? GgmlType::kQ6_K : GgmlType::kQ8_0;
    else if ((name.find("attn_v.weight") != std::string::npos || name.find("ffn_down") != std::string::npos) &&
             more_bits)
      type = GgmlType::kQ6_K;
  }
  return fit_rows(type, dims[0]);
}

std::uint32_t scheme_file_type(const TypeScheme& scheme) {
  if (scheme.k_mix) return scheme.base == GgmlType::kQ4_K ? 15 : 17;  // LLAMA_FTYPE_MOSTLY_Q4_K_M / Q5_K_M
  switch (scheme.base) {
    case GgmlType::kF32:
      return 0;
    case GgmlType::kF16:
      return 1;
    case GgmlType::kQ4_0:
      return 2;
    case GgmlType::kQ4_1:
      return 3;
    case GgmlType::kQ8_0:
      return 7;
    case GgmlType::kQ5_0:
      return 8;
    case GgmlType::kQ5_1:
      return 9;
    case GgmlType::kQ2_K:
      return 10;
    case GgmlType::kQ3_K:
      return 11;  // Q3_K_S
    case GgmlType::kQ4_K:
      return 14;  // Q4_K_S
    case GgmlType::kQ5_K:
      return 16;  // Q5_K_S
    case GgmlType::kQ6_K:
      return 18;
    case GgmlType::kIQ4_NL:
      return 25;
    case GgmlType::kIQ4_XS:
      return 30;
    case GgmlType::kBF16:
      return 32;
  }
  return 0;
}

}  // namespace veloxquant
