#include "kernels/prefetch_stream.h"

namespace veloxquant::kernels {

namespace {
thread_local ByteRange stream[2];
}  // namespace

ScopedPrefetchStream::ScopedPrefetchStream(ByteRange first, ByteRange second) {
  stream[0] = first;
  stream[1] = second;
}

ScopedPrefetchStream::~ScopedPrefetchStream() { stream[0] = stream[1] = ByteRange{}; }

void prefetch_stream_part(std::size_t k, std::size_t parts) {
  constexpr std::size_t kLine = 64;
  for (const ByteRange& r : stream) {
    if (r.data == nullptr || parts == 0) continue;
    const std::size_t lines = (r.bytes + kLine - 1) / kLine;
    for (std::size_t l = lines * k / parts, end = lines * (k + 1) / parts; l < end; ++l)
      __builtin_prefetch(r.data + l * kLine, 0, 2);  // locality 2: prefetcht1, into L2
  }
}

}  // namespace veloxquant::kernels
