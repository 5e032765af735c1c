#include "io/artifacts.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "io/crc32.h"
#include "io/json.h"
#include "io/npy.h"
#include "quant/quantizers.h"
#include "veloxquant/rotation.h"

namespace veloxquant {

namespace fs = std::filesystem;

namespace {

constexpr const char* kManifestName = "manifest.json";
constexpr const char* kFormatName = "veloxquant-artifacts";
constexpr int kPolarLevels = 4;
constexpr std::size_t kMaxManifestBytes = 1 << 20;

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error("artifacts: " + what); }

std::string read_file(const fs::path& path, std::size_t max_bytes) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) fail("cannot open '" + path.string() + "'");
  const auto end = f.tellg();
  if (end < 0 || static_cast<std::size_t>(end) > max_bytes)
    fail("'" + path.string() + "' is larger than " + std::to_string(max_bytes) + " bytes");
  std::string s(static_cast<std::size_t>(end), '\0');
  f.seekg(0);
  f.read(s.data(), static_cast<std::streamsize>(s.size()));
  if (!f) fail("read error on '" + path.string() + "'");
  return s;
}

void write_bytes(const fs::path& path, const void* data, std::size_t bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) fail("cannot create '" + path.string() + "'");
  f.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
  f.close();
  if (!f) fail("write error on '" + path.string() + "'");
}

std::string hex32(std::uint32_t v) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", v);
  return buf;
}

std::uint32_t parse_hex32(const std::string& s, const std::string& what) {
  if (s.size() != 8 || s.find_first_not_of("0123456789abcdef") != std::string::npos)
    fail(what + " must be 8 lowercase hex digits, got '" + s + "'");
  return static_cast<std::uint32_t>(std::stoul(s, nullptr, 16));
}

// Manifest file names are plain names inside the directory: no separators, no "..".
void check_file_name(const std::string& name, const std::string& what) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos ||
      name.find('\\') != std::string::npos || name == kManifestName)
    fail(what + " is not a plain file name: '" + name + "'");
}

const char* rotation_kind_name(RotationKind kind) {
  switch (kind) {
    case RotationKind::kHadamard:
      return "hadamard";
    case RotationKind::kOverlapHadamard:
      return "overlap_hadamard";
    case RotationKind::kHaar:
      break;
  }
  return "haar";
}

// Writes one float32 array and records it in the manifest.
std::string add_f32(const fs::path& dir, ArtifactManifest& m, const std::string& name, std::vector<std::size_t> shape,
                    const std::vector<float>& values) {
  const std::vector<std::uint8_t> image =
      serialize_npy(NpyDtype::kF32, shape,
                    std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(values.data()),
                                                  values.size() * sizeof(float)));
  write_bytes(dir / name, image.data(), image.size());
  m.files.push_back({name, "<f4", std::move(shape), image.size(), crc32(image.data(), image.size())});
  return name;
}

void add_codebook(const fs::path& dir, ArtifactManifest& m, const std::string& stem, int level, const Codebook& cb) {
  ArtifactCodebook entry;
  entry.level = level;
  entry.bits = cb.bits;
  entry.mse = cb.mse;
  entry.centroids_file = add_f32(dir, m, stem + "_centroids.npy", {cb.centroids.size()}, cb.centroids);
  entry.boundaries_file = add_f32(dir, m, stem + "_boundaries.npy", {cb.boundaries.size()}, cb.boundaries);
  m.codebooks.push_back(std::move(entry));
}

}  // namespace

Json artifact_manifest_to_json(const ArtifactManifest& m) {
  Json j = Json::object();
  j.set("format", Json::string(kFormatName));
  j.set("format_version", Json::integer(m.format_version));
  j.set("library_version", Json::string(m.library_version));
  j.set("dim", Json::unsigned_integer(m.dim));
  Json bits = Json::array();
  for (int b : m.bits) bits.push(Json::integer(b));
  j.set("bits", bits);
  j.set("seed", Json::unsigned_integer(m.seed));
  Json rot = Json::object();
  rot.set("kind", Json::string(m.rotation_kind));
  rot.set("seed", Json::unsigned_integer(m.rotation_seed));
  rot.set("file", Json::string(m.rotation_file));
  j.set("rotation", rot);
  Json qjl = Json::object();
  qjl.set("rows", Json::unsigned_integer(m.qjl_dim));
  qjl.set("seed", Json::unsigned_integer(m.qjl_seed));
  qjl.set("file", Json::string(m.qjl_file));
  j.set("qjl", qjl);
  Json cbs = Json::array();
  for (const ArtifactCodebook& c : m.codebooks) {
    Json e = Json::object();
    e.set("kind", Json::string(c.level == 0 ? "sphere" : "polar_angle"));
    if (c.level) e.set("level", Json::integer(c.level));
    e.set("bits", Json::integer(c.bits));
    e.set("mse", Json::number(c.mse));
    e.set("centroids", Json::string(c.centroids_file));
    e.set("boundaries", Json::string(c.boundaries_file));
    cbs.push(std::move(e));
  }
  j.set("codebooks", cbs);
  Json files = Json::array();
  for (const ArtifactFile& f : m.files) {
    Json e = Json::object();
    e.set("name", Json::string(f.name));
    e.set("dtype", Json::string(f.dtype));
    Json shape = Json::array();
    for (std::size_t d : f.shape) shape.push(Json::unsigned_integer(d));
    e.set("shape", shape);
    e.set("bytes", Json::unsigned_integer(f.bytes));
    e.set("crc32", Json::string(hex32(f.crc32)));
    files.push(std::move(e));
  }
  j.set("files", files);
  return j;
}

