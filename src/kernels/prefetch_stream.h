// Bytes that the caller reads next, brought into L2 a part at a time by a compute-bound kernel
// (the value pass of attention on record blocks), so that their transfer overlaps its arithmetic
// instead of following it. Issued all at once, the ~400 prefetches of a 256-token block would
// stall on the core's few miss buffers. The stream is per thread; kernels that take no parts
// leave it unread, and it never changes any result.
#pragma once

#include <cstddef>
#include <cstdint>

namespace veloxquant::kernels {

struct ByteRange {
  const std::uint8_t* data = nullptr;
  std::size_t bytes = 0;
};

// Sets this thread's stream to two ranges for the lifetime of the object.
class ScopedPrefetchStream {
 public:
  ScopedPrefetchStream(ByteRange first, ByteRange second);
  ~ScopedPrefetchStream();
  ScopedPrefetchStream(const ScopedPrefetchStream&) = delete;
  ScopedPrefetchStream& operator=(const ScopedPrefetchStream&) = delete;
};

// Prefetches into L2 each range of this thread's stream up to the end of part k of `parts` equal
// parts, skipping what earlier calls requested.
void prefetch_stream_part(std::size_t k, std::size_t parts);

}  // namespace veloxquant::kernels
