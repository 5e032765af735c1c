// `veloxquant convert`: a GGUF model converted to other ggml weight types (q4_k_m, q8_0, q4_K, ...),
// or a synthetic Llama model of a given shape with random weights of those types.
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "args.h"
#include "cli.h"
#include "io/gguf.h"
#include "runner/thread_pool.h"
#include "weights/model_convert.h"
#include "weights/weight_types.h"

namespace veloxquant::cli {

namespace {

constexpr const char* kHelp = R"(usage: veloxquant convert -m in.gguf -o out.gguf --type T [--threads N]
       veloxquant convert --random SHAPE --tokenizer tok.gguf -o out.gguf --type T [--seed S] [--threads N]

Writes a GGUF model whose matrices (2-D *.weight tensors other than norms) are stored as ggml type
T; the other tensors and all metadata are copied (general.file_type is set). llama.cpp reads the
result. Types (docs/weights.md):
  q4_k_m, q5_k_m    llama.cpp's mixes: q4_K (q5_K) matrices, attn_v and ffn_down of some layers
                    and the output matrix q6_K
  f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q2_K q3_K q4_K q5_K q6_K iq4_nl iq4_xs
                    every matrix of that type (rows that are not whole blocks fall back as in
                    llama.cpp, e.g. q4_K -> q5_0)

  -m, --model F     the model to convert (any of those types)
  -o, --output F    the file to write (atomically)
  --random SHAPE    instead of -m: a Llama model with Gaussian weights, e.g.
                    dim=2048,layers=16,heads=32,kv_heads=8,ffn=8192,vocab=32000[,context=2048][,tied=1]
  --tokenizer F     with --random: the GGUF whose tokenizer to copy (padded to vocab with unused tokens)
  --seed S          with --random: the weights' seed (default 0)
  --threads N       threads that quantize rows (default: all cores)

Progress goes to stderr; the summary (bytes before and after, bits per weight of the matrices,
tensors per type) to stdout.
)";

}  // namespace

int cmd_convert(int argc, char** argv) {
  const Args args(argc, argv, {"help"}, {"model", "output", "type", "random", "tokenizer", "seed", "threads"},
                  {{"-m", "model"}, {"-o", "output"}, {"-h", "help"}});
  if (args.has("help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  if (!args.positionals().empty()) throw std::invalid_argument("unexpected argument '" + args.positionals()[0] + "'");
  if (!args.has("output")) throw std::invalid_argument("missing -o out.gguf");
  if (!args.has("type")) throw std::invalid_argument("missing --type (e.g. q4_k_m, q8_0, q4_K)");
  if (args.has("model") == args.has("random")) throw std::invalid_argument("give either -m in.gguf or --random SHAPE");
  const TypeScheme scheme = parse_type_scheme(args.str("type", ""));
  const std::string out = args.str("output", "");
  ThreadPool pool(thread_count(args));

  const auto t0 = std::chrono::steady_clock::now();
  const ConvertProgress progress = [](std::size_t i, std::size_t n, const std::string& name, GgmlType from,
                                      GgmlType to) {
    std::fprintf(stderr, "\r[%4zu/%zu] %-28s %-6s -> %-6s", i + 1, n, name.c_str(), ggml_type_name(from),
                 ggml_type_name(to));
    std::fflush(stderr);
  };
  ConvertStats s;
  std::string source;
  if (args.has("random")) {
    if (!args.has("tokenizer")) throw std::invalid_argument("--random needs --tokenizer tok.gguf");
    const SyntheticShape shape = parse_synthetic_shape(args.str("random", ""));
    const GgufFile tok = GgufFile::open(args.str("tokenizer", ""));
    s = write_synthetic_model(out, shape, tok, scheme, static_cast<std::uint64_t>(args.integer("seed", 0)), pool,
                              progress);
    source = "random weights (" + args.str("random", "") + ")";
  } else {
    source = args.str("model", "");
    s = convert_gguf(GgufFile::open(source), out, scheme, pool, progress);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "\n");

  std::string types;
  for (const auto& [name, count] : s.types_after)
    types += (types.empty() ? "" : ", ") + name + " " + std::to_string(count);
  std::printf("wrote %s from %s as %s in %.1f s\n", out.c_str(), source.c_str(), scheme.name.c_str(), seconds);
  if (s.bytes_before > 0)
    std::printf("  tensor bytes %llu -> %llu (%.2fx smaller)\n", static_cast<unsigned long long>(s.bytes_before),
                static_cast<unsigned long long>(s.bytes_after),
                static_cast<double>(s.bytes_before) / static_cast<double>(s.bytes_after));
  else
    std::printf("  tensor bytes %llu\n", static_cast<unsigned long long>(s.bytes_after));
  std::printf("  matrices: %llu weights, %.4f bits per weight; %zu of %zu tensors changed type\n",
              static_cast<unsigned long long>(s.matrix_weights), s.bits_per_weight(), s.converted, s.tensors);
  std::printf("  tensors per type: %s\n", types.c_str());
  return 0;
}

}  // namespace veloxquant::cli
