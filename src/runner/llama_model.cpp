#include "runner/llama_model.h"
#include "runner/gptq.h"
#include "runner/model_file.h"
#include "veloxquant/format.h"
#include "veloxquant/quantizer.h"

#include <cmath>
#include <cstdint>
#include <stdexcept>

namespace veloxquant {

namespace {

using Quantized = std::map<std::string, WeightView>;

// A matrix tensor with ne = [cols, rows] (PyTorch's [rows, cols] weight), or its quantized
// records when `quantized` holds it.
WeightView matrix(const GgufFile& f, const Quantized& quantized, const std::string& name, std::size_t rows,
                  std::size_t cols) {
  if (auto it = quantized.find(name); it != quantized.end()) {
    if (it->second.rows != rows || it->second.cols != cols)
      throw std::runtime_error("quantized matrix '" + name + "' is " + std::to_string(it->second.rows) + " x " +
                               std::to_string(it->second.cols) + ", expected " + std::to_string(rows) + " x " +
                               std::to_string(cols));
    return it->second;
  }
  const GgufTensor& t = f.tensor(name);
  if (t.dims.size() != 2 || t.dims[0] != cols || t.dims[1] != rows)
    throw std::runtime_error("tensor '" + name + "' has shape [" + std::to_string(t.dims[0]) +
                             (t.dims.size() > 1 ? ", " + std::to_string(t.dims[1]) : std::string()) + "], expected [" +
                             std::to_string(cols) + ", " + std::to_string(rows) + "]");
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

// Rows [first, first + n) of a matrix as a view of its own: a part of a fused tensor, no copy.
// Quantizer records are stored block-major (model_file.h), so a row range of them is not a matrix.
WeightView row_range(const WeightView& w, const std::string& name, std::size_t first, std::size_t n) {
  if (w.quantizer)
    throw std::runtime_error("fused tensor '" + name + "' is stored as quantizer records; its parts cannot be read");
  WeightView part = w;
  part.rows = n;
  part.data = w.data + first * w.row_bytes;
  return part;
}

// A tensor the architecture lays out otherwise: loading would ignore it, so the file is refused.
void refuse(const GgufFile& f, const Quantized& quantized, const std::string& arch, const std::string& name) {
  if (f.find_tensor(name) || quantized.count(name))
    throw std::runtime_error("tensor '" + name + "' is not part of architecture '" + arch + "'");
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

// A vector the architecture needs (kRequired: missing is an error), may have (kOptional: empty
// when missing) or must not have (kAbsent: present is an error, since it would be ignored).
std::vector<float> optional_vector(const GgufFile& f, const std::string& arch, Need need, const std::string& name,
                                   std::size_t n) {
  const bool present = f.find_tensor(name) != nullptr;
  if (need == Need::kRequired && !present)
    throw std::runtime_error("tensor '" + name + "' is missing (architecture '" + arch + "' requires it)");
  if (need == Need::kAbsent && present)
    throw std::runtime_error("tensor '" + name + "' is not part of architecture '" + arch + "'");
  return present ? vector_f32(f, name, n) : std::vector<float>{};
}

std::size_t positive(const GgufFile& f, const std::string& key, std::size_t limit) {
  const std::uint64_t v = f.get_uint(key);
  if (v == 0 || v > limit) throw std::runtime_error("metadata " + key + " = " + std::to_string(v) + " is out of range");
  return static_cast<std::size_t>(v);
}

// Positions are multiplied by 1 / rope.scaling.factor (or the older rope.scale_linear) whatever
// rope.scaling.type says, as llama.cpp does; the types that need more than that (yarn, longrope)
// are refused by name.
double rope_freq_scale(const GgufFile& f, const std::string& k) {
  const std::string type = f.has(k + "rope.scaling.type") ? f.get_string(k + "rope.scaling.type") : "none";
  if (type != "none" && type != "linear")
    throw std::runtime_error("metadata " + k + "rope.scaling.type = '" + type + "' is not supported (none, linear)");
  const double factor = f.get_float(k + "rope.scaling.factor", f.get_float(k + "rope.scale_linear", 0.0));
  if (factor == 0.0) return 1.0;  // llama.cpp's "not set"
  if (!(factor > 0.0) || !std::isfinite(factor))
    throw std::runtime_error("metadata " + k + "rope.scaling.factor = " + std::to_string(factor) + " is not positive");
  return 1.0 / factor;
}

float positive_float(const GgufFile& f, const std::string& key, float fallback) {
  const double v = f.get_float(key, fallback);
  if (!(v > 0.0) || !std::isfinite(v))
    throw std::runtime_error("metadata " + key + " = " + std::to_string(v) + " is not positive");
  return static_cast<float>(v);
}

// The parts of the architecture's row that come with metadata: embedding scale, soft-capping,
// query scale and sliding-window layers, as llama.cpp's loader reads them.
void read_attention_keys(const GgufFile& f, const Architecture& a, LlamaConfig& c) {
  const std::string k = a.name + ".";
  if (a.embedding_scaled) c.embedding_scale = std::sqrt(static_cast<float>(c.dim));
  if (a.attn_softcap != 0.0f) c.attn_softcap = positive_float(f, k + "attn_logit_softcapping", a.attn_softcap);
  if (a.final_softcap != 0.0f) c.final_softcap = positive_float(f, k + "final_logit_softcapping", a.final_softcap);
  if (a.dim_scaled_queries_at_layers != 0 && c.layers == a.dim_scaled_queries_at_layers) {
    const std::size_t per_head = c.dim / c.heads;  // an integer quotient, as llama.cpp computes it
    c.query_scale = 1.0f / std::sqrt(static_cast<float>(per_head));
  }
  // The local layers' own rope base: the architecture's (gemma3's); any other is not done here.
  if (a.swa_rope_base == 0.0 && f.has(k + "rope.freq_base_swa") && f.get_float(k + "rope.freq_base_swa") != c.rope_base)
    throw std::runtime_error("metadata " + k + "rope.freq_base_swa differs from rope.freq_base (not supported)");
  if (a.swa_pattern == 0) return;
  const std::size_t window = f.has(k + "attention.sliding_window")
                                 ? positive(f, k + "attention.sliding_window", std::size_t{1} << 24)
                                 : a.sliding_window;
  if (window == 0) return;  // gemma3 without the key: every layer global
  c.local_rope_base = a.swa_rope_base;
  const std::size_t pattern = f.has(k + "attention.sliding_window_pattern")
                                  ? static_cast<std::size_t>(f.get_uint(k + "attention.sliding_window_pattern"))
                                  : a.swa_pattern;
  for (std::size_t l = 0; l < c.layers; ++l)
    c.windows.push_back(pattern == 0 || l % pattern < pattern - 1 ? window : 0);
}

// The sizes, rope and attention keys of the file's metadata, and the vocabulary.
LlamaConfig read_config(const GgufFile& file, const Architecture& a) {
  LlamaConfig c;
  c.arch = &a;
  const std::string k = a.name + ".";  // the prefix of the architecture's metadata keys
  constexpr std::size_t kLimit = std::size_t{1} << 24;
  c.dim = positive(file, k + "embedding_length", kLimit);
  c.layers = positive(file, k + "block_count", 4096);
  c.ffn = positive(file, k + "feed_forward_length", kLimit);
  c.heads = positive(file, k + "attention.head_count", 4096);
  c.kv_heads = file.has(k + "attention.head_count_kv") ? positive(file, k + "attention.head_count_kv", 4096) : c.heads;
  c.context = positive(file, k + "context_length", kLimit);
  c.rope_base = file.get_float(k + "rope.freq_base", 10000.0);
  c.rms_eps = file.get_float(k + "attention.layer_norm_rms_epsilon", 1e-5);
  if (c.heads % c.kv_heads != 0)
    throw std::runtime_error("head_count " + std::to_string(c.heads) + " is not a multiple of head_count_kv " +
                             std::to_string(c.kv_heads));
  if (file.has(k + "attention.key_length")) {
    c.head_dim = positive(file, k + "attention.key_length", kLimit);
    const std::size_t value_length =
        file.has(k + "attention.value_length") ? positive(file, k + "attention.value_length", kLimit) : c.head_dim;
    if (value_length != c.head_dim)
      throw std::runtime_error(k + "attention.value_length " + std::to_string(value_length) +
                               " differs from key_length " + std::to_string(c.head_dim) + " (not supported)");
  } else {
    if (c.dim % c.heads != 0)
      throw std::runtime_error("embedding_length " + std::to_string(c.dim) + " is not a multiple of head_count " +
                               std::to_string(c.heads));
    c.head_dim = c.dim / c.heads;
  }
  c.rope_dim =
      file.has(k + "rope.dimension_count") ? positive(file, k + "rope.dimension_count", c.head_dim) : c.head_dim;
  if (c.rope_dim % 2 != 0) throw std::runtime_error("rope dimension_count " + std::to_string(c.rope_dim) + " is odd");
  if (!(c.rope_base > 0.0) || !(c.rms_eps >= 0.0)) throw std::runtime_error("bad rope.freq_base or rms epsilon");
  c.rope_freq_scale = rope_freq_scale(file, k);
  read_attention_keys(file, a, c);
  const GgufTensor& emb = file.tensor("token_embd.weight");  // the vocabulary is its row count
  if (emb.dims.size() != 2) throw std::runtime_error("token_embd.weight must be 2-D");
  c.vocab = static_cast<std::size_t>(emb.dims[1]);
  if (file.has(k + "vocab_size") && file.get_uint(k + "vocab_size") != c.vocab)
    throw std::runtime_error(k + "vocab_size disagrees with token_embd.weight");
  return c;
}

// Layer l's tensors, in the architecture's layout (fused tensors as row views).
LlamaLayer load_layer(const GgufFile& file, const Quantized& quantized, const LlamaConfig& c, std::size_t l) {
  const Architecture& a = *c.arch;
  const std::size_t q_dim = c.q_dim(), kv_dim = c.kv_heads * c.head_dim;
  const std::string p = "blk." + std::to_string(l) + ".";
  LlamaLayer L;
  L.attn_norm = vector_f32(file, p + "attn_norm.weight", c.dim);
  L.ffn_norm = vector_f32(file, p + "ffn_norm.weight", c.dim);
  if (a.fused_qkv) {
    for (const char* part : {"attn_q.weight", "attn_k.weight", "attn_v.weight"})
      refuse(file, quantized, a.name, p + part);
    const std::string name = p + "attn_qkv.weight";
    const WeightView qkv = matrix(file, quantized, name, q_dim + 2 * kv_dim, c.dim);
    L.wq = row_range(qkv, name, 0, q_dim);
    L.wk = row_range(qkv, name, q_dim, kv_dim);
    L.wv = row_range(qkv, name, q_dim + kv_dim, kv_dim);
  } else {
    refuse(file, quantized, a.name, p + "attn_qkv.weight");
    L.wq = matrix(file, quantized, p + "attn_q.weight", q_dim, c.dim);
    L.wk = matrix(file, quantized, p + "attn_k.weight", kv_dim, c.dim);
    L.wv = matrix(file, quantized, p + "attn_v.weight", kv_dim, c.dim);
  }
  L.wo = matrix(file, quantized, p + "attn_output.weight", c.dim, q_dim);
  if (a.fused_gate_up) {
    refuse(file, quantized, a.name, p + "ffn_gate.weight");
    const std::string name = p + "ffn_up.weight";
    const WeightView gate_up = matrix(file, quantized, name, 2 * c.ffn, c.dim);
    L.w_gate = row_range(gate_up, name, 0, c.ffn);
    L.w_up = row_range(gate_up, name, c.ffn, c.ffn);
  } else {
    L.w_gate = matrix(file, quantized, p + "ffn_gate.weight", c.ffn, c.dim);
    L.w_up = matrix(file, quantized, p + "ffn_up.weight", c.ffn, c.dim);
  }
  L.w_down = matrix(file, quantized, p + "ffn_down.weight", c.dim, c.ffn);
  L.bq = optional_vector(file, a.name, a.qkv_bias, p + "attn_q.bias", q_dim);
  L.bk = optional_vector(file, a.name, a.qkv_bias, p + "attn_k.bias", kv_dim);
  L.bv = optional_vector(file, a.name, a.qkv_bias, p + "attn_v.bias", kv_dim);
  // The three biases come together: a file with some of them is broken, not a variant.
  if (L.bq.empty() != L.bk.empty() || L.bq.empty() != L.bv.empty())
    throw std::runtime_error("layer " + std::to_string(l) + " has some of attn_q/k/v.bias but not all three");
  const Need post = a.post_norms ? Need::kRequired : Need::kAbsent;
  L.post_attn_norm = optional_vector(file, a.name, post, p + "post_attention_norm.weight", c.dim);
  L.post_ffn_norm = optional_vector(file, a.name, post, p + "post_ffw_norm.weight", c.dim);
  L.q_norm = optional_vector(file, a.name, a.qk_norm, p + "attn_q_norm.weight", c.head_dim);
  L.k_norm = optional_vector(file, a.name, a.qk_norm, p + "attn_k_norm.weight", c.head_dim);
  return L;
}

}  // namespace

KvShape LlamaConfig::kv_shape() const {
  return {layers, heads, kv_heads, head_dim, query_scale, attn_softcap, windows};
}

LlamaModel LlamaModel::load(const std::string& path) {
  if (is_quantized_model_file(path)) return load_quantized_model(path);
  return from_gguf(GgufFile::open(path));
}

LlamaModel LlamaModel::from_gguf(GgufFile file) { return from_parts(std::move(file), {}, {}, {}, 0); }

LlamaModel LlamaModel::from_parts(GgufFile file, const Quantized& quantized,
                                  std::vector<std::unique_ptr<Quantizer>> quantizers, const WeightScheme& scheme,
                                  std::uint64_t seed) {
  const Architecture& a = find_architecture(file.get_string("general.architecture"));
  const std::string k = a.name + ".";  // the prefix of the architecture's metadata keys
  LlamaModel m;
  m.config_ = read_config(file, a);
  const LlamaConfig& c = m.config_;
  m.token_embd_ = matrix(file, quantized, "token_embd.weight", c.vocab, c.dim);
  if (a.output == Need::kAbsent) refuse(file, quantized, a.name, "output.weight");
  const bool has_output = file.find_tensor("output.weight") || quantized.count("output.weight");
  m.output_ = has_output ? matrix(file, quantized, "output.weight", c.vocab, c.dim) : m.token_embd_;
  m.output_norm_ = vector_f32(file, "output_norm.weight", c.dim);
  // LongRoPE's factors (Phi-3 128k): a scaling this runner does not do, refused like rope type longrope.
  for (const char* name : {"rope_factors_long.weight", "rope_factors_short.weight"})
    refuse(file, quantized, a.name, name);
  m.rope_freqs_ = optional_vector(file, a.name, a.rope_freqs, "rope_freqs.weight", c.rope_dim / 2);
  for (float f : m.rope_freqs_)
    if (!(f > 0.0f) || !std::isfinite(f))
      throw std::runtime_error("rope_freqs.weight holds " + std::to_string(f) + ", not a positive divisor");
  for (std::size_t l = 0; l < c.layers; ++l) m.layers_.push_back(load_layer(file, quantized, c, l));
  if (!quantized.empty()) {
    const std::vector<std::pair<std::string, const WeightView*>> used = m.matrices();
    for (const auto& [name, view] : quantized) {
      bool found = false;
      for (const auto& u : used) found = found || u.first == name;
      if (!found) throw std::runtime_error("quantized matrix '" + name + "' is not a matrix of this model");
    }
  }
  m.quantizers_ = std::move(quantizers);
  m.scheme_ = scheme;
  m.seed_ = seed;
  m.file_ = std::move(file);
  return m;
}

template <typename Model, typename View>
std::vector<std::pair<std::string, View*>> LlamaModel::matrix_slots(Model& m) {
  std::vector<std::pair<std::string, View*>> out;
  for (std::size_t l = 0; l < m.layers_.size(); ++l) {
    auto& L = m.layers_[l];
    const std::string p = "blk." + std::to_string(l) + ".";
    // Parts of a fused tensor are named by it and the part ("blk.0.attn_qkv.weight:k").
    const Architecture& a = *m.config_.arch;
    const std::string q = a.fused_qkv ? "attn_qkv.weight:q" : "attn_q.weight";
    const std::string k = a.fused_qkv ? "attn_qkv.weight:k" : "attn_k.weight";
    const std::string v = a.fused_qkv ? "attn_qkv.weight:v" : "attn_v.weight";
    const std::string gate = a.fused_gate_up ? "ffn_up.weight:gate" : "ffn_gate.weight";
    const std::string up = a.fused_gate_up ? "ffn_up.weight:up" : "ffn_up.weight";
    out.insert(out.end(), {{p + q, &L.wq},
                           {p + k, &L.wk},
                           {p + v, &L.wv},
                           {p + "attn_output.weight", &L.wo},
                           {p + gate, &L.w_gate},
                           {p + up, &L.w_up},
                           {p + "ffn_down.weight", &L.w_down}});
  }
  if (m.output_.data != m.token_embd_.data) out.emplace_back("output.weight", &m.output_);
  return out;
}

std::vector<std::pair<std::string, const WeightView*>> LlamaModel::matrices() const {
  return matrix_slots<const LlamaModel, const WeightView>(*this);
}

LlamaModel::WeightBytes LlamaModel::quantize_weights(const std::string& scheme, std::uint64_t seed, bool measure,
                                                     const std::map<std::string, std::vector<double>>* moments) {
  const WeightScheme parsed = parse_weight_scheme(scheme);  // a bad name fails before any work
  if (weights_quantized()) throw std::runtime_error("weights are already quantized (" + scheme_.name() + ")");
  // A .vqm stores whole tensors as records; the parts of a fused one would need their own.
  if (config_.arch->fused_qkv || config_.arch->fused_gate_up)
    throw std::invalid_argument("quantizing the weights of architecture '" + config_.arch->name +
                                "' is not supported: its Q/K/V and gate/up matrices are parts of fused tensors");
  const Method method = parse_format(parsed.format).method;
  if (moments && method != Method::kTurboMse && method != Method::kQ4)
    throw std::invalid_argument("GPTQ calibration needs a tq format (tqB, tqB:outliers=...) or q4, not " +
                                parsed.format);
  for (const auto& [name, view] : matrices()) {
    parsed.record_dim(view->cols);  // every block divides its row
    if (!moments) continue;
    const auto it = moments->find(name);
    if (it == moments->end()) throw std::invalid_argument("calibration has no input statistics for '" + name + "'");
    if (it->second.size() != view->cols * view->cols)
      throw std::invalid_argument("calibration statistics of '" + name + "' do not match its " +
                                  std::to_string(view->cols) + " columns");
  }
  scheme_ = parsed;
  seed_ = seed;
  WeightBytes bytes;
  for (const auto& [name, view] : matrix_slots<LlamaModel, WeightView>(*this))
    quantize_matrix(name, *view, seed, measure, moments ? &moments->at(name) : nullptr, bytes);
  return bytes;
}

void LlamaModel::quantize_matrix(const std::string& name, WeightView& w, std::uint64_t seed, bool measure,
                                 const std::vector<double>* moment, WeightBytes& bytes) {
  // One quantizer per record width: matrices (and blocks) that read the same width share its rotation.
  const std::size_t bd = scheme_.record_dim(w.cols), blocks = w.cols / bd;
  const Quantizer* q = nullptr;
  for (const auto& existing : quantizers_)
    if (existing->dim() == bd) q = existing.get();
  if (!q) {
    quantizers_.push_back(make_quantizer(scheme_.format, bd, seed));
    q = quantizers_.back().get();
  }
  const std::size_t cs = q->code_size();
  std::vector<std::uint8_t>& records = quantized_rows_.emplace_back(w.rows * blocks * cs);
  std::unique_ptr<GptqEncoder> gptq;
  if (moment) {
    try {
      gptq = std::make_unique<GptqEncoder>(*q, w.cols, *moment);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument("'" + name + "': " + e.what());
    }
  }
  std::vector<float> row(w.cols), back(w.cols);
  MatrixReport report{name, w.rows, w.cols, w.type, w.rows * w.row_bytes, records.size(), 0.0, 0.0};
  for (std::size_t r = 0; r < w.rows; ++r) {
    dequantize_row(w, r, row.data());
    // block-major: block b of all rows is contiguous, so a row's records are rows · cs apart
    if (gptq) gptq->encode_row(row.data(), records.data() + r * cs, w.rows * cs);
    for (std::size_t b = 0; b < blocks; ++b) {
      std::uint8_t* rec = records.data() + (b * w.rows + r) * cs;
      if (!gptq) q->encode(1, row.data() + b * bd, rec);
      if (measure) q->decode(1, rec, back.data() + b * bd);
    }
    if (measure)
      for (std::size_t c = 0; c < w.cols; ++c) {
        const double d = static_cast<double>(row[c]) - back[c];
        report.error_sq += d * d;
        report.norm_sq += static_cast<double>(row[c]) * row[c];
      }
  }
  bytes.before += report.bytes_before;
  bytes.after += report.bytes_after;
  bytes.count += w.rows * w.cols;
  bytes.matrices.push_back(std::move(report));
  w.data = records.data();
  w.row_bytes = blocks * cs;
  w.quantizer = q;
}

}  // namespace veloxquant
