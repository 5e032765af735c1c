// Precomputed artifacts: a directory of .npy files plus manifest.json, written by
// `veloxquant precompute` and read back so codebooks are not solved again.
//
// Contents for one (dim, seed) and a list of bit widths (docs/file_formats.md has the details):
//   sphere_d{dim}_b{b}_{centroids,boundaries}.npy   Lloyd–Max codebooks of f_d, float32
//   polar_l{level}_b{b}_{centroids,boundaries}.npy  PolarQuant angle codebooks, levels 1..4
//   rotation_d{dim}_s{seed}.npy                     Π of a quantizer made with `seed`, [dim, dim]
//   qjl_d{dim}_m{m}_s{seed}.npy                     its QJL Gaussian matrix S, [m, dim]
// The rotation and the sketch use the seeds make_quantizer derives from `seed`
// (purpose_seed(seed, kRotation / kSketch)); the manifest records both.
//   manifest.json                                   what is there, with a CRC-32 per file
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "io/json.h"
#include "veloxquant/codebook.h"

namespace veloxquant {

inline constexpr int kArtifactFormatVersion = 1;

struct ArtifactOptions {
  std::size_t dim = 128;
  std::vector<int> bits = {1, 2, 3, 4};
  std::uint64_t seed = 42;
  std::size_t qjl_dim = 0;  // rows of the QJL matrix; 0 means dim
};

struct ArtifactFile {
  std::string name;   // plain file name inside the directory
  std::string dtype;  // npy descr, e.g. "<f4"
  std::vector<std::size_t> shape;
  std::size_t bytes = 0;    // whole .npy file
  std::uint32_t crc32 = 0;  // of the whole .npy file (zlib.crc32)
};

struct ArtifactCodebook {
  int level = 0;  // 0: sphere codebook of f_dim; 1..4: PolarQuant angle level
  int bits = 0;
  double mse = 0.0;
  std::string centroids_file, boundaries_file;
};

struct ArtifactManifest {
  int format_version = kArtifactFormatVersion;
  std::string library_version;
  std::size_t dim = 0;
  std::vector<int> bits;
  std::uint64_t seed = 0;           // the quantizer seed
  std::string rotation_kind;        // "hadamard" or "haar"
  std::uint64_t rotation_seed = 0;  // Rotation(dim, rotation_seed)
  std::string rotation_file;
  std::size_t qjl_dim = 0;
  std::uint64_t qjl_seed = 0;  // the seed gaussian_matrix() was called with
  std::string qjl_file;
  std::vector<ArtifactCodebook> codebooks;
  std::vector<ArtifactFile> files;
};

// Writes every artifact and manifest.json into `dir` (created if missing; existing files with
// the same names are replaced). Returns the manifest written.
ArtifactManifest write_artifacts(const std::string& dir, const ArtifactOptions& options);

// The manifest as written to manifest.json.
Json artifact_manifest_to_json(const ArtifactManifest& manifest);

// Parses and validates manifest.json (types, ranges, file names) without reading the .npy files.
ArtifactManifest read_artifact_manifest(const std::string& dir);

struct ArtifactCheck {
  std::string file;
  bool ok = false;
  std::string problem;  // empty when ok
};
// Checks every listed file: present, size, CRC-32, .npy header, dtype and shape as listed.
std::vector<ArtifactCheck> check_artifact_files(const std::string& dir, const ArtifactManifest& manifest);

struct LoadedArtifacts {
  ArtifactManifest manifest;
  std::vector<Codebook> sphere_codebooks;                 // one per manifest bit width, in manifest order
  std::vector<std::pair<int, Codebook>> polar_codebooks;  // (level, codebook), in manifest order
  std::vector<float> rotation;                            // [dim, dim]
  std::vector<float> qjl_matrix;                          // [qjl_dim, dim]
};

// Validates the manifest and every file (throws std::runtime_error naming the file and the
// problem; nothing is installed then), then installs the sphere codebooks with
// set_sphere_codebook so sphere_codebook(dim, b) no longer solves them.
LoadedArtifacts load_artifacts(const std::string& dir);

// The library version written into manifests.
const char* library_version();

}  // namespace veloxquant
