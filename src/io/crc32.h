// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320): the checksum of zlib, PNG and
// Python's zlib.crc32, so files can be checked with standard tools.
#pragma once

#include <cstddef>
#include <cstdint>

namespace veloxquant {

// Continues a running CRC: crc32(b, nb, crc32(a, na)) == crc32 of a followed by b.
std::uint32_t crc32(const void* data, std::size_t bytes, std::uint32_t crc = 0);

}  // namespace veloxquant
