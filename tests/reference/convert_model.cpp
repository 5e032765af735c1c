#include "reference/convert_model.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <stdexcept>

#include "io/gguf.h"
#include "io/gguf_write.h"
#include "math/prng.h"
#include "runner/matmul.h"
#include "util/half.h"

namespace veloxquant::reference {

namespace {

struct TypeInfo {
  std::string name;
  GgmlType type;
  std::uint64_t file_type;  // general.file_type (llama.cpp's LLAMA_FTYPE_*)
};

const std::vector<TypeInfo>& type_table() {
  static const std::vector<TypeInfo> table = {
      {"f32", GgmlType::kF32, 0}, {"f16", GgmlType::kF16, 1}, {"q8_0", GgmlType::kQ8_0, 7}};
  return table;
}

const TypeInfo& type_info(const std::string& name) {
  for (const TypeInfo& t : type_table())
    if (t.name == name) return t;
  std::string known;
  for (const TypeInfo& t : type_table()) known += " " + t.name;
  throw std::invalid_argument("weight type '" + name + "' is not one the converter writes (" + known.substr(1) + ")");
}

// ggml's quantize_row_q8_0_ref: per block of 32, d = max|x| / 127, q = round(x / d) (halves away
// from zero), d stored as fp16.
void encode_q8_0(const float* x, std::size_t n, std::uint8_t* out) {
  for (std::size_t b = 0; b < n / 32; ++b) {
    const float* xb = x + 32 * b;
    float amax = 0.0f;
    for (std::size_t i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(xb[i]));
    const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    std::uint8_t* block = out + 34 * b;
    store_u16(block, float_to_half(d));
    for (std::size_t i = 0; i < 32; ++i)
      block[2 + i] = static_cast<std::uint8_t>(static_cast<std::int8_t>(std::round(xb[i] * id)));
  }
}

std::vector<std::uint8_t> encode(GgmlType type, const std::vector<float>& x) {
  std::vector<std::uint8_t> out(ggml_row_bytes(type, x.size()));
  switch (type) {
    case GgmlType::kF32:
      std::copy_n(reinterpret_cast<const std::uint8_t*>(x.data()), out.size(), out.data());
      break;
    case GgmlType::kF16:
      for (std::size_t i = 0; i < x.size(); ++i) store_u16(out.data() + 2 * i, float_to_half(x[i]));
      break;
    case GgmlType::kBF16:
      for (std::size_t i = 0; i < x.size(); ++i) store_u16(out.data() + 2 * i, float_to_bf16(x[i]));
      break;
    case GgmlType::kQ8_0:
      encode_q8_0(x.data(), x.size(), out.data());
      break;
    default:  // the other types: veloxquant convert (src/weights/model_convert.h)
      throw std::invalid_argument(std::string("convert_model: no encoder for ") + ggml_type_name(type));
  }
  return out;
}

// Whether each row of `cols` elements is whole blocks of `type`.
bool fits(GgmlType type, std::uint64_t cols) {
  try {
    (void)ggml_row_bytes(type, cols);
    return true;
  } catch (const std::invalid_argument&) {
    return false;
  }
}

std::vector<float> decode(const GgufTensor& t) {
  const std::size_t cols = t.dims[0], rows = t.elements() / cols;
  const WeightView w{t.type, rows, cols, ggml_row_bytes(t.type, cols), t.data, nullptr};
  std::vector<float> x(t.elements());
  for (std::size_t r = 0; r < rows; ++r) dequantize_row(w, r, x.data() + r * cols);
  return x;
}

GgufValue uint32_value(std::uint64_t v) {
  GgufValue value;
  value.type = GgufType::kUint32;
  value.scalar = v;
  return value;
}

void write_file(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) throw std::runtime_error("cannot write '" + path + "'");
}

// Writes metadata and tensors (encoded in `storage`, which the tensor list points into).
void write_model(const std::string& out, std::map<std::string, GgufValue> metadata,
                 const std::vector<GgufTensorOut>& tensors) {
  const std::size_t alignment = 32;
  metadata["general.alignment"] = uint32_value(alignment);
  write_file(out, write_gguf(metadata, tensors, alignment));
}

}  // namespace

const std::vector<std::string>& convertible_types() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const TypeInfo& t : type_table()) n.push_back(t.name);
    return n;
  }();
  return names;
}

void convert_model(const std::string& in, const std::string& out, const std::string& type,
                   const ConvertOptions& options) {
  const TypeInfo& target = type_info(type);
  const GgufFile file = GgufFile::open(in);
  std::map<std::string, GgufValue> metadata = file.metadata();
  metadata["general.file_type"] = uint32_value(target.file_type);
  if (options.context_length) metadata["llama.context_length"] = uint32_value(*options.context_length);
  std::vector<std::vector<std::uint8_t>> storage;
  std::vector<GgufTensorOut> tensors;
  storage.reserve(file.tensors().size());
  for (const GgufTensor& t : file.tensors()) {
    const bool convert = t.dims.size() == 2 && t.type != target.type && fits(target.type, t.dims[0]);
    if (convert) storage.push_back(encode(target.type, decode(t)));
    const std::uint8_t* data = convert ? storage.back().data() : t.data;
    const std::size_t bytes = convert ? storage.back().size() : t.bytes;
    tensors.push_back({t.name, t.dims, convert ? target.type : t.type, data, bytes});
  }
  write_model(out, std::move(metadata), tensors);
}

