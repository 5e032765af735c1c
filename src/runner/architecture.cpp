#include "runner/architecture.h"

#include <stdexcept>

namespace veloxquant {

const std::vector<Architecture>& architectures() {
  // As llama.cpp builds them (llama-model.cpp): llama's attention biases are optional there, as
  // its rope_freqs; qwen2's biases are required, qwen3's and gemma3's Q/K norms are; phi3 stores
  // Q/K/V and gate/up fused.
  static const std::vector<Architecture> table = {
      {"llama", RopeKind::kAdjacentPairs, Need::kOptional, Need::kAbsent, Need::kOptional},
      {"qwen2", RopeKind::kNeoxHalves, Need::kRequired, Need::kAbsent, Need::kAbsent},
      {"qwen3", RopeKind::kNeoxHalves, Need::kAbsent, Need::kRequired, Need::kAbsent},
      {"phi3", RopeKind::kNeoxHalves, Need::kAbsent, Need::kAbsent, Need::kAbsent, true, true},
      // llama-model.cpp's gemma2: output tied, GeGLU, √dim embeddings, post-norms, caps 50 / 30,
      // even layers local with a 4096-token window, the 46-layer 27B's query scale.
      {"gemma2", RopeKind::kNeoxHalves, Need::kAbsent, Need::kAbsent, Need::kAbsent, false, false, Need::kAbsent,
       Activation::kGeluTanh, true, true, 50.0f, 30.0f, 2, 4096, 46},
      // gemma3: gemma2's block with per-head Q/K norms and no soft-capping, the output optional;
      // five local layers to one global, the local ones with rope base 10000 and no scaling;
      // the 62-layer 27B's query scale.
      {"gemma3", RopeKind::kNeoxHalves, Need::kAbsent, Need::kRequired, Need::kAbsent, false, false, Need::kOptional,
       Activation::kGeluTanh, true, true, 0.0f, 0.0f, 6, 0, 62, 10000.0},
  };
  return table;
}

const Architecture& find_architecture(const std::string& name) {
  std::string known;
  for (const Architecture& a : architectures()) {
    if (a.name == name) return a;
    known += (known.empty() ? "'" : ", '") + a.name + "'";
  }
  throw std::runtime_error("unsupported architecture '" + name + "' (supported: " + known + ")");
}

}  // namespace veloxquant
