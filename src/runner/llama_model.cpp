#include "runner/llama_model.h"
#include "veloxquant/quantizer.h"

#include <cstdint>
#include <stdexcept>

namespace veloxquant {

namespace {

// A matrix tensor with ne = [cols, rows] (PyTorch's [rows, cols] weight).
WeightView matrix(const GgufFile& f, const std::string& name, std::size_t rows, std::size_t cols) {
  const GgufTensor& t = f.tensor(name);
  if (t.dims.size() != 2 || t.dims[0] != cols || t.dims[1] != rows)
    throw std::runtime_error("tensor '" + name + "' has shape [" + std::to_string(t.dims[0]) +
                             (t.dims.size() > 1 ? ", " + std::to_string(t.dims[1]) : std::string()) +
                             "], expected [" + std::to_string(cols) + ", " + std::to_string(rows) + "]");
  WeightView w;
  w.type = t.type;
  w.rows = rows;
  w.cols = cols;
  w.row_bytes = ggml_row_bytes(t.type, cols);
  w.data = t.data;
  if (t.type == GgmlType::kF32 && reinterpret_cast<std::uintptr_t>(t.data) % alignof(float) != 0)
    throw std::runtime_error("tensor '" + name + "' data is not 4-byte aligned");
  return w;
}

std::vector<float> vector_f32(const GgufFile& f, const std::string& name, std::size_t n) {
  const GgufTensor& t = f.tensor(name);
  if (t.dims.size() != 1 || t.dims[0] != n)
    throw std::runtime_error("tensor '" + name + "' must be a vector of " + std::to_string(n) + " elements");
  WeightView w{t.type, 1, n, ggml_row_bytes(t.type, n), t.data};
  std::vector<float> out(n);
  dequantize_row(w, 0, out.data());
  return out;
}

std::size_t positive(const GgufFile& f, const std::string& key, std::size_t limit) {
  const std::uint64_t v = f.get_uint(key);
  if (v == 0 || v > limit) throw std::runtime_error("metadata " + key + " = " + std::to_string(v) + " is out of range");
  return static_cast<std::size_t>(v);
}

}  // namespace

LlamaModel LlamaModel::load(const std::string& path) { return from_gguf(GgufFile::open(path)); }

LlamaModel LlamaModel::from_gguf(GgufFile file) {
  const std::string& arch = file.get_string("general.architecture");
  if (arch != "llama") throw std::runtime_error("unsupported architecture '" + arch + "' (only 'llama')");
  LlamaModel m;
  LlamaConfig& c = m.config_;
  constexpr std::size_t kLimit = std::size_t{1} << 24;
  c.dim = positive(file, "llama.embedding_length", kLimit);
  c.layers = positive(file, "llama.block_count", 4096);
  c.ffn = positive(file, "llama.feed_forward_length", kLimit);
  c.heads = positive(file, "llama.attention.head_count", 4096);
  c.kv_heads = file.has("llama.attention.head_count_kv") ? positive(file, "llama.attention.head_count_kv", 4096)
                                                          : c.heads;
  c.context = positive(file, "llama.context_length", kLimit);
  c.rope_base = file.get_float("llama.rope.freq_base", 10000.0);
  c.rms_eps = file.get_float("llama.attention.layer_norm_rms_epsilon", 1e-5);
  if (c.dim % c.heads != 0) throw std::runtime_error("embedding_length " + std::to_string(c.dim) +
                                                     " is not a multiple of head_count " + std::to_string(c.heads));
  if (c.heads % c.kv_heads != 0)
    throw std::runtime_error("head_count " + std::to_string(c.heads) + " is not a multiple of head_count_kv " +
                             std::to_string(c.kv_heads));
  c.head_dim = c.dim / c.heads;
  c.rope_dim = file.has("llama.rope.dimension_count") ? positive(file, "llama.rope.dimension_count", c.head_dim)
                                                       : c.head_dim;
  if (c.rope_dim % 2 != 0) throw std::runtime_error("rope dimension_count " + std::to_string(c.rope_dim) + " is odd");
  if (!(c.rope_base > 0.0) || !(c.rms_eps >= 0.0)) throw std::runtime_error("bad rope.freq_base or rms epsilon");

  const GgufTensor& emb = file.tensor("token_embd.weight");
  if (emb.dims.size() != 2) throw std::runtime_error("token_embd.weight must be 2-D");
  c.vocab = static_cast<std::size_t>(emb.dims[1]);
  if (file.has("llama.vocab_size") && file.get_uint("llama.vocab_size") != c.vocab)
    throw std::runtime_error("llama.vocab_size disagrees with token_embd.weight");
  m.token_embd_ = matrix(file, "token_embd.weight", c.vocab, c.dim);
  m.output_ = file.find_tensor("output.weight") ? matrix(file, "output.weight", c.vocab, c.dim) : m.token_embd_;
  m.output_norm_ = vector_f32(file, "output_norm.weight", c.dim);
  const std::size_t kv_dim = c.kv_heads * c.head_dim;
  for (std::size_t l = 0; l < c.layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    LlamaLayer L;
    L.attn_norm = vector_f32(file, p + "attn_norm.weight", c.dim);
    L.ffn_norm = vector_f32(file, p + "ffn_norm.weight", c.dim);
    L.wq = matrix(file, p + "attn_q.weight", c.dim, c.dim);
    L.wk = matrix(file, p + "attn_k.weight", kv_dim, c.dim);
    L.wv = matrix(file, p + "attn_v.weight", kv_dim, c.dim);
    L.wo = matrix(file, p + "attn_output.weight", c.dim, c.dim);
    L.w_gate = matrix(file, p + "ffn_gate.weight", c.ffn, c.dim);
    L.w_up = matrix(file, p + "ffn_up.weight", c.ffn, c.dim);
    L.w_down = matrix(file, p + "ffn_down.weight", c.dim, c.ffn);
    m.layers_.push_back(std::move(L));
  }
  m.file_ = std::move(file);
  return m;
}

LlamaModel::WeightBytes LlamaModel::quantize_weights(const std::string& format, std::uint64_t seed) {
  parse_format(format);  // a bad name fails before any work
  WeightBytes bytes;
  for (LlamaLayer& L : layers_)
    for (WeightView* w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down})
      quantize_matrix(*w, format, seed, bytes);
  const bool tied = output_.data == token_embd_.data;
  if (!tied) quantize_matrix(output_, format, seed, bytes);
  return bytes;
}

void LlamaModel::quantize_matrix(WeightView& w, const std::string& format, std::uint64_t seed, WeightBytes& bytes) {
  if (w.quantizer) throw std::runtime_error("weights are already quantized");
  // One quantizer per input width: matrices that read the same input share its rotation.
  const Quantizer* q = nullptr;
  for (const auto& existing : quantizers_)
    if (existing->dim() == w.cols) q = existing.get();
  if (!q) {
    quantizers_.push_back(make_quantizer(format, w.cols, seed));
    q = quantizers_.back().get();
  }
  std::vector<std::uint8_t>& rows = quantized_rows_.emplace_back(w.rows * q->code_size());
  std::vector<float> row(w.cols);
  for (std::size_t r = 0; r < w.rows; ++r) {
    dequantize_row(w, r, row.data());
    q->encode(1, row.data(), rows.data() + r * q->code_size());
  }
  bytes.before += w.rows * w.row_bytes;
  bytes.after += rows.size();
  bytes.count += w.rows * w.cols;
  w.data = rows.data();
  w.row_bytes = q->code_size();
  w.quantizer = q;
}

}  // namespace veloxquant
