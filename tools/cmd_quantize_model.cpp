// `veloxquant quantize-model in.gguf out.vqm --weights F`: quantizes a GGUF Llama model's matrices
// once and writes them, as the runner holds them, to a .vqm file that run/perplexity load with -m.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "args.h"
#include "calibrate.h"
#include "cli.h"
#include "io/json.h"
#include "runner/llama_model.h"
#include "runner/model_file.h"
#include "tensor_shape.h"

namespace veloxquant::cli {

namespace {

constexpr const char* kHelp = R"(usage: veloxquant quantize-model in.gguf out.vqm --weights F [options]

Quantizes every layer matrix and an untied output matrix of a GGUF Llama model as `--weights F`
does at load time, and writes the model (metadata, tokenizer, unquantized tensors as loaded and
the quantized records) to a .vqm file (docs/file_formats.md). `veloxquant run/perplexity -m
out.vqm` then gives the same logits as `-m in.gguf --weights F` without quantizing again.

  --weights F   format of the records, e.g. tq4 (one record per row), tq4:block=64 (one record,
                with its own scale, per 64 columns); any quantizer format name
  --seed S      seed of the rotations (default 0, as run/perplexity --seed)
  --threads N   worker threads of the calibration run (default: all cores)
  --report      print per tensor: shape, bytes before (as in the GGUF) and after, bits per
                weight, relative reconstruction error ||W - W'|| / ||W||; and totals
  --json        the report as one JSON object on stdout
)";

struct Row {
  std::string name, shape, type_before, stored_as;
  std::size_t weights = 0, before = 0, after = 0;
  double error_sq = 0.0, norm_sq = 0.0;
  bool quantized = false;
  double bits() const { return 8.0 * static_cast<double>(after) / static_cast<double>(weights); }
  double rel_error() const { return norm_sq > 0 ? std::sqrt(error_sq / norm_sq) : 0.0; }
};

// Every tensor of the input in file order, the quantized ones with their measurements, and totals.
struct Report {
  std::vector<Row> rows;
  Row quantized{"quantized matrices", "", "", "", 0, 0, 0, 0.0, 0.0, false};
  Row total{"total", "", "", "", 0, 0, 0, 0.0, 0.0, false};
  std::string codes;  // how the codes were chosen (the .vqm does not say)
};

Report make_report(const LlamaModel& model, const LlamaModel::WeightBytes& b,
                   const std::optional<Calibration>& calibration) {
  Report rep;
  rep.codes = calibration ? "GPTQ codes from tokens " + std::to_string(calibration->first_token()) + ".." +
                                std::to_string(calibration->end_token()) + " of " + calibration->file
                          : "plain codes";
  std::map<std::string, const MatrixReport*> measured;
  for (const MatrixReport& m : b.matrices) measured[m.name] = &m;
  for (const GgufTensor& t : model.file().tensors()) {
    Row r{t.name,
          tensor_shape_text(t.dims),
          ggml_type_name(t.type),
          ggml_type_name(t.type),
          t.elements(),
          t.bytes,
          t.bytes,
          0.0,
          0.0,
          false};
    if (auto it = measured.find(t.name); it != measured.end()) {
      r.stored_as = model.weight_scheme().name();
      r.after = it->second->bytes_after;
      r.error_sq = it->second->error_sq;
      r.norm_sq = it->second->norm_sq;
      r.quantized = true;
      rep.quantized.weights += r.weights;
      rep.quantized.before += r.before;
      rep.quantized.after += r.after;
      rep.quantized.error_sq += r.error_sq;
      rep.quantized.norm_sq += r.norm_sq;
    }
    rep.total.weights += r.weights;
    rep.total.before += r.before;
    rep.total.after += r.after;
    rep.rows.push_back(r);
  }
  rep.total.error_sq = rep.quantized.error_sq;
  rep.total.norm_sq = rep.quantized.norm_sq;
  return rep;
}

Json row_json(const Row& r) {
  Json o = Json::object();
  o.set("name", Json::string(r.name));
  o.set("shape", Json::string(r.shape));
  o.set("type_before", Json::string(r.type_before));
  o.set("stored_as", Json::string(r.stored_as));
  o.set("weights", Json::unsigned_integer(r.weights));
  o.set("bytes_before", Json::unsigned_integer(r.before));
  o.set("bytes_after", Json::unsigned_integer(r.after));
  o.set("bits_per_weight", Json::number_or_null(r.bits()));
  o.set("rel_error", Json::number_or_null(r.rel_error()));
  return o;
}

void print_report_json(const Report& rep, const LlamaModel& model, const std::string& in, const std::string& out,
                       double quantize_s, double total_s) {
  Json tensors = Json::array();
  for (const Row& r : rep.rows) tensors.push(row_json(r));
  Json o = Json::object();
  o.set("input", Json::string(in));
  o.set("output", Json::string(out));
  o.set("weights", Json::string(model.weight_scheme().name()));
  o.set("seed", Json::unsigned_integer(model.weight_seed()));
  o.set("codes", Json::string(rep.codes));
  o.set("tensors", std::move(tensors));
  o.set("quantized", row_json(rep.quantized));
  o.set("total", row_json(rep.total));
  o.set("quantize_seconds", Json::number_or_null(quantize_s));
  o.set("seconds", Json::number_or_null(total_s));
  std::printf("%s\n", o.dump(0).c_str());
}

void print_report_table(const Report& rep, const LlamaModel& model, const std::string& out, double total_s) {
  std::printf("%-26s %-10s %-6s %-14s %11s %11s %8s %9s\n", "tensor", "shape", "type", "stored as", "bytes", "after",
              "bits/w", "rel err");
  const auto print = [](const Row& r) {
    std::printf("%-26s %-10s %-6s %-14s %11zu %11zu %8.3f %9.5f\n", r.name.c_str(), r.shape.c_str(),
                r.type_before.c_str(), r.stored_as.c_str(), r.before, r.after, r.bits(), r.rel_error());
  };
  for (const Row& r : rep.rows) print(r);
  print(rep.quantized);
  print(rep.total);
  std::printf("wrote %s (%s, seed %llu, %s) in %.2f s; rel err = ||W - W'|| / ||W|| over the quantized matrices\n",
              out.c_str(), model.weight_scheme().name().c_str(), static_cast<unsigned long long>(model.weight_seed()),
              rep.codes.c_str(), total_s);
}

}  // namespace

