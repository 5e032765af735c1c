// numpy argument handling shared by the bindings: dtype conversion, contiguity, shape checks.
// Bad input raises TypeError/ValueError with a message naming the argument and what was wrong.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace veloxquant::py_bind {

namespace py = pybind11;

using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;
using ByteArray = py::array_t<std::uint8_t, py::array::c_style | py::array::forcecast>;

// A C-contiguous float32 copy (or view) of any real numeric array; float64 and ints are
// converted, bool/complex/object/str are rejected with TypeError.
FloatArray as_float_array(const py::handle& obj, const char* name);

// A C-contiguous uint8 array; any other dtype is rejected (codes are never converted).
ByteArray as_code_array(const py::handle& obj, const char* name);

// Rows of a 1-D [width] or 2-D [n, width] array; ValueError naming the expected shape otherwise.
std::size_t rows_of(const py::array& a, std::size_t width, const char* name);
// Rows of a [n, d1, d2] (or [d1, d2] treated as one row) array.
std::size_t rows_of_3d(const py::array& a, std::size_t d1, std::size_t d2, const char* name);

std::string shape_str(const py::array& a);

// A new float32 array of the given shape.
FloatArray new_float_array(const std::vector<py::ssize_t>& shape);

}  // namespace veloxquant::py_bind
