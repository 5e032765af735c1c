// The formats and dimensions fuzz_decode walks (shared with make_corpus so seeds match).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "veloxquant/format.h"

namespace veloxquant::fuzz {

// Every format of the table plus option variants (other sketch sizes, level bits, outliers).
inline std::vector<std::string> decode_format_names() {
  std::vector<std::string> names;
  for (const FormatInfo& f : format_table()) names.emplace_back(f.name);
  for (const char* extra : {"qjl:m=7", "qjl:m=300", "polar:bits=4/3/3/3", "polar:bits=1/8/1/8", "tq3:outliers=16/4",
                            "tq1:outliers=1/8", "tq4:scale=norm", "tqp3:scale=norm"})
    names.emplace_back(extra);
  return names;
}

inline constexpr std::size_t kDecodeDims[] = {1, 2, 3, 15, 16, 17, 31, 64, 96, 128, 129, 256};

}  // namespace veloxquant::fuzz
