#include <cstdio>
#include <cstring>
#include <exception>

#include "cli.h"

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
}

}  // namespace

int main(int argc, char** argv) {
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
