// A GGUF tensor's shape as PyTorch prints it (rows x cols): GGUF lists ne[0] (columns) first.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace veloxquant::cli {

inline std::string tensor_shape_text(const std::vector<std::uint64_t>& dims) {
  std::string s;
  for (auto it = dims.rbegin(); it != dims.rend(); ++it) s.append(s.empty() ? "" : "x").append(std::to_string(*it));
  return s;
}

}  // namespace veloxquant::cli
