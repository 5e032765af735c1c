#include "weights/model_convert.h"

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "io/gguf_write.h"
#include "math/prng.h"
#include "runner/architecture.h"
#include "weights/weight_types.h"

namespace veloxquant {

namespace {

std::uint64_t rows_of(const std::vector<std::uint64_t>& dims) {
  std::uint64_t rows = 1;
  for (std::size_t i = 1; i < dims.size(); ++i) rows *= dims[i];
  return rows;
}

// Quantizes `rows` rows of `cols` values into `to`; row(r, values) fills the floats of row r.
void quantize_rows(std::size_t rows, std::size_t cols, GgmlType to, std::uint8_t* out, ThreadPool& pool,
                   const std::function<void(std::size_t, float*)>& row) {
  const WeightTypeInfo& t = weight_type(to);
  const std::size_t row_bytes = weight_row_bytes(to, cols);
  pool.parallel_for(rows, [&](std::size_t begin, std::size_t end) {
    std::vector<float> values(cols);
    for (std::size_t r = begin; r < end; ++r) {
      row(r, values.data());
      t.quantize(values.data(), cols, out + r * row_bytes);
    }
  });
}

void add_stats(ConvertStats& s, const std::string& name, const std::vector<std::uint64_t>& dims, GgmlType from,
               GgmlType to, std::size_t bytes_before, std::size_t bytes_after) {
  ++s.tensors;
  s.converted += from != to;
  s.bytes_before += bytes_before;
  s.bytes_after += bytes_after;
  ++s.types_after[weight_type(to).name];
  if (scheme_converts(name, dims)) {
    s.matrix_weights += dims[0] * rows_of(dims);
    s.matrix_bytes_after += bytes_after;
  }
}

void mark_file_type(std::map<std::string, GgufValue>& metadata, const TypeScheme& scheme) {
  metadata["general.file_type"] = gguf_u32(scheme_file_type(scheme));
  if (weight_type(scheme.base).block_elements > 1) metadata["general.quantization_version"] = gguf_u32(2);
}

}  // namespace

ConvertStats convert_gguf(const GgufFile& in, const std::string& out_path, const TypeScheme& scheme, ThreadPool& pool,
                          const ConvertProgress& progress) {
  const std::string arch = in.has("general.architecture") ? in.get_string("general.architecture") : "llama";
  const std::size_t n_layers = static_cast<std::size_t>(in.get_uint(arch + ".block_count", 0));
  const bool tied = in.find_tensor("output.weight") == nullptr;
  ConvertStats stats;
  std::vector<GgufTensorPlan> plans;
  for (const GgufTensor& t : in.tensors()) {
    plans.push_back({t.name, t.dims, scheme_tensor_type(scheme, t.name, t.dims, t.type, n_layers, tied)});
    add_stats(stats, t.name, t.dims, t.type, plans.back().type, t.bytes, plans.back().bytes());
  }
  std::map<std::string, GgufValue> metadata = in.metadata();
  mark_file_type(metadata, scheme);
  write_gguf_file(out_path, metadata, plans, in.alignment(), [&](std::size_t i, std::uint8_t* out) {
    const GgufTensor& t = in.tensors()[i];
    const GgmlType to = plans[i].type;
    if (progress) progress(i, plans.size(), t.name, t.type, to);
    if (to == t.type) {
      std::memcpy(out, t.data, t.bytes);
      return;
    }
    const WeightTypeInfo& from = weight_type(t.type);
    const std::size_t cols = static_cast<std::size_t>(t.dims[0]), src_row = weight_row_bytes(t.type, cols);
    quantize_rows(static_cast<std::size_t>(rows_of(t.dims)), cols, to, out, pool, [&](std::size_t r, float* v) {
      from.dequantize(t.data + r * src_row, cols, v);
      for (std::size_t c = 0; c < cols; ++c)
        if (!std::isfinite(v[c]))
          throw std::runtime_error("tensor '" + t.name + "' holds " + std::to_string(v[c]) + " at row " +
                                   std::to_string(r) + ", column " + std::to_string(c) + "; refusing to convert it");
    });
  });
  return stats;
}

SyntheticShape parse_synthetic_shape(const std::string& text) {
  SyntheticShape s;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t comma = std::min(text.find(',', pos), text.size());
    const std::string item = text.substr(pos, comma - pos);
    pos = comma + 1;
    const std::size_t eq = item.find('=');
    if (eq == std::string::npos) throw std::invalid_argument("shape item '" + item + "' needs key=value");
    const std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    if (key == "arch") {
      try {
        s.arch = find_architecture(value).name;
      } catch (const std::runtime_error& e) {
        throw std::invalid_argument(std::string("shape arch: ") + e.what());
      }
      continue;
    }
    if (key == "rope_scaling") {
      if (value != "llama3") throw std::invalid_argument("shape rope_scaling = '" + value + "' is not llama3");
      s.llama3_rope = true;
      continue;
    }
    std::size_t used = 0;
    unsigned long long v = 0;
    try {
      v = std::stoull(value, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != value.size() || value.empty() || v > (1ull << 24)) {
      std::string message = "shape ";
      message.append(key).append(" = '").append(value).append("' is not a number up to 2^24");
      throw std::invalid_argument(message);
    }
    const std::size_t n = static_cast<std::size_t>(v);
    if (key == "dim")
      s.dim = n;
    else if (key == "layers")
      s.layers = n;
    else if (key == "heads")
      s.heads = n;
    else if (key == "kv_heads")
      s.kv_heads = n;
    else if (key == "ffn")
      s.ffn = n;
    else if (key == "vocab")
      s.vocab = n;
    else if (key == "context")
      s.context = n;
    else if (key == "tied")
      s.tied = n != 0;
    else if (key == "head_dim")
      s.head_dim = n;
    else if (key == "rope_base")
      s.rope_base = n;
    else if (key == "window")
      s.window = n;
    else if (key == "attn_softcap")
      s.attn_softcap = n;
    else if (key == "final_softcap")
      s.final_softcap = n;
    else if (key == "rope_linear")
      s.rope_linear = n;
    else
      throw std::invalid_argument("unknown shape key '" + key +
                                  "' (dim, layers, heads, kv_heads, ffn, vocab, context, tied, arch, head_dim, "
                                  "rope_base, rope_scaling, rope_linear, window, attn_softcap, final_softcap)");
  }
  const Architecture& a = find_architecture(s.arch);
  if ((s.window && a.swa_pattern == 0) || (s.attn_softcap && a.attn_softcap == 0.0f) ||
      (s.final_softcap && a.final_softcap == 0.0f))
    throw std::invalid_argument("shape: architecture '" + s.arch + "' has no sliding window or soft-capping");
  if (a.output == Need::kAbsent) s.tied = true;  // gemma2's output is always the embedding
  if (s.kv_heads == 0) s.kv_heads = s.heads;
  if (s.dim == 0 || s.layers == 0 || s.heads == 0 || s.ffn == 0 || s.vocab == 0 || s.context == 0)
    throw std::invalid_argument("shape needs dim, layers, heads, ffn and vocab, all positive");
  if (s.head_dim == 0 && s.dim % s.heads != 0)
    throw std::invalid_argument("shape: dim must be a multiple of heads unless head_dim is given");
  if (s.head_dim == 0) s.head_dim = s.dim / s.heads;
  if (s.heads % s.kv_heads != 0 || s.head_dim % 2 != 0)
    throw std::invalid_argument("shape: heads must be a multiple of kv_heads, the head size even");
  if (s.rope_base < 2) throw std::invalid_argument("shape: rope_base must be at least 2");
  if (s.llama3_rope && find_architecture(s.arch).rope_freqs == Need::kAbsent)
    throw std::invalid_argument("shape: architecture '" + s.arch + "' has no rope_freqs for rope_scaling=llama3");
  return s;
}

std::vector<float> llama3_rope_freqs(double base, std::size_t rope_dim) {
  const double factor = 8.0, low_freq_factor = 1.0, high_freq_factor = 4.0, old_context = 8192.0;
  const double low_freq_wavelen = old_context / low_freq_factor, high_freq_wavelen = old_context / high_freq_factor;
  const double kPi = 3.14159265358979323846;
  std::vector<float> out;
  for (std::size_t i = 0; i < rope_dim; i += 2) {
    // In double (the converter works in float32): the runner and llama.cpp both read the tensor.
    const double freq = std::pow(base, -static_cast<double>(i) / static_cast<double>(rope_dim));
    const double wavelen = 2.0 * kPi / freq;
    double f = 0.0;
    if (wavelen < high_freq_wavelen) {
      f = 1.0;
    } else if (wavelen > low_freq_wavelen) {
      f = factor;
    } else {
      const double smooth = (old_context / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor);
      f = 1.0 / ((1.0 - smooth) / factor + smooth);
    }
    out.push_back(static_cast<float>(f));
  }
  return out;
}

ConvertStats write_synthetic_model(const std::string& out_path, const SyntheticShape& shape,
                                   const GgufFile& tokenizer_source, const TypeScheme& scheme, std::uint64_t seed,
                                   ThreadPool& pool, const ConvertProgress& progress) {
  const Architecture& a = find_architecture(shape.arch);
  const std::size_t hd = shape.head_dim ? shape.head_dim : shape.dim / shape.heads;
  const std::size_t q = shape.heads * hd, kv = shape.kv_heads * hd;
  std::map<std::string, GgufValue> m;
  for (const auto& [key, value] : tokenizer_source.metadata())
    if (key.compare(0, 10, "tokenizer.") == 0) m[key] = value;
  // Pad the vocabulary with unused tokens.
  const std::size_t have = tokenizer_source.get_string_array("tokenizer.ggml.tokens").size();
  if (have > shape.vocab)
    throw std::invalid_argument("the tokenizer has " + std::to_string(have) + " tokens, more than vocab " +
                                std::to_string(shape.vocab));
  for (std::size_t i = have; i < shape.vocab; ++i) {
    m["tokenizer.ggml.tokens"].strings.push_back("<unused" + std::to_string(i) + ">");
    if (m.count("tokenizer.ggml.scores")) m["tokenizer.ggml.scores"].numbers.push_back(-1e9);
    if (m.count("tokenizer.ggml.token_type")) m["tokenizer.ggml.token_type"].numbers.push_back(5);  // unused
  }
  const std::string k = a.name + ".";
  auto u32 = [](std::size_t v) { return gguf_u32(static_cast<std::uint32_t>(v)); };
  m["general.architecture"] = gguf_string(a.name);
  // Not the architecture's name: llama.cpp sets token attributes by general.name ("phi3" needs a
  // <|endoftext|> token this vocabulary lacks).
  m["general.name"] = gguf_string("veloxquant synthetic model");
  m["general.alignment"] = gguf_u32(32);
  m[k + "context_length"] = u32(shape.context);
  m[k + "embedding_length"] = u32(shape.dim);
  m[k + "block_count"] = u32(shape.layers);
  m[k + "feed_forward_length"] = u32(shape.ffn);
  m[k + "attention.head_count"] = u32(shape.heads);
  m[k + "attention.head_count_kv"] = u32(shape.kv_heads);
  if (hd * shape.heads != shape.dim) {
    m[k + "attention.key_length"] = u32(hd);
    m[k + "attention.value_length"] = u32(hd);
  }
  m[k + "rope.dimension_count"] = u32(hd);
  m[k + "rope.freq_base"] = gguf_f32(static_cast<float>(shape.rope_base));
  m[k + "attention.layer_norm_rms_epsilon"] = gguf_f32(1e-5f);
  m[k + "vocab_size"] = u32(shape.vocab);
  if (a.attn_softcap != 0.0f)
    m[k + "attn_logit_softcapping"] =
        gguf_f32(shape.attn_softcap ? static_cast<float>(shape.attn_softcap) : a.attn_softcap);
  if (a.final_softcap != 0.0f)
    m[k + "final_logit_softcapping"] =
        gguf_f32(shape.final_softcap ? static_cast<float>(shape.final_softcap) : a.final_softcap);
  if (const std::size_t window = shape.window ? shape.window : a.sliding_window; a.swa_pattern != 0 && window != 0)
    m[k + "attention.sliding_window"] = u32(window);
  if (shape.rope_linear != 0) {
    m[k + "rope.scaling.type"] = gguf_string("linear");
    m[k + "rope.scaling.factor"] = gguf_f32(static_cast<float>(shape.rope_linear));
  }
  mark_file_type(m, scheme);

  std::vector<GgufTensorPlan> plans;
  auto add = [&](const std::string& name, std::vector<std::uint64_t> dims) {
    const GgmlType type = scheme_tensor_type(scheme, name, dims, GgmlType::kF32, shape.layers, shape.tied);
    plans.push_back({name, std::move(dims), type});
  };
  // Only the parts the architecture requires: a llama file stays as it was before qwen came.
  add("token_embd.weight", {shape.dim, shape.vocab});
  for (std::size_t l = 0; l < shape.layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    add(p + "attn_norm.weight", {shape.dim});
    if (a.fused_qkv) {
      add(p + "attn_qkv.weight", {shape.dim, q + 2 * kv});
    } else {
      add(p + "attn_q.weight", {shape.dim, q});
      add(p + "attn_k.weight", {shape.dim, kv});
      add(p + "attn_v.weight", {shape.dim, kv});
    }
    if (a.qkv_bias == Need::kRequired) {
      add(p + "attn_q.bias", {q});
      add(p + "attn_k.bias", {kv});
      add(p + "attn_v.bias", {kv});
    }
    if (a.qk_norm == Need::kRequired) {
      add(p + "attn_q_norm.weight", {hd});
      add(p + "attn_k_norm.weight", {hd});
    }
    add(p + "attn_output.weight", {q, shape.dim});
    if (a.post_norms) add(p + "post_attention_norm.weight", {shape.dim});
    add(p + "ffn_norm.weight", {shape.dim});
    if (!a.fused_gate_up) add(p + "ffn_gate.weight", {shape.dim, shape.ffn});
    add(p + "ffn_up.weight", {shape.dim, a.fused_gate_up ? 2 * shape.ffn : shape.ffn});
    add(p + "ffn_down.weight", {shape.ffn, shape.dim});
    if (a.post_norms) add(p + "post_ffw_norm.weight", {shape.dim});
  }
  add("output_norm.weight", {shape.dim});
  if (!shape.tied) add("output.weight", {shape.dim, shape.vocab});
  std::vector<float> rope_freqs;  // last, so that the other tensors keep their random values
  if (shape.llama3_rope) {
    rope_freqs = llama3_rope_freqs(static_cast<double>(shape.rope_base), hd);
    add("rope_freqs.weight", {rope_freqs.size()});
  }

  ConvertStats stats;
  for (const GgufTensorPlan& p : plans) add_stats(stats, p.name, p.dims, GgmlType::kF32, p.type, p.bytes(), p.bytes());
  stats.bytes_before = 0;  // nothing was converted from
  write_gguf_file(out_path, m, plans, 32, [&](std::size_t i, std::uint8_t* out) {
    const GgufTensorPlan& p = plans[i];
    if (progress) progress(i, plans.size(), p.name, GgmlType::kF32, p.type);
    const std::size_t cols = static_cast<std::size_t>(p.dims[0]);
    if (p.name == "rope_freqs.weight") {
      std::memcpy(out, rope_freqs.data(), 4 * rope_freqs.size());
      return;
    }
    const bool bias = p.name.size() > 5 && p.name.compare(p.name.size() - 5, 5, ".bias") == 0;
    const bool norm = p.dims.size() == 1 && !bias;
    // Biases of 0.5 move the scores and values as much as the projections (Qwen2's are large too).
    const float scale = bias ? 0.5f : norm ? 0.1f : 1.0f / std::sqrt(static_cast<float>(cols));
    quantize_rows(static_cast<std::size_t>(rows_of(p.dims)), cols, p.type, out, pool, [&](std::size_t r, float* v) {
      SplitMix64 rng(derive_seed(seed, i, r));  // per row: the same values for any thread split
      for (std::size_t c = 0; c < cols; ++c) v[c] = (norm ? 1.0f : 0.0f) + scale * static_cast<float>(rng.normal());
    });
  });
  return stats;
}

}  // namespace veloxquant
