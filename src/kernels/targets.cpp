#include "kernels/targets.h"

#include <hwy/targets.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace veloxquant::kernels {

namespace {

// Highway numbers x86 targets from best (low bits) to worst, so "T and below" keeps T's bit and
// every higher one.
struct TargetChoice {
  const char* name;
  std::int64_t bit;  // 0: native
};

constexpr TargetChoice kChoices[] = {
    {"native", 0},
#if HWY_ARCH_X86
    {"avx512", HWY_AVX3},   {"avx2", HWY_AVX2}, {"sse4", HWY_SSE4},
#endif
    {"scalar", HWY_EMU128},
};

// The best target dispatch chooses now: the lowest bit of the supported set.
std::string best_target_name() {
  const std::int64_t targets = supported_targets();
  return hwy::TargetName(targets & -targets);
}

// VELOXQUANT_TARGET restricts every program that links the library (the tests, Python), at load
// time, before main: so before any cache is built, and before a test that mocks Highway's targets
// (Determinism) could make the CPU seem to lack the target.
bool apply_environment() {
  const char* name = std::getenv("VELOXQUANT_TARGET");
  if (name == nullptr || *name == '\0') return false;
  try {
    restrict_targets(name);
    return true;
  } catch (const std::invalid_argument& e) {  // a library cannot refuse to run: say so and go on
    std::fprintf(stderr, "veloxquant: VELOXQUANT_TARGET ignored: %s\n", e.what());
    return false;
  }
}
const bool g_environment_applied = apply_environment();

}  // namespace

const std::vector<std::string>& target_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const TargetChoice& c : kChoices) v.emplace_back(c.name);
    return v;
  }();
  return names;
}

void restrict_targets(const std::string& name) {
  for (const TargetChoice& c : kChoices) {
    if (name != c.name) continue;
    if (c.bit == 0) return;
    if ((supported_targets() & c.bit) == 0 && c.bit != HWY_EMU128)
      throw std::invalid_argument("target '" + name + "' is not supported by this CPU (best: " + best_target_name() +
                                  ")");
    hwy::DisableTargets(c.bit - 1);  // every better target
    return;
  }
  std::string known;
  for (const std::string& n : target_names()) known += (known.empty() ? "" : ", ") + n;
  throw std::invalid_argument("unknown target '" + name + "' (known: " + known + ")");
}

std::int64_t supported_targets() {
  const std::int64_t targets = hwy::SupportedTargets();
  hwy::GetChosenTarget().Update(targets);
  return targets;
}

std::string active_target_name() { return best_target_name(); }

}  // namespace veloxquant::kernels
