// Resident memory (src/util/memory_usage.h) and what it shows about the runner: the model's
// weights are read from the file mapping, not copied into allocated memory.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "runner/kv_store.h"
#include "runner/llama_forward.h"
#include "runner/llama_model.h"
#include "util/memory_usage.h"

namespace veloxquant {
namespace {

const std::string kModel = std::string(VELOXQUANT_SHARED_DIR) + "/models/tiny-llama-5m-f32.gguf";

TEST(MemoryUsage, ReadsTheProcessStatus) {
#ifndef __linux__
  GTEST_SKIP() << "/proc/self/status is Linux's";
#endif
  const std::optional<MemoryUsage> m = memory_usage();
  ASSERT_TRUE(m.has_value());
  EXPECT_GT(m->resident, 0u);
  EXPECT_GE(m->peak_resident, m->resident);
  EXPECT_GT(m->anonymous, 0u);
  EXPECT_LE(m->anonymous + m->file, m->resident + 1024 * 1024);  // RssShmem is the rest
  // 64 MiB allocated and touched show up as anonymous memory.
  std::vector<std::uint8_t> block(64 << 20, 1);
  const std::optional<MemoryUsage> after = memory_usage();
  EXPECT_GE(after->anonymous, m->anonymous + (60u << 20));
  EXPECT_NE(block[12345], 0);
  EXPECT_NE(memory_summary().find("resident"), std::string::npos);
}

// Loading the 21 MB f32 model and running 64 tokens through it: the weights are views of the
// mapping (the same addresses as the file's tensors), the touched file pages appear as mapped file
// memory, and allocated memory grows by far less than the model.
TEST(MemoryUsage, ModelIsMappedNotCopied) {
#ifndef __linux__
  GTEST_SKIP() << "/proc/self/status is Linux's";
#endif
  if (!std::filesystem::exists(kModel)) GTEST_SKIP() << "no shared model at " << kModel;
  const std::size_t file_bytes = std::filesystem::file_size(kModel);
  const MemoryUsage before = *memory_usage();
  {
    const LlamaModel model = LlamaModel::load(kModel);
    EXPECT_EQ(model.layers()[0].wq.data, model.file().tensor("blk.0.attn_q.weight").data);
    EXPECT_EQ(model.output().data, model.file().tensor("output.weight").data);
    EXPECT_EQ(model.token_embedding().data, model.file().tensor("token_embd.weight").data);
    ThreadPool pool(1);
    const LlamaConfig& c = model.config();
    const std::unique_ptr<KvStore> store =
        make_kv_store(KvStoreOptions{}, {c.layers, c.heads, c.kv_heads, c.head_dim}, pool);
    LlamaSession session(model, *store, pool);
    std::vector<std::int32_t> tokens(64);
    for (std::size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<std::int32_t>(7 * i % c.vocab);
    std::vector<float> logits(c.vocab);
    session.forward(tokens.data(), tokens.size(), logits.data(), false);
    const MemoryUsage during = *memory_usage();
    const double allocated = static_cast<double>(during.anonymous) - static_cast<double>(before.anonymous);
    const double mapped = static_cast<double>(during.file) - static_cast<double>(before.file);
    std::printf("model %zu bytes: allocated memory +%.0f bytes, mapped file memory +%.0f bytes\n", file_bytes,
                allocated, mapped);
    EXPECT_LT(allocated, 0.25 * static_cast<double>(file_bytes));
    EXPECT_GT(mapped, 0.5 * static_cast<double>(file_bytes));
  }
}

}  // namespace
}  // namespace veloxquant
