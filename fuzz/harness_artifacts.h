// Artifact loader: the input is manifest.json, placed next to a valid set of artifact files
// (written once per process); load_artifacts must load or throw std::runtime_error. The JSON
// parser is also checked directly: what it parses must dump and parse back to the same text.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>

#include "io/artifacts.h"
#include "io/json.h"

namespace veloxquant::fuzz_harness {

inline std::string g_dir;

inline void remove_dir() { std::filesystem::remove_all(g_dir); }

inline int fuzz_artifacts_init() {
  g_dir = (std::filesystem::temp_directory_path() / ("vq_fuzz_artifacts_" + std::to_string(::getpid()))).string();
  veloxquant::ArtifactOptions o;
  o.dim = 4;
  o.bits = {1, 2};
  o.seed = 42;
  veloxquant::write_artifacts(g_dir, o);
  std::atexit(remove_dir);
  return 0;
}

inline int fuzz_artifacts(const std::uint8_t* data, std::size_t size) {
  using namespace veloxquant;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const Json j = Json::parse(text);
    const std::string dumped = j.dump(0);
    if (Json::parse(dumped).dump(0) != dumped) std::abort();
  } catch (const std::runtime_error&) {
  }
  {
    std::ofstream f(g_dir + "/manifest.json", std::ios::binary | std::ios::trunc);
    f.write(text.data(), static_cast<std::streamsize>(text.size()));
  }
  try {
    (void)load_artifacts(g_dir);
  } catch (const std::runtime_error&) {
  }
  return 0;
}

}  // namespace veloxquant::fuzz_harness
