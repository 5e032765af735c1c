#include "kernels/prefetch_stream.h"

namespace veloxquant::kernels {

namespace {

struct Range {
  ByteRange bytes;
  std::size_t requested_lines = 0;  // a second kernel on the same stream (outlier split) requests no line twice
};
thread_local Range stream[2];

}  // namespace

ScopedPrefetchStream::ScopedPrefetchStream(ByteRange first, ByteRange second) {
  stream[0] = Range{first};
  stream[1] = Range{second};
}

ScopedPrefetchStream::~ScopedPrefetchStream() { stream[0] = stream[1] = Range{}; }

void prefetch_stream_part(std::size_t k, std::size_t parts) {
  constexpr std::size_t kLine = 64;
  for (Range& r : stream) {
    if (r.bytes.data == nullptr || parts == 0) continue;
    const std::size_t lines = (r.bytes.bytes + kLine - 1) / kLine, end = lines * (k + 1) / parts;
    for (; r.requested_lines < end; ++r.requested_lines)
      __builtin_prefetch(r.bytes.data + r.requested_lines * kLine, 0, 2);  // locality 2: prefetcht1, into L2
  }
}

}  // namespace veloxquant::kernels
