// Converting GGUF models between weight types (`veloxquant convert`) and writing synthetic models
// (llama, qwen2, qwen3, phi3, gemma2, gemma3) with random weights of any type (tests, benchmarks
// of real models' shapes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "io/gguf.h"
#include "runner/thread_pool.h"
#include "weights/type_scheme.h"

namespace veloxquant {

struct ConvertStats {
  std::size_t tensors = 0, converted = 0;           // all tensors, those whose type changed
  std::uint64_t matrix_weights = 0;                 // weights of the tensors the scheme chooses a type for
  std::uint64_t bytes_before = 0, bytes_after = 0;  // tensor data, all tensors
  std::uint64_t matrix_bytes_after = 0;
  std::map<std::string, std::size_t> types_after;  // tensor count per type name
  double bits_per_weight() const { return matrix_weights ? 8.0 * matrix_bytes_after / matrix_weights : 0.0; }
};

// Called before each tensor: its index, the count, name, and the types before and after.
using ConvertProgress = std::function<void(std::size_t, std::size_t, const std::string&, GgmlType, GgmlType)>;

// Writes `in` converted by `scheme` to out_path (atomically): matrices are dequantized row by row
// (rows split over the pool) and quantized to their new type, everything else is copied; the
// metadata is kept, with general.file_type and general.quantization_version set. Throws
// std::runtime_error naming the tensor when a source value is NaN or infinite.
ConvertStats convert_gguf(const GgufFile& in, const std::string& out_path, const TypeScheme& scheme, ThreadPool& pool,
                          const ConvertProgress& progress = {});

// The shape of a synthetic model: "dim=2048,layers=16,heads=32,kv_heads=8,ffn=8192,
// vocab=32000[,context=2048][,tied=1][,arch=qwen3][,head_dim=128][,rope_base=500000]
// [,rope_scaling=llama3]" (arch: a name of runner/architecture.h, default llama; head_dim: default
// dim / heads, written as attention.key_length when it differs; rope_base default 10000;
// rope_scaling=llama3: Llama 3.1's rope_freqs tensor, as llama.cpp's converter writes it for
// factor 8, low/high frequency factors 1 and 4, original context 8192; window, attn_softcap,
// final_softcap: gemma2's attention.sliding_window and soft-capping values, default 4096, 50, 30;
// gemma3 writes no window unless one is given; rope_linear=F: rope.scaling.type linear, factor F).
struct SyntheticShape {
  std::size_t dim = 0, layers = 0, heads = 0, kv_heads = 0, ffn = 0, vocab = 0, context = 2048;
  std::size_t head_dim = 0, rope_base = 10000;
  // Written for architectures that have them (gemma2); 0: the architecture's default.
  std::size_t window = 0, attn_softcap = 0, final_softcap = 0;
  std::size_t rope_linear = 0;  // rope.scaling.factor of a linear scaling; 0: none
  bool tied = false, llama3_rope = false;
  std::string arch = "llama";
};

// Llama 3.1's rope divisors for rope_dim / 2 frequencies of `base` (convert_hf_to_gguf.py's
// rope_freqs for rope_type llama3: 1 for wavelengths under 8192 / 4, 8 over 8192, a smooth blend
// between).
std::vector<float> llama3_rope_freqs(double base, std::size_t rope_dim);
SyntheticShape parse_synthetic_shape(const std::string& text);  // throws std::invalid_argument

// Writes a model of `shape` with Gaussian weights (matrices scaled by 1/√cols, norm weights near
// 1, biases near 0; deterministic for a seed) in `scheme`'s types, the tensors its architecture
// requires (qwen2's Q/K/V biases, qwen3's and gemma3's Q/K norms, phi3's fused attn_qkv and gate/up, the
// gemmas' post-norms; gemma2 tied) and the tokenizer of `tokenizer_source` padded with unused tokens to the vocabulary
// (it must not have more tokens than that).
ConvertStats write_synthetic_model(const std::string& out_path, const SyntheticShape& shape,
                                   const GgufFile& tokenizer_source, const TypeScheme& scheme, std::uint64_t seed,
                                   ThreadPool& pool, const ConvertProgress& progress = {});

}  // namespace veloxquant
