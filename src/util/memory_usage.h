// This process's resident memory as Linux reports it (/proc/self/status): everything resident,
// the peak, and its two parts, anonymous memory (allocations: a copied model would be here) and
// file pages (a memory-mapped model's touched pages, shared with the page cache).
#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace veloxquant {

struct MemoryUsage {
  std::size_t resident = 0;       // VmRSS
  std::size_t peak_resident = 0;  // VmHWM
  std::size_t anonymous = 0;      // RssAnon
  std::size_t file = 0;           // RssFile (mapped files, e.g. the model)
};

// Bytes; nothing where /proc/self/status cannot be read (not Linux).
std::optional<MemoryUsage> memory_usage();

// "resident 41.2 MiB (peak 43.0 MiB; mapped files 20.1 MiB, allocated 19.8 MiB)", or "" where
// memory_usage() has nothing.
std::string memory_summary();

}  // namespace veloxquant
