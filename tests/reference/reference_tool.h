// Runs the llama.cpp reference tool (tests/reference/llama_reference.mjs, node + node-llama-cpp
// installed by scripts/install-reference.sh) from the tests.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "io/json.h"

namespace veloxquant::reference {

// Why the reference cannot run on this machine (no node, the package not installed), or nothing.
std::optional<std::string> reference_unavailable();

// True where the environment says the reference must run (VELOXQUANT_REQUIRE_REFERENCE=1, as in
// CI): tests then fail instead of skipping when it is unavailable.
bool reference_required();

// `node llama_reference.mjs args...`; its JSON output. Throws std::runtime_error with the tool's
// error output when it fails.
Json run_reference(const std::vector<std::string>& args);

}  // namespace veloxquant::reference

// In a test body: skips (or, where the reference is required, fails) when it cannot run.
#define VELOXQUANT_NEED_LLAMA_REFERENCE()                                                                       \
  do {                                                                                                          \
    if (const auto why = ::veloxquant::reference::reference_unavailable()) {                                    \
      if (::veloxquant::reference::reference_required()) FAIL() << *why << " (VELOXQUANT_REQUIRE_REFERENCE=1)"; \
      GTEST_SKIP() << *why << "; install it with scripts/install-reference.sh";                                 \
    }                                                                                                           \
  } while (0)
