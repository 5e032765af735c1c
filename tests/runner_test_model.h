// Test helper: the default tiny random Llama model as GGUF bytes, and its logits for a fixed
// prompt with an exact KV cache (the yardstick of the model-file and GPTQ round-trip tests).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "runner/kv_store.h"
#include "runner/llama_forward.h"
#include "runner/llama_model.h"
#include "runner_gguf_writer.h"
#include "util/thread_pool.h"

namespace veloxquant::testing {

inline std::vector<std::uint8_t> tiny_llama_gguf(std::uint64_t seed = 7) {
  std::vector<std::pair<std::string, std::vector<float>>> weights;
  return write_tiny_llama(TinyLlama{}, seed, weights);
}

// Logits of all 7 positions of a fixed prompt, [7][vocab].
inline std::vector<float> prompt_logits(const LlamaModel& model) {
  ThreadPool pool(2);
  const LlamaConfig& c = model.config();
  const std::int32_t tokens[] = {1, 5, 9, 2, 33, 17, 63};
  std::vector<float> out(7 * c.vocab);
  ExactKvStore store({c.layers, c.heads, c.kv_heads, c.head_dim}, pool);
  LlamaSession(model, store, pool).forward(tokens, 7, out.data(), true);
  return out;
}

}  // namespace veloxquant::testing
