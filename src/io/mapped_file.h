// A file mapped read-only into memory, shared by whatever points into it (a model's tensors, a
// GGUF file's views, a cache file while it is loaded).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace veloxquant {

class MappedFile {
 public:
  // Throws FileIoError naming the path, after `kind` ("cache file", "GGUF file", or nothing),
  // when it cannot be opened, is not a regular file or cannot be mapped.
  static std::shared_ptr<const MappedFile> open(const std::string& path, const std::string& kind = "");
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  MappedFile() = default;
  const std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
  void* map_ = nullptr;
};

}  // namespace veloxquant
