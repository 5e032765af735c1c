#include "io/artifacts.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "io/crc32.h"
#include "io/json.h"
#include "io/npy.h"
#include "quant/quantizers.h"
#include "veloxquant/codebook.h"
#include "veloxquant/rotation.h"

namespace veloxquant {
namespace {

namespace fs = std::filesystem;

class ArtifactsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("vq_artifacts_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    ArtifactOptions o;
    o.dim = 64;
    o.bits = {3, 1, 2, 2};  // unsorted, with a duplicate: written sorted and unique
    o.seed = 7;
    o.qjl_dim = 32;
    manifest_ = write_artifacts(dir_.string(), o);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string read(const std::string& name) const {
    std::ifstream f(dir_ / name, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), {}};
  }
  void write(const std::string& name, const std::string& bytes) const {
    std::ofstream(dir_ / name, std::ios::binary | std::ios::trunc) << bytes;
  }
  std::string load_error() const {
    try {
      load_artifacts(dir_.string());
    } catch (const std::runtime_error& e) {
      return e.what();
    }
    return "";
  }
  // Rewrites manifest.json after editing its JSON text.
  void edit_manifest(const std::string& from, const std::string& to) const {
    std::string m = read("manifest.json");
    const auto at = m.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    m.replace(at, from.size(), to);
    write("manifest.json", m);
  }

