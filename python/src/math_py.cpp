// Codebooks, rotations, Gaussian matrices, the format table and artifacts.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <string>
#include <vector>

#include "arrays.h"
#include "bindings.h"
#include "io/artifacts.h"
#include "quant/quantizers.h"
#include "veloxquant/codebook.h"
#include "veloxquant/format.h"
#include "veloxquant/rotation.h"

namespace veloxquant::py_bind {

namespace {

FloatArray to_array(const std::vector<float>& v, const std::vector<py::ssize_t>& shape) {
  FloatArray a(shape);
  if (!v.empty()) std::memcpy(a.mutable_data(), v.data(), v.size() * sizeof(float));
  return a;
}

py::dict codebook_dict(const Codebook& cb) {
  py::dict d;
  d["bits"] = cb.bits;
  d["centroids"] = to_array(cb.centroids, {static_cast<py::ssize_t>(cb.centroids.size())});
  d["boundaries"] = to_array(cb.boundaries, {static_cast<py::ssize_t>(cb.boundaries.size())});
  d["mse"] = cb.mse;
  return d;
}

py::dict manifest_dict(const ArtifactManifest& m) {
  py::dict d;
  d["dim"] = m.dim;
  d["seed"] = m.seed;
  d["bits"] = m.bits;
  d["rotation_kind"] = m.rotation_kind;
  d["rotation_seed"] = m.rotation_seed;
  d["rotation_file"] = m.rotation_file;
  d["qjl_dim"] = m.qjl_dim;
  d["qjl_seed"] = m.qjl_seed;
  d["qjl_file"] = m.qjl_file;
  d["library_version"] = m.library_version;
  py::list codebooks;
  for (const ArtifactCodebook& c : m.codebooks) {
    py::dict e;
    e["kind"] = c.level == 0 ? "sphere" : "polar_angle";
    e["level"] = c.level;
    e["bits"] = c.bits;
    e["mse"] = c.mse;
    e["centroids_file"] = c.centroids_file;
    e["boundaries_file"] = c.boundaries_file;
    codebooks.append(e);
  }
  d["codebooks"] = codebooks;
  py::list files;
  for (const ArtifactFile& f : m.files) files.append(f.name);
  d["files"] = files;
  return d;
}

RotationKind parse_kind(const std::string& kind) {
  if (kind == "hadamard") return RotationKind::kHadamard;
  if (kind == "haar") return RotationKind::kHaar;
  if (kind == "overlap_hadamard") return RotationKind::kOverlapHadamard;
  throw std::invalid_argument("rotation kind '" + kind + "' is not 'hadamard', 'haar' or 'overlap_hadamard'");
}

}  // namespace

void bind_math(py::module_& m) {
  m.def(
      "sphere_codebook",
      [](std::size_t dim, int bits) {
        const Codebook* cb;
        {
          py::gil_scoped_release release;  // solving can take a while the first time
          cb = &sphere_codebook(dim, bits);
        }
        return codebook_dict(*cb);
      },
      py::arg("dim"), py::arg("bits"),
      "Lloyd-Max codebook of one coordinate of a random unit vector in R^dim: dict with bits, centroids, "
      "boundaries (float32) and mse (per coordinate).");
  m.def(
      "polar_angle_codebook",
      [](int level, int bits) {
        const Codebook* cb;
        {
          py::gil_scoped_release release;
          cb = &polar_angle_codebook(level, bits);
        }
        return codebook_dict(*cb);
      },
      py::arg("level"), py::arg("bits"), "PolarQuant angle codebook of a level (1: uniform on [0, 2pi)).");
  m.def(
      "rotation_matrix",
      [](std::size_t dim, std::uint64_t seed, const std::string& kind) {
        std::vector<float> mat;
        {
          py::gil_scoped_release release;
          const Rotation r = kind.empty() ? Rotation(dim, seed) : Rotation(dim, seed, parse_kind(kind));
          mat = r.matrix();
        }
        return to_array(mat, {static_cast<py::ssize_t>(dim), static_cast<py::ssize_t>(dim)});
      },
      py::arg("dim"), py::arg("seed"), py::arg("kind") = "",
      "Dense matrix of Rotation(dim, seed): y = R @ x. kind: '' (default for dim), 'hadamard', 'haar' or "
      "'overlap_hadamard'.");
  m.def(
      "gaussian_matrix",
      [](std::size_t rows, std::size_t cols, std::uint64_t seed) {
        std::vector<float> mat;
        {
          py::gil_scoped_release release;
          mat = gaussian_matrix(rows, cols, seed);
        }
        return to_array(mat, {static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(cols)});
      },
      py::arg("rows"), py::arg("cols"), py::arg("seed"), "rows x cols matrix of i.i.d. N(0, 1) from seed.");
  m.def(
      "formats",
      []() {
        py::list out;
        for (const FormatInfo& f : format_table()) {
          py::dict d;
          d["name"] = f.name;
          d["description"] = f.description;
          out.append(d);
        }
        return out;
      },
      "Every named format of the format table, in table order: list of dicts with name and description.");
  m.def(
      "write_artifacts",
      [](const std::string& dir, std::size_t dim, const std::vector<int>& bits, std::uint64_t seed,
         std::size_t qjl_dim) {
        ArtifactOptions o;
        o.dim = dim;
        o.bits = bits;
        o.seed = seed;
        o.qjl_dim = qjl_dim;
        ArtifactManifest manifest;
        {
          py::gil_scoped_release release;
          manifest = write_artifacts(dir, o);
        }
        return manifest_dict(manifest);
      },
      py::arg("dir"), py::arg("dim"), py::arg("bits"), py::arg("seed"), py::arg("qjl_dim") = 0,
      "Writes what `veloxquant precompute` writes (codebooks, the rotation and QJL matrix of seed, manifest.json "
      "with CRC-32s) into dir; returns the manifest (dim, seed, bits, rotation_kind, files, ...).");
  m.def(
      "set_sphere_codebook",
      [](std::size_t dim, int bits, const py::handle& centroids, const py::handle& boundaries, double mse) {
        const FloatArray c = as_float_array(centroids, "centroids"), b = as_float_array(boundaries, "boundaries");
        Codebook cb;
        cb.bits = bits;
        cb.centroids.assign(c.data(), c.data() + c.size());
        cb.boundaries.assign(b.data(), b.data() + b.size());
        cb.mse = mse;
        set_sphere_codebook(dim, bits, std::move(cb));
      },
      py::arg("dim"), py::arg("bits"), py::arg("centroids"), py::arg("boundaries"), py::arg("mse"),
      "Installs a sphere codebook (as sphere_codebook returns it) so sphere_codebook(dim, bits) is not solved; "
      "ValueError for wrong sizes or order.");
  m.def(
      "purpose_seed",
      [](std::uint64_t seed, const std::string& purpose) {
        if (purpose == "rotation") return purpose_seed(seed, SeedPurpose::kRotation);
        if (purpose == "sketch") return purpose_seed(seed, SeedPurpose::kSketch);
        if (purpose == "outlier_rotation") return purpose_seed(seed, SeedPurpose::kOutlierRotation);
        if (purpose == "outlier_sketch") return purpose_seed(seed, SeedPurpose::kOutlierSketch);
        throw std::invalid_argument("purpose '" + purpose +
                                    "' is not rotation, sketch, outlier_rotation or outlier_sketch");
      },
      py::arg("seed"), py::arg("purpose"),
      "The seed a quantizer made with `seed` uses for a purpose: rotation_matrix(dim, purpose_seed(s, "
      "'rotation')) is its rotation, gaussian_matrix(m, dim, purpose_seed(s, 'sketch')) its QJL sketch.");
  m.def(
      "load_artifacts",
      [](const std::string& dir) {
        LoadedArtifacts a;
        {
          py::gil_scoped_release release;
          a = load_artifacts(dir);
        }
        return manifest_dict(a.manifest);
      },
      py::arg("dir"),
      "Validates an artifact directory from `veloxquant precompute` and installs its sphere codebooks, so "
      "sphere_codebook(dim, b) is not solved again. Raises RuntimeError naming the bad file.");
}

}  // namespace veloxquant::py_bind
