// Sessions saved to a directory (`serve --session-dir DIR`), so idle sessions leave memory and a
// restart keeps them. A session is two files named by its 64-bit id in hex:
//   <id>.vqkv    its KV cache in the cache file format (src/cache/persist.h: atomic, checksummed)
//   <id>.tokens  its token ids, the model's fingerprint, and the size and CRC-32 of the .vqkv
// (layout in docs/file_formats.md). The .vqkv is written first and the .tokens names it by size and
// CRC, so a crash between the two writes leaves a pair that is refused, never a wrong one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "runner/llama_model.h"
#include "veloxquant/kv_cache.h"

namespace veloxquant::server {

inline constexpr std::uint32_t kSessionFileVersion = 1;

struct SavedSession {
  std::uint64_t id = 0;
  std::vector<std::int32_t> tokens;
  std::uint64_t cache_bytes = 0;
  std::uint32_t cache_crc = 0;
};

// CRC-32 over the model's shapes, metadata-derived configuration, tensor names and types, the first
// and last 4 KiB of every tensor and stored matrix, and the weight scheme: tells models apart
// without reading all their weights.
std::uint32_t model_fingerprint(const LlamaModel& model);

class SessionDir {
 public:
  // `config`: the caches the server makes (a saved cache must have the same); `max_tokens`: the
  // longest session the server holds. Creates the directory if needed (FileIoError if it cannot).
  SessionDir(std::string dir, std::uint32_t fingerprint, CacheConfig config, std::size_t vocab, std::size_t max_tokens);

  const std::string& path() const { return dir_; }
  // The sessions of the directory that this server can use; every other .tokens file is named in
  // `problems` with the reason, and left alone.
  std::vector<SavedSession> scan(std::vector<std::string>& problems) const;
  SavedSession save(std::uint64_t id, const std::vector<std::int32_t>& tokens, const KVCache& cache) const;
  // Reads, checks against the record and the configuration, returns the cache (FileFormatError /
  // FileIoError otherwise).
  KVCache load(const SavedSession& session) const;
  void remove(std::uint64_t id) const;  // both files; missing ones are fine

  // Checks a .tokens image (for tests and scan); throws FileFormatError naming `name`.
  SavedSession parse_tokens(const std::uint8_t* data, std::size_t size, const std::string& name) const;

 private:
  std::string file(std::uint64_t id, const char* ext) const;

  std::string dir_;
  std::uint32_t fingerprint_;
  CacheConfig config_;
  std::size_t vocab_, max_tokens_;
};

}  // namespace veloxquant::server