  fs::path dir_;
  ArtifactManifest manifest_;
};

TEST_F(ArtifactsTest, PrecomputeThenLoadGivesTheLibrarysArrays) {
  EXPECT_EQ(manifest_.bits, (std::vector<int>{1, 2, 3}));
  const LoadedArtifacts a = load_artifacts(dir_.string());
  EXPECT_EQ(a.manifest.dim, 64u);
  EXPECT_EQ(a.manifest.seed, 7u);
  EXPECT_EQ(a.manifest.rotation_kind, "hadamard");
  ASSERT_EQ(a.sphere_codebooks.size(), 3u);
  for (const Codebook& cb : a.sphere_codebooks) {
    const Codebook& lib = sphere_codebook(64, cb.bits);
    EXPECT_EQ(cb.centroids, lib.centroids);
    EXPECT_EQ(cb.boundaries, lib.boundaries);
    EXPECT_EQ(cb.mse, lib.mse);
  }
  ASSERT_EQ(a.polar_codebooks.size(), 4u * 3u);
  for (const auto& [level, cb] : a.polar_codebooks) {
    EXPECT_EQ(cb.centroids, polar_angle_codebook(level, cb.bits).centroids);
    EXPECT_EQ(cb.boundaries, polar_angle_codebook(level, cb.bits).boundaries);
  }
  EXPECT_EQ(a.manifest.rotation_seed, purpose_seed(7, SeedPurpose::kRotation));
  EXPECT_EQ(a.rotation, Rotation(64, a.manifest.rotation_seed).matrix());
  EXPECT_EQ(a.manifest.qjl_seed, purpose_seed(7, SeedPurpose::kSketch));
  EXPECT_EQ(a.qjl_matrix, gaussian_matrix(32, 64, a.manifest.qjl_seed));
  // The manifest read back equals the one written.
  EXPECT_EQ(artifact_manifest_to_json(read_artifact_manifest(dir_.string())).dump(),
            artifact_manifest_to_json(manifest_).dump());
  for (const ArtifactCheck& c : check_artifact_files(dir_.string(), a.manifest))
    EXPECT_TRUE(c.ok) << c.file << c.problem;
}

TEST_F(ArtifactsTest, LoadInstallsTheCodebooksItRead) {
  // Replace the 2-bit centroids by slightly different (still valid) values; after loading,
  // sphere_codebook must return the file's values, proving the library uses the artifacts.
  const ArtifactCodebook* entry = nullptr;
  for (const ArtifactCodebook& c : manifest_.codebooks)
    if (c.level == 0 && c.bits == 2) entry = &c;
  ASSERT_NE(entry, nullptr);
  const Codebook original = sphere_codebook(64, 2);
  std::vector<float> edited = original.centroids;
  for (float& c : edited) c *= 1.001f;
  const std::vector<std::size_t> shape = {edited.size()};
  const auto image =
      serialize_npy(NpyDtype::kF32, shape, {reinterpret_cast<const std::uint8_t*>(edited.data()), edited.size() * 4});
  const std::string old_crc = [&] {
    for (const ArtifactFile& f : manifest_.files)
      if (f.name == entry->centroids_file) {
        char buf[9];
        std::snprintf(buf, sizeof buf, "%08x", f.crc32);
        return std::string(buf);
      }
    return std::string();
  }();
  write(entry->centroids_file, std::string(image.begin(), image.end()));
  char new_crc[9];
  std::snprintf(new_crc, sizeof new_crc, "%08x", crc32(image.data(), image.size()));
  edit_manifest(old_crc, new_crc);
  load_artifacts(dir_.string());
  EXPECT_EQ(sphere_codebook(64, 2).centroids, edited);
  set_sphere_codebook(64, 2, original);  // leave the process state as other tests expect
  EXPECT_EQ(sphere_codebook(64, 2).centroids, original.centroids);
}

TEST_F(ArtifactsTest, EveryCorruptedFileIsNamed) {
  for (const ArtifactFile& f : manifest_.files) {
    const std::string good = read(f.name);
    std::string bad = good;
    bad[bad.size() / 2] = static_cast<char>(bad[bad.size() / 2] ^ 0x40);
    write(f.name, bad);
    std::string err = load_error();
    EXPECT_NE(err.find(f.name), std::string::npos) << err;
    EXPECT_NE(err.find("CRC-32"), std::string::npos) << err;
    write(f.name, good.substr(0, good.size() - 1));
    err = load_error();
    EXPECT_NE(err.find("bytes, the manifest says"), std::string::npos) << err;
    fs::remove(dir_ / f.name);
    err = load_error();
    EXPECT_NE(err.find("missing"), std::string::npos) << err;
    write(f.name, good);
  }
  EXPECT_EQ(load_error(), "");
}

TEST_F(ArtifactsTest, ManifestTruncatedAnywhereIsRejected) {
  const std::string good = read("manifest.json");
  for (std::size_t len = 0; len + 1 < good.size(); len += 7) {
    write("manifest.json", good.substr(0, len));
    EXPECT_NE(load_error(), "") << "length " << len;
  }
  write("manifest.json", good);
  EXPECT_EQ(load_error(), "");
}

TEST_F(ArtifactsTest, BadManifestsGiveClearErrors) {
  const std::string good = read("manifest.json");
  const std::pair<std::pair<std::string, std::string>, std::string> cases[] = {
      {{"\"format_version\": 1", "\"format_version\": 2"}, "unsupported artifact format_version 2"},
      {{"\"format\": \"veloxquant-artifacts\"", "\"format\": \"other\""}, "format is 'other'"},
      {{"\"dim\": 64", "\"dim\": 1"}, "dim = 1"},
      {{"\"dim\": 64", "\"dim\": \"64\""}, "dim must be a non-negative integer"},
      {{"\"kind\": \"hadamard\"", "\"kind\": \"dct\""}, "rotation.kind 'dct'"},
      {{"\"bits\": [\n    1,", "\"bits\": [\n    9,"}, "bits entry = 9"},
      {{"\"name\": \"sphere_d64_b1_centroids.npy\"", "\"name\": \"../sphere_d64_b1_centroids.npy\""},
       "not a plain file name"},
      {{"\"dtype\": \"<f4\"", "\"dtype\": \"<f8\""}, "must be float32"},
      {{"\"shape\": [\n        2\n      ]", "\"shape\": [\n        3\n      ]"}, "must have shape [2]"},
      {{"\"crc32\": \"", "\"crc32\": \"zz"}, "8 lowercase hex digits"},
      {{"\"seed\": 7,", "\"seed\": 8,"}, "derived from seed 8"},
  };
  for (const auto& [edit, message] : cases) {
    write("manifest.json", good);
    edit_manifest(edit.first, edit.second);
    const std::string err = load_error();
    EXPECT_NE(err.find(message), std::string::npos) << edit.second << " -> " << err;
  }
  write("manifest.json", good);
  EXPECT_EQ(load_error(), "");
}

TEST(Artifacts, WriteRejectsBadOptions) {
  ArtifactOptions o;
  o.bits = {0};
  EXPECT_THROW(write_artifacts("/nonexistent-dir-never-created", o), std::runtime_error);
  o.bits = {};
  EXPECT_THROW(write_artifacts("/nonexistent-dir-never-created", o), std::runtime_error);
  o.bits = {2};
  o.dim = 1;
  EXPECT_THROW(write_artifacts("/nonexistent-dir-never-created", o), std::runtime_error);
  EXPECT_FALSE(fs::exists("/nonexistent-dir-never-created"));
}

}  // namespace
}  // namespace veloxquant
