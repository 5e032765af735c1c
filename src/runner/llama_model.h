// A Llama-family model read from GGUF (the architectures of runner/architecture.h; metadata keys
// as llama.cpp reads them). Weights are views into the memory-mapped file, fused tensors' parts
// included; nothing is copied. A quantized model file (.vqm, runner/model_file.h) loads into the
// same object.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "io/gguf.h"
#include "runner/architecture.h"
#include "runner/kv_store.h"
#include "runner/matmul.h"
#include "runner/weight_scheme.h"
#include "veloxquant/quantizer.h"

namespace veloxquant {

// Metadata keys are "<arch>.…" (llama.embedding_length, qwen2.embedding_length, …).
struct LlamaConfig {
  std::size_t vocab = 0;
  std::size_t dim = 0;                 // embedding_length
  std::size_t layers = 0;              // block_count
  std::size_t ffn = 0;                 // feed_forward_length
  std::size_t heads = 0;               // attention.head_count
  std::size_t kv_heads = 0;            // attention.head_count_kv (default: heads)
  std::size_t head_dim = 0;            // attention.key_length (default: dim / heads)
  std::size_t rope_dim = 0;            // rope.dimension_count (default: head_dim)
  std::size_t context = 0;             // context_length
  double rope_base = 10000.0;          // rope.freq_base
  double rope_freq_scale = 1.0;        // 1 / rope.scaling.factor for rope.scaling.type = linear
  double rms_eps = 1e-5;               // attention.layer_norm_rms_epsilon
  const Architecture* arch = nullptr;  // general.architecture
  float embedding_scale = 1.0f;        // √dim where the architecture scales embeddings
  float attn_softcap = 0.0f;           // attn_logit_softcapping (0: none)
  float final_softcap = 0.0f;          // final_logit_softcapping (0: none)
  float query_scale = 0.0f;            // softmax scale of the scores; 0: 1/√head_dim
  std::vector<std::size_t> windows;    // per layer: sliding window in tokens, 0 for a global layer; empty: all global
  double local_rope_base = 0.0;        // the sliding-window layers' rope base, unscaled (gemma3); 0: rope_base
  bool is_local(std::size_t layer) const { return !windows.empty() && windows[layer] != 0; }
  std::size_t q_dim() const { return heads * head_dim; }
  // What a KvStore for this model must do (runner/kv_store.h): shape, scale, soft-capping, windows.
  KvShape kv_shape() const;
};

// Biases and Q/K norms are empty where the file has none (runner/architecture.h says which).
struct LlamaLayer {
  std::vector<float> attn_norm, ffn_norm;
  std::vector<float> bq, bk, bv;                     // [q_dim], [kv_dim], [kv_dim]
  std::vector<float> q_norm, k_norm;                 // [head_dim], shared by the heads
  std::vector<float> post_attn_norm, post_ffn_norm;  // [dim], gemma2's norms of the block outputs
  WeightView wq, wk, wv, wo, w_gate, w_up, w_down;
};

// One quantized matrix as quantize_weights measured it (the compression report).
struct MatrixReport {
  std::string name;
  std::size_t rows = 0, cols = 0;
  GgmlType type_before = GgmlType::kF32;
  std::size_t bytes_before = 0, bytes_after = 0;
  double error_sq = 0.0, norm_sq = 0.0;  // ‖W − Ŵ‖², ‖W‖² (when measured)
};

class LlamaModel {
 public:
  // Reads a GGUF file or a quantized model file (.vqm, told apart by its magic); throws
  // std::runtime_error for other architectures, missing tensors or shapes that do not match the
  // metadata, FileFormatError / FileIoError for a bad .vqm.
  static LlamaModel load(const std::string& path);
  static LlamaModel from_gguf(GgufFile file);
  // The .vqm loader's constructor: tensors from `file`, except the matrices in `quantized`
  // (records of `quantizers`, kept alive by `file`'s storage), stored with `scheme` and `seed`.
  static LlamaModel from_parts(GgufFile file, const std::map<std::string, WeightView>& quantized,
                               std::vector<std::unique_ptr<Quantizer>> quantizers, const WeightScheme& scheme,
                               std::uint64_t seed);

  const LlamaConfig& config() const { return config_; }
  const GgufFile& file() const { return file_; }
  const WeightView& token_embedding() const { return token_embd_; }
  const WeightView& output() const { return output_; }  // token_embd when the output is tied
  const std::vector<float>& output_norm() const { return output_norm_; }
  // rope_freqs.weight: the divisor of each of the rope_dim / 2 frequencies; empty when absent.
  const std::vector<float>& rope_freqs() const { return rope_freqs_; }
  const std::vector<LlamaLayer>& layers() const { return layers_; }

  // The matrices quantize_weights stores as records: every layer matrix and an untied output,
  // by tensor name, in file order of a .vqm.
  std::vector<std::pair<std::string, const WeightView*>> matrices() const;
  bool weights_quantized() const { return !quantizers_.empty(); }
  const WeightScheme& weight_scheme() const { return scheme_; }
  std::uint64_t weight_seed() const { return seed_; }

  // Re-stores every layer matrix and an untied output matrix as records of `scheme` (e.g. "tq4":
  // per row a scale and TurboQuant codes of Π·w/‖w‖; "tq4:block=64": that per 64 columns), so
  // products run on the codes. Token embeddings stay as loaded. Returns the weight bytes before
  // and after; with `measure`, also each matrix's reconstruction error. With `moments` (input
  // second moments of every stored matrix, runner/calibration.h), the codes are chosen by GPTQ
  // (runner/gptq.h; tq formats and q4) in the same record format.
  struct WeightBytes {
    std::size_t before = 0, after = 0;  // bytes of the quantized matrices as loaded and as stored
    std::size_t count = 0;              // their number of weights
    std::vector<MatrixReport> matrices;
  };
  WeightBytes quantize_weights(const std::string& scheme, std::uint64_t seed, bool measure = false,
                               const std::map<std::string, std::vector<double>>* moments = nullptr);

 private:
  template <typename Model, typename View>
  static std::vector<std::pair<std::string, View*>> matrix_slots(Model& m);
  void quantize_matrix(const std::string& name, WeightView& w, std::uint64_t seed, bool measure,
                       const std::vector<double>* moment, WeightBytes& bytes);

  GgufFile file_;
  LlamaConfig config_;
  WeightView token_embd_, output_;
  std::vector<float> output_norm_, rope_freqs_;
  std::vector<LlamaLayer> layers_;
  WeightScheme scheme_;
  std::uint64_t seed_ = 0;
  std::vector<std::unique_ptr<Quantizer>> quantizers_;     // one per record width, for quantized weights
  std::vector<std::vector<std::uint8_t>> quantized_rows_;  // storage of quantized matrices
};

}  // namespace veloxquant
