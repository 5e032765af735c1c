#include "io/npy.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

namespace veloxquant {
namespace {

std::vector<std::uint8_t> bytes_of(const std::string& s) { return {s.begin(), s.end()}; }

// A hand-built v1.0 image with the given header dict text (padded like numpy does).
std::vector<std::uint8_t> image_with_dict(const std::string& dict, std::size_t data_bytes, int major = 1) {
  const std::size_t prefix = major == 1 ? 10 : 12;
  std::string h = dict;
  while ((prefix + h.size() + 1) % 64 != 0) h.push_back(' ');
  h.push_back('\n');
  std::vector<std::uint8_t> out = bytes_of(std::string("\x93NUMPY", 6));
  out.push_back(static_cast<std::uint8_t>(major));
  out.push_back(0);
  for (std::size_t i = 0; i < prefix - 8; ++i) out.push_back(static_cast<std::uint8_t>(h.size() >> (8 * i)));
  out.insert(out.end(), h.begin(), h.end());
  out.resize(out.size() + data_bytes, 0xAB);
  return out;
}

std::string error_of(const std::vector<std::uint8_t>& image) {
  try {
    parse_npy(image);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

TEST(Npy, RoundTripsEveryDtypeAndShape) {
  const NpyDtype dtypes[] = {NpyDtype::kF16, NpyDtype::kF32, NpyDtype::kF64, NpyDtype::kU8,
                             NpyDtype::kI8,  NpyDtype::kU16, NpyDtype::kU32};
  const std::vector<std::vector<std::size_t>> shapes = {{}, {0}, {7}, {3, 5}, {2, 3, 4}, {1, 0, 9}};
  for (NpyDtype dt : dtypes) {
    for (const auto& shape : shapes) {
      std::size_t n = npy_dtype_size(dt);
      for (std::size_t d : shape) n *= d;
      std::vector<std::uint8_t> data(n);
      for (std::size_t i = 0; i < n; ++i) data[i] = static_cast<std::uint8_t>(i * 37 + 11);
      const auto image = serialize_npy(dt, shape, data);
      EXPECT_EQ(image.size() - n, parse_npy_header(image).data_offset);
      EXPECT_EQ(parse_npy_header(image).data_offset % 64, 0u);
      const NpyArray a = parse_npy(image);
      EXPECT_EQ(a.dtype, dt);
      EXPECT_EQ(a.shape, shape);
      EXPECT_EQ(a.data, data);
    }
  }
}

TEST(Npy, WritesTheHeaderNumpyWrites) {
  const std::vector<std::size_t> shape = {3};
  const std::vector<float> v = {1.0f, -2.5f, 3.25f};
  const auto image =
      serialize_npy(NpyDtype::kF32, shape, {reinterpret_cast<const std::uint8_t*>(v.data()), v.size() * 4});
  const std::size_t offset = parse_npy_header(image).data_offset;
  EXPECT_EQ(offset, 128u);  // numpy pads this header to 128 bytes as well
  const std::string head(image.begin(), image.begin() + static_cast<std::ptrdiff_t>(offset));
  EXPECT_EQ(head.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  EXPECT_NE(head.find("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }"), std::string::npos);
  EXPECT_EQ(head.back(), '\n');
  EXPECT_EQ(parse_npy(image).to_f32(), v);
}

TEST(Npy, ReadsVersion2AndNumpyVariants) {
  // Double quotes, extra spaces, keys in another order, '<u1' for a byte type, 'L' suffixes.
  auto image = image_with_dict("{\"shape\" : ( 2 ,3L ) , 'fortran_order':False,'descr':'<u1'}", 6, 2);
  const NpyArray a = parse_npy(image);
  EXPECT_EQ(a.dtype, NpyDtype::kU8);
  EXPECT_EQ(a.shape, (std::vector<std::size_t>{2, 3}));
}

TEST(Npy, FileRoundTripAndErrorsNameTheFile) {
  const auto dir = std::filesystem::temp_directory_path() / ("vq_npy_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "a.npy").string();
  const std::vector<float> v = {0.5f, 1.5f, -7.0f, 1e-30f, 3.0f, 4.0f};
  const std::vector<std::size_t> shape = {2, 3};
  write_npy_f32(path, shape, v);
  const NpyArray a = read_npy(path);
  EXPECT_EQ(a.shape, shape);
  EXPECT_EQ(a.to_f32(), v);
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 1);
  try {
    read_npy(path);
    FAIL() << "truncated file accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("needs 24 bytes, file holds 23"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  EXPECT_THROW(read_npy((dir / "missing.npy").string()), std::runtime_error);
  std::filesystem::remove_all(dir);
}

TEST(Npy, TruncationAtEveryOffsetIsRejected) {
  const std::vector<std::size_t> shape = {4, 5};
  std::vector<std::uint8_t> data(4 * 5 * 2, 7);
  const auto image = serialize_npy(NpyDtype::kU16, shape, data);
  for (std::size_t len = 0; len < image.size(); ++len) {
    const std::vector<std::uint8_t> cut(image.begin(), image.begin() + static_cast<std::ptrdiff_t>(len));
    EXPECT_THROW(parse_npy(cut), std::runtime_error) << "length " << len;
  }
  // The same through the file reader (which checks sizes before allocating).
  const auto dir = std::filesystem::temp_directory_path() / ("vq_npy_trunc_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "t.npy").string();
  for (std::size_t len = 0; len < image.size(); ++len) {
    std::ofstream(path, std::ios::binary | std::ios::trunc)
        .write(reinterpret_cast<const char*>(image.data()), static_cast<std::streamsize>(len));
    EXPECT_THROW(read_npy(path), std::runtime_error) << "length " << len;
  }
  std::filesystem::remove_all(dir);
}

TEST(Npy, TrailingBytesAreRejected) {
  auto image = serialize_npy(NpyDtype::kU8, std::vector<std::size_t>{3}, std::vector<std::uint8_t>{1, 2, 3});
  image.push_back(0);
  EXPECT_NE(error_of(image).find("needs 3 bytes, file holds 4"), std::string::npos) << error_of(image);
}

TEST(Npy, AbsurdShapesAreRejectedBeforeAllocating) {
  // Product overflows 64 bits.
  EXPECT_NE(
      error_of(image_with_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", 8))
          .find("overflows"),
      std::string::npos);
  // A single dimension beyond 64 bits.
  EXPECT_NE(
      error_of(image_with_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }", 8))
          .find("overflows"),
      std::string::npos);
  // Element count × element size overflows.
  EXPECT_NE(error_of(image_with_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904,), }", 8))
                .find("overflows"),
            std::string::npos);
  // Huge but representable: rejected by the size check, not by an allocation failure.
  EXPECT_NE(error_of(image_with_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000,), }", 8))
                .find("needs 4000000000000 bytes"),
            std::string::npos);
  // Too many dimensions.
  std::string many = "(";
  for (int i = 0; i < 40; ++i) many += "1,";
  EXPECT_NE(error_of(image_with_dict("{'descr': '<f4', 'fortran_order': False, 'shape': " + many + "), }", 4))
                .find("dimensions"),
            std::string::npos);
}

TEST(Npy, CorruptHeadersGiveClearErrors) {
  const std::string ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
  auto bad_magic = image_with_dict(ok, 8);
  bad_magic[1] = 'X';
  EXPECT_NE(error_of(bad_magic).find("bad magic"), std::string::npos);
  auto bad_version = image_with_dict(ok, 8);
  bad_version[6] = 4;
  EXPECT_NE(error_of(bad_version).find("version 4.0"), std::string::npos);
  auto v3 = image_with_dict(ok, 8);
  v3[6] = 3;
  EXPECT_NE(error_of(v3).find("version 3.0"), std::string::npos);
  auto huge_len = image_with_dict(ok, 8, 2);
  huge_len[8] = huge_len[9] = huge_len[10] = huge_len[11] = 0xFF;
  EXPECT_NE(error_of(huge_len).find("implausibly large"), std::string::npos);
  auto no_newline = image_with_dict(ok, 8);
  no_newline[parse_npy_header(image_with_dict(ok, 8)).data_offset - 1] = ' ';
  EXPECT_NE(error_of(no_newline).find("newline"), std::string::npos);

  const std::pair<std::string, std::string> cases[] = {
      {"{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", "big-endian"},
      {"{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", "unsupported dtype '<c8'"},
      {"{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", "Fortran"},
      {"{'descr': '<f4', 'shape': (2,), }", "lacks key 'fortran_order'"},
      {"{'descr': '<f4', 'fortran_order': False, }", "lacks key 'shape'"},
      {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", "repeats key"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", "unexpected header key 'x'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", "non-negative integer"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2.0,), }", "expected ',' or ')'"},
      {"{'descr': '<f4', 'fortran_order': Nope, 'shape': (2,), }", "True or False"},
      {"{'descr' '<f4', 'fortran_order': False, 'shape': (2,), }", "expected ':'"},
      {"{'descr': '<f4, 'fortran_order': False, 'shape': (2,), }", "unsupported dtype '<f4, '"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,) 'x'}", "expected ',' or '}'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,)", "expected ',' or '}'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } junk", "after the header dict"},
      {"['descr', '<f4']", "expected '{'"},
  };
  for (const auto& [dict, message] : cases) {
    const std::string err = error_of(image_with_dict(dict, 8));
    EXPECT_NE(err.find(message), std::string::npos) << dict << " -> " << err;
  }
}

TEST(Npy, SerializeRejectsWrongDataSize) {
  EXPECT_THROW(serialize_npy(NpyDtype::kF32, std::vector<std::size_t>{3}, std::vector<std::uint8_t>(11)),
               std::runtime_error);
}

TEST(Npy, ToF32RejectsOtherDtypes) {
  const NpyArray a =
      parse_npy(serialize_npy(NpyDtype::kF64, std::vector<std::size_t>{1}, std::vector<std::uint8_t>(8)));
  EXPECT_THROW(a.to_f32(), std::runtime_error);
}

}  // namespace
}  // namespace veloxquant
