#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>

#include "cli.h"
#include "kernels/targets.h"

namespace {

struct Command {
  const char* name;
  int (*run)(int, char**);
  const char* help;
};

// Adding a subcommand: declare it in cli.h, implement it in cmd_<name>.cpp, list it here.
constexpr Command kCommands[] = {
    {"demo", veloxquant::cli::cmd_demo, "encode random vectors with every method and print a table"},
    {"eval", veloxquant::cli::cmd_eval, "measure MSE and inner-product error of formats on random vectors"},
    {"bench", veloxquant::cli::cmd_bench, "time the KV cache per format: attend, append, encode"},
    {"precompute", veloxquant::cli::cmd_precompute, "write codebooks, rotation and QJL matrix as .npy + manifest.json"},
    {"inspect", veloxquant::cli::cmd_inspect, "show what an artifact directory or .npy file holds, with checks"},
    {"run", veloxquant::cli::cmd_run, "generate text with a GGUF Llama model, attention on a compressed KV cache"},
    {"perplexity", veloxquant::cli::cmd_perplexity,
     "perplexity, KL divergence and top-1 agreement of a KV cache format"},
    {"quantize-model", veloxquant::cli::cmd_quantize_model, "quantize a GGUF model's matrices once into a .vqm file"},
    {"convert", veloxquant::cli::cmd_convert,
     "write a GGUF model in other ggml weight types (q4_k_m, q8_0, ...), or a random one of a given shape"},
    {"serve", veloxquant::cli::cmd_serve, "OpenAI-compatible HTTP server, sessions in compressed KV caches"},
};

void print_usage() {
  std::printf("usage: veloxquant <command> [options]   (veloxquant <command> --help)\n\ncommands:\n");
  for (const Command& c : kCommands) std::printf("  %-12s %s\n", c.name, c.help);
  std::printf(
      "\nany command: --target NAME (or VELOXQUANT_TARGET=NAME) runs the SIMD kernels of a smaller CPU:\n"
      "  native (default), avx512, avx2, sse4, scalar\n");
}

// Takes --target NAME / --target=NAME out of argv (any position) and applies it, or
// VELOXQUANT_TARGET when there is none, before any cache or quantizer exists.
void apply_target_option(int& argc, char** argv) {
  std::string target;
  if (const char* env = std::getenv("VELOXQUANT_TARGET")) target = env;
  int out = 1;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--target")) {
      if (i + 1 >= argc) throw std::invalid_argument("--target needs a value");
      target = argv[++i];
    } else if (!std::strncmp(argv[i], "--target=", 9)) {
      target = argv[i] + 9;
    } else {
      argv[out++] = argv[i];
    }
  }
  argc = out;
  argv[argc] = nullptr;
  if (!target.empty()) veloxquant::kernels::restrict_targets(target);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    apply_target_option(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "veloxquant: error: %s\n", e.what());
    return 2;
  }
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    print_usage();
    return argc < 2 ? 2 : 0;
  }
  for (const Command& c : kCommands) {
    if (std::strcmp(argv[1], c.name) != 0) continue;
    try {
      return c.run(argc - 1, argv + 1);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "veloxquant %s: error: %s\n", c.name, e.what());
      return 1;
    }
  }
  std::fprintf(stderr, "veloxquant: unknown command '%s'\n", argv[1]);
  print_usage();
  return 2;
}
