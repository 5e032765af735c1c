// `veloxquant precompute`: writes codebooks, the rotation and the QJL matrix as .npy + manifest.json.
#include <cstdio>
#include <stdexcept>
#include <string>

#include "args.h"
#include "cli.h"
#include "io/artifacts.h"
#include "io/json.h"

namespace veloxquant::cli {

namespace {

constexpr const char* kHelp =
    "usage: veloxquant precompute --out DIR [--dim 128] [--bits 1,2,3,4] [--seed 42] [--qjl-dim M] [--json]\n"
    "\n"
    "Writes Lloyd-Max sphere codebooks (one per bit width), PolarQuant angle codebooks (levels 1-4),\n"
    "the rotation matrix and the QJL Gaussian matrix as .npy files numpy can load, plus manifest.json\n"
    "with a CRC-32 per file. load_artifacts(DIR) reads them back instead of solving again.\n"
    "  --out DIR      output directory (created if missing)\n"
    "  --dim D        head dimension, 2..65536 (default 128)\n"
    "  --bits LIST    comma-separated bit widths 1..8 (default 1,2,3,4)\n"
    "  --seed S       uint64 quantizer seed; the files hold the rotation and QJL matrix of a\n"
    "                 quantizer made with it (default 42)\n"
    "  --qjl-dim M    rows of the QJL matrix (default: D)\n"
    "  --json         print the manifest as JSON instead of a summary\n";

}  // namespace

int cmd_precompute(int argc, char** argv) {
  const Args args(argc, argv, {"help", "json"}, {"out", "dim", "bits", "seed", "qjl-dim"}, {{"-h", "help"}});
  if (args.has("help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  if (!args.positionals().empty()) throw std::invalid_argument("unexpected argument '" + args.positionals()[0] + "'");
  if (!args.has("out")) throw std::invalid_argument("--out DIR is required");
  ArtifactOptions options;
  const long long dim = args.integer("dim", 128);
  if (dim < 2 || dim > 65536) throw std::invalid_argument("--dim " + std::to_string(dim) + " is outside [2, 65536]");
  options.dim = static_cast<std::size_t>(dim);
  options.bits.clear();
  for (long long b : args.int_list("bits", "1,2,3,4")) {
    if (b < 1 || b > 8) throw std::invalid_argument("--bits: " + std::to_string(b) + " is outside [1, 8]");
    options.bits.push_back(static_cast<int>(b));
  }
  if (options.bits.empty()) throw std::invalid_argument("--bits is empty");
  const std::string seed = args.str("seed", "42");
  std::size_t used = 0;
  if (seed.empty() || seed[0] == '-') throw std::invalid_argument("--seed '" + seed + "' is not a uint64");
  try {
    options.seed = std::stoull(seed, &used, 10);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != seed.size()) throw std::invalid_argument("--seed '" + seed + "' is not a uint64");
  const long long m = args.integer("qjl-dim", 0);
  if (m < 0 || m > 65536) throw std::invalid_argument("--qjl-dim " + std::to_string(m) + " is outside [1, 65536]");
  options.qjl_dim = static_cast<std::size_t>(m);

  std::fprintf(stderr, "precompute: solving codebooks for dim %zu ...\n", options.dim);
  const std::string out = args.str("out", "");
  const ArtifactManifest manifest = write_artifacts(out, options);
  if (args.has("json")) {
    std::puts(artifact_manifest_to_json(manifest).dump(2).c_str());
  } else {
    std::size_t bytes = 0;
    for (const ArtifactFile& f : manifest.files) bytes += f.bytes;
    std::printf("wrote %zu files (%zu bytes) and manifest.json to %s\n", manifest.files.size(), bytes, out.c_str());
  }
  return 0;
}

}  // namespace veloxquant::cli
