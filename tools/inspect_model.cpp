// `veloxquant inspect` for model files: a GGUF file or a quantized model file (.vqm). Loading
// is the check: the GGUF reader validates every offset and size, and the .vqm loader checks
// sizes, section CRCs and the quantizer fingerprints before anything is used.
#include "inspect_model.h"

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "io/gguf.h"
#include "io/json.h"
#include "runner/llama_model.h"
#include "runner/model_file.h"
#include "tensor_shape.h"

namespace veloxquant::cli {

namespace {

// One tensor as stored: a GGUF tensor, or a matrix held as quantized records.
struct TensorRow {
  std::string name, shape, stored_as;
  std::uint64_t weights = 0, bytes = 0;
  bool quantized = false;  // held as records of the model's weight scheme
  double bits() const { return weights ? 8.0 * static_cast<double>(bytes) / static_cast<double>(weights) : 0.0; }
};

std::vector<TensorRow> tensor_rows(const LlamaModel& model) {
  std::vector<TensorRow> rows;
  for (const GgufTensor& t : model.file().tensors())
    rows.push_back({t.name, tensor_shape_text(t.dims), ggml_type_name(t.type), t.elements(), t.bytes});
  for (const auto& [name, view] : model.matrices()) {
    if (!view->quantizer) continue;  // listed above with the GGUF tensors
    rows.push_back({name, std::to_string(view->rows) + "x" + std::to_string(view->cols), model.weight_scheme().name(),
                    static_cast<std::uint64_t>(view->rows) * view->cols,
                    static_cast<std::uint64_t>(view->rows) * view->row_bytes, true});
  }
  return rows;
}

Json config_json(const LlamaConfig& c) {
  Json o = Json::object();
  o.set("vocab", Json::unsigned_integer(c.vocab));
  o.set("dim", Json::unsigned_integer(c.dim));
  o.set("layers", Json::unsigned_integer(c.layers));
  o.set("ffn", Json::unsigned_integer(c.ffn));
  o.set("heads", Json::unsigned_integer(c.heads));
  o.set("kv_heads", Json::unsigned_integer(c.kv_heads));
  o.set("head_dim", Json::unsigned_integer(c.head_dim));
  o.set("context", Json::unsigned_integer(c.context));
  return o;
}

}  // namespace

bool is_model_file(const std::string& path) {
  if (is_quantized_model_file(path)) return true;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  char magic[4] = {};
  const bool gguf = std::fread(magic, 1, 4, f) == 4 && std::string(magic, 4) == "GGUF";
  std::fclose(f);
  return gguf;
}

int inspect_model(const std::string& path, bool json) {
  const bool vqm = is_quantized_model_file(path);
  const LlamaModel model = LlamaModel::load(path);  // throws with the reason when a check fails
  const LlamaConfig& c = model.config();
  const std::vector<TensorRow> rows = tensor_rows(model);
  std::uint64_t weights = 0, bytes = 0, q_weights = 0, q_bytes = 0;
  for (const TensorRow& r : rows) {
    weights += r.weights;
    bytes += r.bytes;
    if (r.quantized) {
      q_weights += r.weights;
      q_bytes += r.bytes;
    }
  }
  const std::uint64_t file_bytes = std::filesystem::file_size(path);
  if (json) {
    Json out = Json::object();
    out.set("path", Json::string(path));
    out.set("kind", Json::string(vqm ? "quantized_model" : "gguf"));
    out.set("valid", Json::boolean(true));
    out.set("file_bytes", Json::unsigned_integer(file_bytes));
    if (vqm) {
      out.set("version", Json::unsigned_integer(kModelFileVersion));
      out.set("weights", Json::string(model.weight_scheme().name()));
      out.set("weight_seed", Json::unsigned_integer(model.weight_seed()));
    } else {
      out.set("version", Json::unsigned_integer(model.file().version()));
    }
    out.set("config", config_json(c));
    Json list = Json::array();
    for (const TensorRow& r : rows) {
      Json e = Json::object();
      e.set("name", Json::string(r.name));
      e.set("shape", Json::string(r.shape));
      e.set("stored_as", Json::string(r.stored_as));
      e.set("bytes", Json::unsigned_integer(r.bytes));
      e.set("bits_per_weight", Json::number(r.bits()));
      list.push(std::move(e));
    }
    out.set("tensors", list);
    out.set("tensor_bytes", Json::unsigned_integer(bytes));
    if (vqm)
      out.set("quantized_bits_per_weight",
              Json::number(8.0 * static_cast<double>(q_bytes) / static_cast<double>(q_weights)));
    std::puts(out.dump(2).c_str());
    return 0;
  }
  if (vqm)
    std::printf("quantized model file %s: format version %u, %llu bytes, weights %s (seed %llu)\n", path.c_str(),
                kModelFileVersion, static_cast<unsigned long long>(file_bytes), model.weight_scheme().name().c_str(),
                static_cast<unsigned long long>(model.weight_seed()));
  else
    std::printf("GGUF file %s: version %u, %llu bytes, %zu metadata keys\n", path.c_str(), model.file().version(),
                static_cast<unsigned long long>(file_bytes), model.file().metadata().size());
  std::printf("  llama: vocab %zu, dim %zu, layers %zu, ffn %zu, heads %zu, kv_heads %zu, head_dim %zu, context %zu\n",
              c.vocab, c.dim, c.layers, c.ffn, c.heads, c.kv_heads, c.head_dim, c.context);
  std::printf("  %-26s %-10s %-14s %11s %8s\n", "tensor", "shape", "stored as", "bytes", "bits/w");
  for (const TensorRow& r : rows)
    std::printf("  %-26s %-10s %-14s %11llu %8.3f\n", r.name.c_str(), r.shape.c_str(), r.stored_as.c_str(),
                static_cast<unsigned long long>(r.bytes), r.bits());
  std::printf("  %llu weights in %llu bytes", static_cast<unsigned long long>(weights),
              static_cast<unsigned long long>(bytes));
  if (vqm)
    std::printf("; quantized matrices %.3f bits per weight",
                8.0 * static_cast<double>(q_bytes) / static_cast<double>(q_weights));
  std::printf("\n%s\n", vqm ? "all sections ok (sizes, CRCs and quantizer fingerprints checked)" : "all tensors ok");
  return 0;
}

}  // namespace veloxquant::cli
