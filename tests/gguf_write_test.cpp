// write_gguf re-creates what GgufFile read: metadata of every type and tensor bytes.
#include <gtest/gtest.h>

#include <cstring>

#include "io/gguf.h"
#include "io/gguf_write.h"
#include "runner_gguf_writer.h"

namespace veloxquant {
namespace {

TEST(GgufWrite, RoundTripsMetadataAndTensors) {
  testing::GgufWriter w;
  w.kv_string("general.architecture", "llama");
  w.kv_u32("general.alignment", 32);
  w.kv_f32("a.f32", 0.1f);
  w.kv_bool("a.bool", true);
  w.kv_strings("a.strings", {"x", "", "▁ab"});
  w.kv_f32s("a.f32s", {1.5f, -2.25f, 3e-7f});
  w.kv_i32s("a.i32s", {-1, 0, 2147483647});
  w.tensor("t.f16", {3, 2}, 1, {1, 2, 3, 4, 5, 6});
  w.tensor("t.q8", {32}, 8, std::vector<float>(32, 0.5f));
  const GgufFile a = GgufFile::from_bytes(w.bytes());
  std::vector<GgufTensorOut> tensors;
  for (const GgufTensor& t : a.tensors()) tensors.push_back({t.name, t.dims, t.type, t.data, t.bytes});
  const GgufFile b = GgufFile::from_bytes(write_gguf(a.metadata(), tensors, a.alignment()));
  ASSERT_EQ(b.metadata().size(), a.metadata().size());
  for (const auto& [key, v] : a.metadata()) {
    const GgufValue& u = b.metadata().at(key);
    EXPECT_EQ(u.type, v.type) << key;
    EXPECT_EQ(u.elem_type, v.elem_type) << key;
    EXPECT_EQ(u.scalar, v.scalar) << key;
    EXPECT_EQ(u.strings, v.strings) << key;
    EXPECT_EQ(u.numbers, v.numbers) << key;
  }
  EXPECT_EQ(b.alignment(), 32u);
  ASSERT_EQ(b.tensors().size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(b.tensors()[i].name, a.tensors()[i].name);
    EXPECT_EQ(b.tensors()[i].dims, a.tensors()[i].dims);
    EXPECT_EQ(b.tensors()[i].type, a.tensors()[i].type);
    ASSERT_EQ(b.tensors()[i].bytes, a.tensors()[i].bytes);
    EXPECT_EQ(std::memcmp(b.tensors()[i].data, a.tensors()[i].data, a.tensors()[i].bytes), 0);
  }
  EXPECT_THROW(write_gguf(a.metadata(), tensors, 48), std::invalid_argument);
}

}  // namespace
}  // namespace veloxquant
