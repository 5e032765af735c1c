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
#include "veloxquant/codebook.h"
#include "veloxquant/format.h"
#include "veloxquant/rotation.h"

namespace veloxquant::py_bind {

namespace {

FloatArray to_array(const std::vector<float>& v, std::vector<py::ssize_t> shape) {
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
      "load_artifacts",
      [](const std::string& dir) {
        LoadedArtifacts a;
        {
          py::gil_scoped_release release;
          a = load_artifacts(dir);
        }
        py::dict d;
        d["dim"] = a.manifest.dim;
        d["seed"] = a.manifest.seed;
        d["bits"] = a.manifest.bits;
        d["rotation_kind"] = a.manifest.rotation_kind;
        d["library_version"] = a.manifest.library_version;
        return d;
      },
      py::arg("dir"),
      "Validates an artifact directory from `veloxquant precompute` and installs its sphere codebooks, so "
      "sphere_codebook(dim, b) is not solved again. Raises RuntimeError naming the bad file.");
}

}  // namespace veloxquant::py_bind