namespace {

int checked_int(const Json& j, const std::string& what, int lo, int hi) {
  const std::int64_t v = j.as_int(what);
  if (v < lo || v > hi)
    fail(what + " = " + std::to_string(v) + " is outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return static_cast<int>(v);
}

ArtifactManifest manifest_from_json(const Json& j) {
  if (!j.is_object()) fail("manifest is not a JSON object");
  if (j.at("format").as_string("format") != kFormatName)
    fail("manifest format is '" + j.at("format").as_string("format") + "', expected '" + kFormatName + "'");
  ArtifactManifest m;
  m.format_version = static_cast<int>(j.at("format_version").as_int("format_version"));
  if (m.format_version != kArtifactFormatVersion)
    fail("unsupported artifact format_version " + std::to_string(m.format_version) + " (this library reads " +
         std::to_string(kArtifactFormatVersion) + ")");
  m.library_version = j.at("library_version").as_string("library_version");
  m.dim = j.at("dim").as_u64("dim");
  if (m.dim < 2 || m.dim > 65536) fail("dim = " + std::to_string(m.dim) + " is outside [2, 65536]");
  for (const Json& b : j.at("bits").as_array("bits")) m.bits.push_back(checked_int(b, "bits entry", 1, 8));
  m.seed = j.at("seed").as_u64("seed");
  const Json& rot = j.at("rotation");
  m.rotation_kind = rot.at("kind").as_string("rotation.kind");
  if (m.rotation_kind != "hadamard" && m.rotation_kind != "haar" && m.rotation_kind != "overlap_hadamard")
    fail("rotation.kind '" + m.rotation_kind + "' is not 'hadamard', 'haar' or 'overlap_hadamard'");
  m.rotation_seed = rot.at("seed").as_u64("rotation.seed");
  if (m.rotation_seed != purpose_seed(m.seed, SeedPurpose::kRotation))
    fail("rotation.seed " + std::to_string(m.rotation_seed) + " is not the rotation seed derived from seed " +
         std::to_string(m.seed));
  m.rotation_file = rot.at("file").as_string("rotation.file");
  const Json& qjl = j.at("qjl");
  m.qjl_dim = qjl.at("rows").as_u64("qjl.rows");
  if (m.qjl_dim < 1 || m.qjl_dim > 65536) fail("qjl.rows = " + std::to_string(m.qjl_dim) + " is outside [1, 65536]");
  m.qjl_seed = qjl.at("seed").as_u64("qjl.seed");
  if (m.qjl_seed != purpose_seed(m.seed, SeedPurpose::kSketch))
    fail("qjl.seed " + std::to_string(m.qjl_seed) + " is not the sketch seed derived from seed " +
         std::to_string(m.seed));
  m.qjl_file = qjl.at("file").as_string("qjl.file");
  for (const Json& e : j.at("codebooks").as_array("codebooks")) {
    ArtifactCodebook c;
    const std::string& kind = e.at("kind").as_string("codebook kind");
    if (kind == "polar_angle")
      c.level = checked_int(e.at("level"), "polar codebook level", 1, kPolarLevels);
    else if (kind != "sphere")
      fail("unknown codebook kind '" + kind + "'");
    c.bits = checked_int(e.at("bits"), "codebook bits", 1, 8);
    c.mse = e.at("mse").as_double("codebook mse");
    c.centroids_file = e.at("centroids").as_string("codebook centroids");
    c.boundaries_file = e.at("boundaries").as_string("codebook boundaries");
    m.codebooks.push_back(std::move(c));
  }
  for (const Json& e : j.at("files").as_array("files")) {
    ArtifactFile f;
    f.name = e.at("name").as_string("file name");
    check_file_name(f.name, "files entry");
    for (const ArtifactFile& g : m.files)
      if (g.name == f.name) fail("file '" + f.name + "' is listed twice");
    f.dtype = e.at("dtype").as_string("dtype of " + f.name);
    for (const Json& d : e.at("shape").as_array("shape of " + f.name))
      f.shape.push_back(d.as_u64("shape of " + f.name));
    f.bytes = e.at("bytes").as_u64("bytes of " + f.name);
    f.crc32 = parse_hex32(e.at("crc32").as_string("crc32 of " + f.name), "crc32 of " + f.name);
    m.files.push_back(std::move(f));
  }
  // Every referenced file must be listed (so it is checksummed).
  const auto listed = [&](const std::string& name, const std::string& what) {
    check_file_name(name, what);
    if (std::none_of(m.files.begin(), m.files.end(), [&](const ArtifactFile& f) { return f.name == name; }))
      fail(what + " '" + name + "' is not listed in files");
  };
  listed(m.rotation_file, "rotation.file");
  listed(m.qjl_file, "qjl.file");
  for (const ArtifactCodebook& c : m.codebooks) {
    listed(c.centroids_file, "codebook centroids");
    listed(c.boundaries_file, "codebook boundaries");
  }
  for (int b : m.bits)
    if (std::none_of(m.codebooks.begin(), m.codebooks.end(),
                     [&](const ArtifactCodebook& c) { return c.level == 0 && c.bits == b; }))
      fail("no sphere codebook for bits " + std::to_string(b));
  return m;
}

const ArtifactFile& file_entry(const ArtifactManifest& m, const std::string& name) {
  for (const ArtifactFile& f : m.files)
    if (f.name == name) return f;
  fail("file '" + name + "' is not listed in files");
}

// Reads a listed file after checking size and CRC, and checks its header against the listing.
NpyArray read_checked(const fs::path& dir, const ArtifactFile& f) {
  const fs::path path = dir / f.name;
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec) fail("'" + f.name + "' is missing or unreadable: " + ec.message());
  if (size != f.bytes)
    fail("'" + f.name + "' has " + std::to_string(size) + " bytes, the manifest says " + std::to_string(f.bytes));
  const std::string bytes = read_file(path, f.bytes);
  const std::uint32_t crc = crc32(bytes.data(), bytes.size());
  if (crc != f.crc32) fail("'" + f.name + "' has CRC-32 " + hex32(crc) + ", the manifest says " + hex32(f.crc32));
  NpyArray a;
  try {
    a = parse_npy(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
  } catch (const std::runtime_error& e) {
    fail("'" + f.name + "': " + e.what());
  }
  if (npy_dtype_descr(a.dtype) != f.dtype)
    fail("'" + f.name + "' has dtype " + npy_dtype_descr(a.dtype) + ", the manifest says " + f.dtype);
  if (a.shape != f.shape) fail("'" + f.name + "' has a shape other than the manifest's");
  return a;
}

std::vector<float> read_f32(const fs::path& dir, const ArtifactManifest& m, const std::string& name,
                            const std::vector<std::size_t>& expected_shape) {
  const ArtifactFile& f = file_entry(m, name);
  if (f.shape != expected_shape) {
    std::string want;
    for (std::size_t d : expected_shape) want.append(want.empty() ? "" : ", ").append(std::to_string(d));
    fail("'" + name + "' must have shape [" + want + "]");
  }
  if (f.dtype != "<f4") fail("'" + name + "' must be float32 (<f4), the manifest says " + f.dtype);
  return read_checked(dir, f).to_f32();
}

Codebook read_codebook(const fs::path& dir, const ArtifactManifest& m, const ArtifactCodebook& c) {
  Codebook cb;
  cb.bits = c.bits;
  cb.mse = c.mse;
  const std::size_t levels = std::size_t{1} << c.bits;
  cb.centroids = read_f32(dir, m, c.centroids_file, {levels});
  cb.boundaries = read_f32(dir, m, c.boundaries_file, {levels - 1});
  for (std::size_t i = 0; i < levels; ++i) {
    if (!std::isfinite(cb.centroids[i]) || (i && !(cb.centroids[i - 1] < cb.centroids[i])))
      fail("centroids in '" + c.centroids_file + "' are not finite and strictly ascending at index " +
           std::to_string(i));
  }
  for (std::size_t i = 0; i + 1 < levels; ++i) {
    if (!(cb.centroids[i] <= cb.boundaries[i] && cb.boundaries[i] <= cb.centroids[i + 1]))
      fail("boundary " + std::to_string(i) + " in '" + c.boundaries_file + "' does not lie between its centroids");
  }
  return cb;
}

}  // namespace

const char* library_version() { return "0.1.0"; }

ArtifactManifest write_artifacts(const std::string& dir_name, const ArtifactOptions& options) {
  if (options.dim < 2 || options.dim > 65536) fail("dim = " + std::to_string(options.dim) + " is outside [2, 65536]");
  if (options.bits.empty()) fail("no bit widths given");
  for (int b : options.bits)
    if (b < 1 || b > 8) fail("bits = " + std::to_string(b) + " is outside [1, 8]");
  std::vector<int> bits = options.bits;
  std::sort(bits.begin(), bits.end());
  bits.erase(std::unique(bits.begin(), bits.end()), bits.end());

  const fs::path dir(dir_name);
  fs::create_directories(dir);
  ArtifactManifest m;
  m.library_version = library_version();
  m.dim = options.dim;
  m.bits = bits;
  m.seed = options.seed;
  m.qjl_dim = options.qjl_dim ? options.qjl_dim : options.dim;
  for (int b : bits)
    add_codebook(dir, m, "sphere_d" + std::to_string(m.dim) + "_b" + std::to_string(b), 0, sphere_codebook(m.dim, b));
  for (int level = 1; level <= kPolarLevels; ++level)
    for (int b : bits)
      add_codebook(dir, m, "polar_l" + std::to_string(level) + "_b" + std::to_string(b), level,
                   polar_angle_codebook(level, b));

  // The rotation and sketch a quantizer created with this seed uses (make_quantizer derives them).
  m.rotation_seed = purpose_seed(m.seed, SeedPurpose::kRotation);
  const Rotation rotation(m.dim, m.rotation_seed);
  m.rotation_kind = rotation_kind_name(rotation.kind());
  m.rotation_file = add_f32(dir, m, "rotation_d" + std::to_string(m.dim) + "_s" + std::to_string(m.seed) + ".npy",
                            {m.dim, m.dim}, rotation.matrix());
  m.qjl_seed = purpose_seed(m.seed, SeedPurpose::kSketch);
  m.qjl_file = add_f32(
      dir, m,
      "qjl_d" + std::to_string(m.dim) + "_m" + std::to_string(m.qjl_dim) + "_s" + std::to_string(m.seed) + ".npy",
      {m.qjl_dim, m.dim}, gaussian_matrix(m.qjl_dim, m.dim, m.qjl_seed));

  // The manifest goes last and atomically, so a directory with a manifest is complete.
  const std::string text = artifact_manifest_to_json(m).dump(2) + "\n";
  const fs::path tmp = dir / (std::string(kManifestName) + ".tmp");
  write_bytes(tmp, text.data(), text.size());
  fs::rename(tmp, dir / kManifestName);
  return m;
}

ArtifactManifest read_artifact_manifest(const std::string& dir) {
  const fs::path path = fs::path(dir) / kManifestName;
  try {
    return manifest_from_json(Json::parse(read_file(path, kMaxManifestBytes)));
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    throw std::runtime_error(what.rfind("artifacts: ", 0) == 0 ? what + " (" + path.string() + ")"
                                                               : "artifacts: " + what + " in '" + path.string() + "'");
  }
}

std::vector<ArtifactCheck> check_artifact_files(const std::string& dir, const ArtifactManifest& manifest) {
  std::vector<ArtifactCheck> out;
  for (const ArtifactFile& f : manifest.files) {
    ArtifactCheck c{f.name, true, ""};
    try {
      read_checked(dir, f);
    } catch (const std::runtime_error& e) {
      c.ok = false;
      c.problem = e.what();
    }
    out.push_back(std::move(c));
  }
  return out;
}

LoadedArtifacts load_artifacts(const std::string& dir) {
  LoadedArtifacts out;
  out.manifest = read_artifact_manifest(dir);
  const ArtifactManifest& m = out.manifest;
  for (int b : m.bits) {
    for (const ArtifactCodebook& c : m.codebooks)
      if (c.level == 0 && c.bits == b) out.sphere_codebooks.push_back(read_codebook(dir, m, c));
  }
  for (const ArtifactCodebook& c : m.codebooks)
    if (c.level != 0) out.polar_codebooks.emplace_back(c.level, read_codebook(dir, m, c));
  out.rotation = read_f32(dir, m, m.rotation_file, {m.dim, m.dim});
  out.qjl_matrix = read_f32(dir, m, m.qjl_file, {m.qjl_dim, m.dim});
  // Everything validated: only now change the library's state.
  for (const Codebook& cb : out.sphere_codebooks) set_sphere_codebook(m.dim, cb.bits, cb);
  return out;
}

}  // namespace veloxquant
