// The quantized model file (.vqm, docs/file_formats.md): a model whose matrices are stored as the
// runner's quantized records, so loading is a validated mapping of the file, not a re-quantization.
//
//   file    = header section*
//   header  = magic[8] "VQMODEL\0" | u32 version | u32 section_count | u64 file_bytes | u32 flags (0)
//             | u32 crc32 of the preceding 28 bytes                                   (32 bytes)
//   section = u32 tag | u32 pad | u64 payload_bytes | pad zero bytes | payload | u32 crc32 of tag..payload
// pad (< 64) puts every payload at a multiple of 64 bytes in the file. Sections, in order: QDIR
// (weight scheme, seed, quantizers, matrices), GGUF (a GGUF v3 image of the metadata, tokenizer and
// unquantized tensors), then one QMAT per matrix of QDIR (its records, block-major as in WeightView).
// All integers little-endian; strings are u32 length + bytes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runner/llama_model.h"

namespace veloxquant {

inline constexpr std::uint32_t kModelFileVersion = 1;

// Writes a model whose weights are quantized (throws std::invalid_argument otherwise). The save
// goes to a temporary file in the same directory, is fsync'ed and renamed over `path`.
void save_quantized_model(const LlamaModel& model, const std::string& path);
std::vector<std::uint8_t> serialize_quantized_model(const LlamaModel& model);

// Reads a .vqm. Every size is checked against the file and for overflow before anything is
// allocated, every section's CRC is checked; throws FileFormatError (bad contents, another
// version: the message names both versions) or FileIoError naming the file.
LlamaModel load_quantized_model(const std::string& path);
LlamaModel parse_quantized_model(std::vector<std::uint8_t> image);

// True when the file starts with the .vqm magic.
bool is_quantized_model_file(const std::string& path);

}  // namespace veloxquant
