#include "util/memory_usage.h"

#include <cstdio>
#include <fstream>
#include <sstream>

namespace veloxquant {

std::optional<MemoryUsage> memory_usage() {
  std::ifstream in("/proc/self/status");
  if (!in) return std::nullopt;
  MemoryUsage m;
  bool found = false;
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string key;
    std::size_t kib = 0;
    if (!(fields >> key >> kib)) continue;
    std::size_t* field = key == "VmRSS:"     ? &m.resident
                         : key == "VmHWM:"   ? &m.peak_resident
                         : key == "RssAnon:" ? &m.anonymous
                         : key == "RssFile:" ? &m.file
                                             : nullptr;
    if (field) {
      *field = kib * 1024;
      found = true;
    }
  }
  if (!found) return std::nullopt;
  return m;
}

std::string memory_summary() {
  const std::optional<MemoryUsage> m = memory_usage();
  if (!m) return "";
  const auto mib = [](std::size_t b) { return static_cast<double>(b) / (1024.0 * 1024.0); };
  char text[160];
  std::snprintf(text, sizeof text, "resident %.1f MiB (peak %.1f MiB; mapped files %.1f MiB, allocated %.1f MiB)",
                mib(m->resident), mib(m->peak_resident), mib(m->file), mib(m->anonymous));
  return text;
}

}  // namespace veloxquant
