// A Llama-family model read from GGUF (architecture `llama`, metadata keys as llama.cpp reads
// them). Weights are views into the memory-mapped file; nothing is copied.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "io/gguf.h"
#include "runner/matmul.h"
#include "veloxquant/quantizer.h"

namespace veloxquant {

struct LlamaConfig {
  std::size_t vocab = 0;
  std::size_t dim = 0;          // llama.embedding_length
  std::size_t layers = 0;       // llama.block_count
  std::size_t ffn = 0;          // llama.feed_forward_length
  std::size_t heads = 0;        // llama.attention.head_count
  std::size_t kv_heads = 0;     // llama.attention.head_count_kv (default: heads)
  std::size_t head_dim = 0;     // dim / heads
  std::size_t rope_dim = 0;     // llama.rope.dimension_count (default: head_dim)
  std::size_t context = 0;      // llama.context_length
  double rope_base = 10000.0;   // llama.rope.freq_base
  double rms_eps = 1e-5;        // llama.attention.layer_norm_rms_epsilon
};

struct LlamaLayer {
  std::vector<float> attn_norm, ffn_norm;
  WeightView wq, wk, wv, wo, w_gate, w_up, w_down;
};

class LlamaModel {
 public:
  // Reads a GGUF file; throws std::runtime_error for other architectures, missing tensors or
  // shapes that do not match the metadata.
  static LlamaModel load(const std::string& path);
  static LlamaModel from_gguf(GgufFile file);

  const LlamaConfig& config() const { return config_; }
  const GgufFile& file() const { return file_; }
  const WeightView& token_embedding() const { return token_embd_; }
  const WeightView& output() const { return output_; }  // token_embd when the output is tied
  const std::vector<float>& output_norm() const { return output_norm_; }
  const std::vector<LlamaLayer>& layers() const { return layers_; }

  // Re-stores every layer matrix and an untied output matrix as records of `format` (e.g. "tq4":
  // per row a scale and TurboQuant codes of Π·w/‖w‖), so products run on the codes. Token
  // embeddings stay as loaded. Returns the weight bytes before and after.
  struct WeightBytes {
    std::size_t before = 0, after = 0;  // bytes of the quantized matrices as loaded and as stored
    std::size_t count = 0;              // their number of weights
  };
  WeightBytes quantize_weights(const std::string& format, std::uint64_t seed);

 private:
  void quantize_matrix(WeightView& w, const std::string& format, std::uint64_t seed, WeightBytes& bytes);

  GgufFile file_;
  LlamaConfig config_;
  WeightView token_embd_, output_;
  std::vector<float> output_norm_;
  std::vector<LlamaLayer> layers_;
  std::vector<std::unique_ptr<Quantizer>> quantizers_;      // one per input width, for quantized weights
  std::vector<std::vector<std::uint8_t>> quantized_rows_;   // storage of quantized matrices
};

}  // namespace veloxquant