void write_synthetic(const std::string& out, const SyntheticShape& s, const std::string& type,
                     const std::string& tokenizer_from, std::uint64_t seed) {
  const TypeInfo& target = type_info(type);
  if (s.heads == 0 || s.kv_heads == 0 || s.dim % s.heads != 0 || s.heads % s.kv_heads != 0)
    throw std::invalid_argument("synthetic model: heads must divide dim and kv_heads must divide heads");
  const GgufFile source = GgufFile::open(tokenizer_from);
  std::map<std::string, GgufValue> metadata;
  for (const auto& [key, value] : source.metadata())
    if (key.rfind("tokenizer.", 0) == 0) metadata[key] = value;
  GgufValue& tokens = metadata.at("tokenizer.ggml.tokens");
  GgufValue& scores = metadata.at("tokenizer.ggml.scores");
  GgufValue& types = metadata.at("tokenizer.ggml.token_type");
  if (tokens.strings.size() > s.vocab)
    throw std::invalid_argument("synthetic model: the tokenizer has more tokens than the vocabulary");
  while (tokens.strings.size() < s.vocab) {  // unused tokens (type 5), never produced by encoding
    tokens.strings.push_back("<unused_" + std::to_string(tokens.strings.size()) + ">");
    scores.numbers.push_back(-1e4);
    types.numbers.push_back(5);
  }
  GgufValue text;
  text.type = GgufType::kString;
  text.scalar = std::string("llama");
  metadata["general.architecture"] = text;
  text.scalar = std::string("veloxquant synthetic llama (random weights)");
  metadata["general.name"] = text;
  metadata["general.file_type"] = uint32_value(target.file_type);
  const std::size_t head_dim = s.dim / s.heads, kv = s.kv_heads * head_dim;
  metadata["llama.context_length"] = uint32_value(s.context);
  metadata["llama.embedding_length"] = uint32_value(s.dim);
  metadata["llama.block_count"] = uint32_value(s.layers);
  metadata["llama.feed_forward_length"] = uint32_value(s.ffn);
  metadata["llama.attention.head_count"] = uint32_value(s.heads);
  metadata["llama.attention.head_count_kv"] = uint32_value(s.kv_heads);
  metadata["llama.rope.dimension_count"] = uint32_value(head_dim);
  metadata["llama.vocab_size"] = uint32_value(s.vocab);
  GgufValue number;
  number.type = GgufType::kFloat32;
  number.scalar = s.rope_base;
  metadata["llama.rope.freq_base"] = number;
  number.scalar = s.rms_eps;
  metadata["llama.attention.layer_norm_rms_epsilon"] = number;

  SplitMix64 rng(seed);
  std::vector<std::vector<std::uint8_t>> storage;
  std::vector<GgufTensorOut> tensors;
  storage.reserve(2 + 9 * s.layers + 2);
  // Matrices N(0, 1/cols) (so activations keep their scale), norms 1, the embedding N(0, 1).
  auto add = [&](const std::string& name, std::size_t rows, std::size_t cols, bool norm) {
    std::vector<float> x(rows * cols, 1.0f);
    const float scale = name == "token_embd.weight" ? 1.0f : 1.0f / std::sqrt(static_cast<float>(cols));
    if (!norm)
      for (float& v : x) v = scale * static_cast<float>(rng.normal());
    const GgmlType t = norm ? GgmlType::kF32 : target.type;
    storage.push_back(encode(t, x));
    tensors.push_back({name, rows == 1 ? std::vector<std::uint64_t>{cols} : std::vector<std::uint64_t>{cols, rows}, t,
                       storage.back().data(), storage.back().size()});
  };
  add("token_embd.weight", s.vocab, s.dim, false);
  for (std::size_t l = 0; l < s.layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    add(p + "attn_norm.weight", 1, s.dim, true);
    add(p + "attn_q.weight", s.dim, s.dim, false);
    add(p + "attn_k.weight", kv, s.dim, false);
    add(p + "attn_v.weight", kv, s.dim, false);
    add(p + "attn_output.weight", s.dim, s.dim, false);
    add(p + "ffn_norm.weight", 1, s.dim, true);
    add(p + "ffn_gate.weight", s.ffn, s.dim, false);
    add(p + "ffn_up.weight", s.ffn, s.dim, false);
    add(p + "ffn_down.weight", s.dim, s.ffn, false);
  }
  add("output_norm.weight", 1, s.dim, true);
  add("output.weight", s.vocab, s.dim, false);
  write_model(out, std::move(metadata), tensors);
}

}  // namespace veloxquant::reference
