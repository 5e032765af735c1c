// Model files for the llama.cpp parity tests and the runner-vs-llama.cpp benchmark, written with
// the project's GGUF writer (src/io/gguf_write.h):
//   convert_model      a GGUF with its matrices stored as another ggml type (f32, f16, q8_0);
//                      the parity tests' conversion step (the weight types of issue 16 plug in
//                      here, or this is switched to `veloxquant convert`)
//   write_synthetic    a Llama of a chosen shape with random weights (e.g. Llama-3.2-1B's), the
//                      tokenizer of another GGUF padded with unused tokens to the vocabulary
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace veloxquant::reference {

// The weight types the converter writes, by the names the tests and the tool use.
const std::vector<std::string>& convertible_types();

struct ConvertOptions {
  std::optional<std::uint64_t> context_length;  // replaces llama.context_length
};

// Writes `in` to `out` with every 2-D tensor whose rows are whole blocks of `type` stored as
// `type` (rounded as ggml's reference quantizers do; q8_0: scale = max|x|/127, q = round(x/scale));
// 1-D tensors (norms) and all metadata stay, general.file_type follows the type. Throws
// std::invalid_argument naming an unknown type, std::runtime_error for a bad input file.
void convert_model(const std::string& in, const std::string& out, const std::string& type,
                   const ConvertOptions& options = {});

struct SyntheticShape {
  std::size_t dim = 2048, layers = 16, heads = 32, kv_heads = 8, ffn = 8192, vocab = 32000;
  std::size_t context = 8192;
  double rope_base = 500000.0, rms_eps = 1e-5;
};

// A random-weight Llama of `shape` with matrices of `type`, its tokenizer taken from
// `tokenizer_from` (a llama GGUF with at most shape.vocab tokens), written to `out`.
void write_synthetic(const std::string& out, const SyntheticShape& shape, const std::string& type,
                     const std::string& tokenizer_from, std::uint64_t seed);

}  // namespace veloxquant::reference
