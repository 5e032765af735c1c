// NumPy .npy files (format versions 1.0 and 2.0), C order, little-endian.
//
// Layout: "\x93NUMPY", major, minor, header length (uint16 LE for 1.x, uint32 LE for 2.x),
// an ASCII Python dict {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), } padded
// with spaces and ending in '\n' so the data starts at a multiple of 64 bytes, then the data.
// Readers validate everything (magic, version, header, shape overflow, data size against the
// file size) before allocating, and throw std::runtime_error naming the file and the problem.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace veloxquant {

enum class NpyDtype { kF16, kF32, kF64, kU8, kI8, kU16, kU32 };

std::size_t npy_dtype_size(NpyDtype dtype);
const char* npy_dtype_descr(NpyDtype dtype);  // e.g. "<f4", "|u1"

struct NpyHeader {
  NpyDtype dtype = NpyDtype::kF32;
  std::vector<std::size_t> shape;
  std::size_t data_offset = 0;  // bytes before the data
  std::size_t data_bytes = 0;   // element count × element size (checked for overflow)
};

struct NpyArray {
  NpyDtype dtype = NpyDtype::kF32;
  std::vector<std::size_t> shape;
  std::vector<std::uint8_t> data;  // raw little-endian elements, C order

  std::size_t size() const;  // element count
  // The data as floats; only for kF32 (throws otherwise, naming the dtype).
  std::vector<float> to_f32() const;
};

// Parses the header at the start of `bytes` (which may hold only the header, or the whole file).
// Throws std::runtime_error if the header is incomplete or invalid.
NpyHeader parse_npy_header(std::span<const std::uint8_t> bytes);

// Parses a whole .npy image held in memory; the data must fill the rest of `bytes` exactly.
NpyArray parse_npy(std::span<const std::uint8_t> bytes);

// The full .npy image (header + data) of an array; data.size() must match the shape.
std::vector<std::uint8_t> serialize_npy(NpyDtype dtype, std::span<const std::size_t> shape,
                                        std::span<const std::uint8_t> data);

NpyArray read_npy(const std::string& path);
void write_npy(const std::string& path, NpyDtype dtype, std::span<const std::size_t> shape,
               std::span<const std::uint8_t> data);
void write_npy_f32(const std::string& path, std::span<const std::size_t> shape, std::span<const float> values);

}  // namespace veloxquant
