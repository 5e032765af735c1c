#include "kernels/targets.h"

#include <hwy/targets.h>

#include <atomic>
#include <cstdint>
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
      throw std::invalid_argument("target '" + name + "' is not supported by this CPU (best: " + active_target_name() +
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
  const std::int64_t targets = hwy::SupportedTargets();
  return hwy::TargetName(targets & -targets);  // the lowest bit: the best target
}

bool block_layout_allowed() { return g_block_layout.load(std::memory_order_relaxed); }

bool avx512_allowed() { return g_avx512.load(std::memory_order_relaxed); }

}  // namespace veloxquant::kernels
