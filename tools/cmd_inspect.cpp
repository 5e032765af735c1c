// `veloxquant inspect PATH`: what an artifact directory (or a single .npy file) holds, with checks.
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "args.h"
#include "cache/persist.h"
#include "cli.h"
#include "inspect_model.h"
#include "io/artifacts.h"
#include "io/json.h"
#include "io/npy.h"

namespace veloxquant::cli {

namespace {

constexpr const char* kHelp =
    "usage: veloxquant inspect PATH [--json]\n"
    "\n"
    "PATH is an artifact directory written by `veloxquant precompute` (its manifest is validated\n"
    "and every file's size, CRC-32, dtype and shape checked), a saved KV cache file (header,\n"
    "configuration, tokens per layer, bytes and checksum of every section), a model file (GGUF or\n"
    "quantized .vqm: loaded with every check, then its configuration and tensors with bytes and\n"
    "bits per weight) or a .npy file.\n"
    "Exit code 1 when a check fails.\n"
    "  --json   print one JSON object instead of text\n";

std::string shape_text(const std::vector<std::size_t>& shape) {
  std::string s;
  for (std::size_t d : shape) s.append(s.empty() ? "" : "x").append(std::to_string(d));
  return shape.empty() ? "scalar" : s;
}

int inspect_artifacts(const std::string& dir, bool json) {
  const ArtifactManifest m = read_artifact_manifest(dir);
  const std::vector<ArtifactCheck> checks = check_artifact_files(dir, m);
  bool all_ok = true;
  for (const ArtifactCheck& c : checks) all_ok = all_ok && c.ok;
  if (json) {
    Json out = Json::object();
    out.set("path", Json::string(dir));
    out.set("kind", Json::string("artifacts"));
    out.set("valid", Json::boolean(all_ok));
    out.set("manifest", artifact_manifest_to_json(m));
    Json arr = Json::array();
    for (const ArtifactCheck& c : checks) {
      Json e = Json::object();
      e.set("file", Json::string(c.file));
      e.set("ok", Json::boolean(c.ok));
      if (!c.ok) e.set("problem", Json::string(c.problem));
      arr.push(std::move(e));
    }
    out.set("checks", arr);
    std::puts(out.dump(2).c_str());
    return all_ok ? 0 : 1;
  }
  std::string bits;
  for (int b : m.bits) bits.append(bits.empty() ? "" : ",").append(std::to_string(b));
  std::printf("artifact directory %s\n", dir.c_str());
  std::printf("  format version %d, written by veloxquant %s\n", m.format_version, m.library_version.c_str());
  std::printf("  dim %zu, bits %s, seed %llu\n", m.dim, bits.c_str(), static_cast<unsigned long long>(m.seed));
  std::printf("  rotation   %s, %s\n", m.rotation_kind.c_str(), m.rotation_file.c_str());
  std::printf("  qjl matrix %zu x %zu, seed %llu, %s\n", m.qjl_dim, m.dim, static_cast<unsigned long long>(m.qjl_seed),
              m.qjl_file.c_str());
  std::printf("  codebooks:\n");
  for (const ArtifactCodebook& c : m.codebooks) {
    if (c.level == 0)
      std::printf("    sphere      b=%d  mse/coord %.6g  d*mse %.6f\n", c.bits, c.mse,
                  c.mse * static_cast<double>(m.dim));
    else
      std::printf("    polar l=%d   b=%d  mse %.6g\n", c.level, c.bits, c.mse);
  }
  std::printf("  files:\n");
  for (std::size_t i = 0; i < m.files.size(); ++i) {
    const ArtifactFile& f = m.files[i];
    std::printf("    %-30s %s %-9s %8zu bytes  crc32 %08x  %s\n", f.name.c_str(), f.dtype.c_str(),
                shape_text(f.shape).c_str(), f.bytes, f.crc32, checks[i].ok ? "ok" : checks[i].problem.c_str());
  }
  std::printf("%s\n", all_ok ? "all files ok" : "CHECK FAILED");
  return all_ok ? 0 : 1;
}

int inspect_cache(const std::string& path, bool json) {
  const CacheFileInfo info = inspect_cache_file(path);
  const CacheConfig& c = info.config;
  bool all_ok = true;
  for (const CacheFileSection& s : info.sections) all_ok = all_ok && s.crc_ok;
  if (json) {
    Json out = Json::object();
    out.set("path", Json::string(path));
    out.set("kind", Json::string("kv_cache"));
    out.set("valid", Json::boolean(all_ok));
    out.set("version", Json::integer(info.version));
    out.set("file_bytes", Json::unsigned_integer(info.file_bytes));
    Json conf = Json::object();
    conf.set("layers", Json::unsigned_integer(c.layers));
    conf.set("kv_heads", Json::unsigned_integer(c.kv_heads));
    conf.set("q_heads", Json::unsigned_integer(c.q_heads));
    conf.set("head_dim", Json::unsigned_integer(c.head_dim));
    conf.set("key_format", Json::string(c.key_format));
    conf.set("value_format", Json::string(c.value_format));
    conf.set("exact_format", Json::string(c.exact_format));
    conf.set("window", Json::unsigned_integer(c.window));
    conf.set("sinks", Json::unsigned_integer(c.sinks));
    conf.set("max_tokens", Json::unsigned_integer(c.max_tokens));
    conf.set("page_tokens", Json::unsigned_integer(c.page_tokens));
    conf.set("seed", Json::unsigned_integer(c.seed));
    out.set("config", conf);
    Json tokens = Json::array();
    for (std::size_t t : info.layer_tokens) tokens.push(Json::unsigned_integer(t));
    out.set("layer_tokens", tokens);
    Json sections = Json::array();
    for (const CacheFileSection& s : info.sections) {
      Json e = Json::object();
      e.set("tag", Json::string(s.tag));
      e.set("offset", Json::unsigned_integer(s.offset));
      e.set("bytes", Json::unsigned_integer(s.bytes));
      e.set("crc_ok", Json::boolean(s.crc_ok));
      sections.push(std::move(e));
    }
    out.set("sections", sections);
    std::puts(out.dump(2).c_str());
    return all_ok ? 0 : 1;
  }
  std::printf("KV cache file %s: format version %u, %llu bytes\n", path.c_str(), info.version,
              static_cast<unsigned long long>(info.file_bytes));
  std::printf("  layers %zu, kv_heads %zu, q_heads %zu, head_dim %zu\n", c.layers, c.kv_heads, c.q_heads, c.head_dim);
  std::printf("  keys %s, values %s, exact %s; window %zu, sinks %zu, max_tokens %zu, page_tokens %zu, seed %llu\n",
              c.key_format.c_str(), c.value_format.c_str(), c.exact_format.c_str(), c.window, c.sinks, c.max_tokens,
              c.page_tokens, static_cast<unsigned long long>(c.seed));
  std::string tokens;
  for (std::size_t t : info.layer_tokens) tokens.append(tokens.empty() ? "" : ",").append(std::to_string(t));
  std::printf("  tokens per layer: %s\n", tokens.c_str());
  std::printf("  sections:\n");
  for (const CacheFileSection& s : info.sections)
    std::printf("    %s at %10llu  %12llu bytes  %s\n", s.tag.c_str(), static_cast<unsigned long long>(s.offset),
                static_cast<unsigned long long>(s.bytes), s.crc_ok ? "crc ok" : "CRC MISMATCH");
  std::printf("%s\n", all_ok ? "all sections ok" : "CHECK FAILED");
  return all_ok ? 0 : 1;
}

int inspect_npy(const std::string& path, bool json) {
  const NpyArray a = read_npy(path);
  if (json) {
    Json out = Json::object();
    out.set("path", Json::string(path));
    out.set("kind", Json::string("npy"));
    out.set("dtype", Json::string(npy_dtype_descr(a.dtype)));
    Json shape = Json::array();
    for (std::size_t d : a.shape) shape.push(Json::unsigned_integer(d));
    out.set("shape", shape);
    out.set("data_bytes", Json::unsigned_integer(a.data.size()));
    std::puts(out.dump(2).c_str());
  } else {
    std::printf("npy file %s: dtype %s, shape %s, %zu data bytes\n", path.c_str(), npy_dtype_descr(a.dtype),
                shape_text(a.shape).c_str(), a.data.size());
  }
  return 0;
}

}  // namespace

int cmd_inspect(int argc, char** argv) {
  const Args args(argc, argv, {"help", "json"}, {}, {{"-h", "help"}});
  if (args.has("help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  if (args.positionals().size() != 1) throw std::invalid_argument("expected exactly one PATH (see --help)");
  const std::string path = args.positionals()[0];
  namespace fs = std::filesystem;
  if (fs::is_directory(path)) return inspect_artifacts(path, args.has("json"));
  if (!fs::exists(path)) throw std::invalid_argument("'" + path + "' does not exist");
  if (is_cache_file(path)) return inspect_cache(path, args.has("json"));
  if (is_model_file(path)) return inspect_model(path, args.has("json"));
  return inspect_npy(path, args.has("json"));
}

}  // namespace veloxquant::cli
