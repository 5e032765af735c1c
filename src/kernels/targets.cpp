#include "kernels/targets.h"

#include <hwy/targets.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace veloxquant::kernels {

namespace {

std::atomic<bool> g_block_layout{true}, g_avx512{true};

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
  const std::int64_t targets = hwy::SupportedTargets();
  return hwy::TargetName(targets & -targets);
}

// VELOXQUANT_TARGET restricts every program that links the library (the tests, Python), once, at
// the first question about the page layout or the kernels, so before any cache is built.
void apply_environment_once() {
  static const bool applied = [] {
    const char* name = std::getenv("VELOXQUANT_TARGET");
    if (name == nullptr || *name == '\0') return false;
    try {
      restrict_targets(name);
      return true;
    } catch (const std::invalid_argument& e) {  // a library cannot refuse to run: say so and go on
      std::fprintf(stderr, "veloxquant: VELOXQUANT_TARGET ignored: %s\n", e.what());
      return false;
    }
  }();
  (void)applied;
}

// Also at load time, before main: a test that mocks Highway's targets first (Determinism) must not
// be the first to ask, or the CPU would seem to lack the target.
const bool g_environment_at_load = (apply_environment_once(), true);

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
    if ((hwy::SupportedTargets() & c.bit) == 0 && c.bit != HWY_EMU128)
      throw std::invalid_argument("target '" + name + "' is not supported by this CPU (best: " + best_target_name() +
                                  ")");
    hwy::DisableTargets(c.bit - 1);  // every better target
#if HWY_ARCH_X86
    if (c.bit != HWY_AVX3) g_avx512 = false;
    if (c.bit != HWY_AVX3 && c.bit != HWY_AVX2) g_block_layout = false;
#else
    g_avx512 = false;
    g_block_layout = false;
#endif
    return;
  }
  std::string known;
  for (const std::string& n : target_names()) known += (known.empty() ? "" : ", ") + n;
  throw std::invalid_argument("unknown target '" + name + "' (known: " + known + ")");
}

std::string active_target_name() {
  apply_environment_once();
  return best_target_name();
}

bool block_layout_allowed() {
  apply_environment_once();
  return g_block_layout.load(std::memory_order_relaxed);
}

bool avx512_allowed() {
  apply_environment_once();
  return g_avx512.load(std::memory_order_relaxed);
}

}  // namespace veloxquant::kernels
