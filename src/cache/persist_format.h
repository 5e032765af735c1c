// Internal: byte layout helpers and constants of the cache file (docs/file_formats.md).
//
//   file    = header section*
//   header  = magic[8] "VQKVCACH" | u32 version | u32 section_count | u64 file_bytes | u32 flags (0)
//             | u32 crc32 of the preceding 28 bytes                                   (32 bytes)
//   section = u32 tag | u32 reserved (0) | u64 payload_bytes | payload | u32 crc32 of tag..payload
// All integers little-endian; strings are u32 length + bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "io/byte_codec.h"
#include "io/file_error.h"
#include "veloxquant/format.h"

namespace veloxquant::persist {

inline constexpr char kMagic[8] = {'V', 'Q', 'K', 'V', 'C', 'A', 'C', 'H'};
inline constexpr std::size_t kHeaderBytes = 32;
inline constexpr std::size_t kSectionHeaderBytes = 16;
inline constexpr std::size_t kSectionTrailerBytes = 4;

inline constexpr std::uint32_t kTagConfig = make_tag("CONF");
inline constexpr std::uint32_t kTagAttention = make_tag("ATTN");  // version 2
inline constexpr std::uint32_t kTagFingerprint = make_tag("FPRT");
inline constexpr std::uint32_t kTagLayer = make_tag("LAYR");

// Sanity limits of a loaded configuration: beyond them a file is rejected before anything is
// built (a valid CRC does not make a hostile size harmless).
inline constexpr std::size_t kMaxHeadDim = 4096;
inline constexpr std::size_t kMaxTokensPerPart = std::size_t{1} << 24;  // window, sinks, page_tokens
inline constexpr std::size_t kMaxThreads = 4096;

// Per-head flags in a layer section.
inline constexpr std::uint32_t kHeadQuantizersBuilt = 1;  // outlier channels chosen, quantizers built
inline constexpr std::uint32_t kHeadWindowAllocated = 2;  // the exact ring is allocated
inline constexpr std::uint32_t kHeadSinksReserved = 4;    // sink storage reserved
inline constexpr std::uint32_t kHeadFlagsKnown = 7;

// The cache file's byte layout uses the shared codec (io/byte_codec.h).
using Writer = ByteWriter;
using Reader = ByteReader;
using veloxquant::kMaxStringBytes;
using veloxquant::make_tag;
using veloxquant::tag_name;

// Fingerprint of a storage format as this build encodes it: CRC-32 of the records of a fixed
// probe (outlier formats with their default channels). It differs when codebooks, rotations or
// the record layout differ, so a cache written by another build or with other artifacts is refused.
std::uint32_t format_fingerprint(const FormatSpec& format, std::size_t dim);

// format_fingerprint of each format name computed once per file (a cache's layers mostly share
// their formats, and each fingerprint builds a quantizer and encodes a probe).
class Fingerprints {
 public:
  explicit Fingerprints(std::size_t dim) : dim_(dim) {}
  std::uint32_t of(const FormatSpec& format) {
    auto it = by_name_.find(format.name());
    if (it == by_name_.end()) it = by_name_.emplace(format.name(), format_fingerprint(format, dim_)).first;
    return it->second;
  }

 private:
  std::size_t dim_;
  std::map<std::string, std::uint32_t> by_name_;
};

}  // namespace veloxquant::persist