int cmd_quantize_model(int argc, char** argv) {
  const Args args(argc, argv, {"report", "json", "help"},
                  {"weights", "seed", "threads", kCalibrationOptions[0], kCalibrationOptions[1], kCalibrationOptions[2],
                   kCalibrationOptions[3]},
                  {{"-h", "help"}});
  if (args.has("help")) {
    std::fputs(kHelp, stdout);
    std::fputs(kCalibrationHelp, stdout);
    return 0;
  }
  if (args.positionals().size() != 2) throw std::invalid_argument("give the input .gguf and the output .vqm");
  if (!args.has("weights")) throw std::invalid_argument("missing --weights F (e.g. tq4)");
  const std::string in = args.positionals()[0], out = args.positionals()[1];
  const std::string scheme = args.str("weights", "");
  const bool report = args.has("report") || args.has("json"), json = args.has("json");
  const std::optional<Calibration> calibration = calibration_args(args);
  const std::size_t threads = thread_count(args);

  const auto t0 = std::chrono::steady_clock::now();
  LlamaModel model = LlamaModel::load(in);
  std::optional<InputMoments> moments;  // GPTQ: statistics of the model as loaded
  if (calibration) {
    ThreadPool pool(threads);
    moments = calibrate(model, *calibration, pool);
  }
  const LlamaModel::WeightBytes b = model.quantize_weights(scheme, static_cast<std::uint64_t>(args.integer("seed", 0)),
                                                           report, moments ? &*moments : nullptr);
  const double quantize_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  save_quantized_model(model, out);
  const double total_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!report) {
    std::fprintf(stderr, "%s: matrices %zu -> %zu bytes (%.3f bits per weight%s), %.2f s\n", out.c_str(), b.before,
                 b.after, 8.0 * static_cast<double>(b.after) / static_cast<double>(b.count),
                 moments ? ", GPTQ codes" : "", total_s);
    return 0;
  }

  const Report rep = make_report(model, b, calibration);
  if (json)
    print_report_json(rep, model, in, out, quantize_s, total_s);
  else
    print_report_table(rep, model, out, total_s);
  return 0;
}

}  // namespace veloxquant::cli
