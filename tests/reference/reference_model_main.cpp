// reference_model: model files for the runner-vs-llama.cpp benchmark (tests/reference/convert_model.h).
//   reference_model convert IN.gguf OUT.gguf TYPE [--context N]
//   reference_model synth OUT.gguf TYPE --tokenizer-from F.gguf [--dim N --layers N --heads N
//                   --kv-heads N --ffn N --vocab N --context N --seed S]
// TYPE: f32, f16 or q8_0. The synthetic defaults are Llama-3.2-1B's shape with a 32 000 vocabulary.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "reference/convert_model.h"

namespace {

std::uint64_t number(const std::map<std::string, std::string>& options, const std::string& name,
                     std::uint64_t fallback) {
  const auto it = options.find(name);
  if (it == options.end()) return fallback;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(it->second.c_str(), &end, 10);
  if (it->second.empty() || *end != '\0')
    throw std::invalid_argument("--" + name + " " + it->second + " is not a number");
  return v;
}

int run(int argc, char** argv) {
  std::vector<std::string> positional;
  std::map<std::string, std::string> options;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--", 0) == 0) {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      options[a.substr(2)] = argv[++i];
    } else {
      positional.push_back(a);
    }
  }
  using namespace veloxquant::reference;
  if (positional.size() == 4 && positional[0] == "convert") {
    ConvertOptions o;
    if (options.count("context")) o.context_length = number(options, "context", 0);
    convert_model(positional[1], positional[2], positional[3], o);
    return 0;
  }
  if (positional.size() == 3 && positional[0] == "synth" && options.count("tokenizer-from")) {
    SyntheticShape s;
    s.dim = number(options, "dim", s.dim);
    s.layers = number(options, "layers", s.layers);
    s.heads = number(options, "heads", s.heads);
    s.kv_heads = number(options, "kv-heads", s.kv_heads);
    s.ffn = number(options, "ffn", s.ffn);
    s.vocab = number(options, "vocab", s.vocab);
    s.context = number(options, "context", s.context);
    write_synthetic(positional[1], s, positional[2], options.at("tokenizer-from"), number(options, "seed", 1));
    return 0;
  }
  std::fputs(
      "usage: reference_model convert IN.gguf OUT.gguf TYPE [--context N]\n"
      "       reference_model synth OUT.gguf TYPE --tokenizer-from F.gguf [--dim --layers --heads --kv-heads --ffn\n"
      "                       --vocab --context --seed]\n",
      stderr);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "reference_model: %s\n", e.what());
    return 1;
  }
}
