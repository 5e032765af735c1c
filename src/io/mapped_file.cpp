#include "io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "io/file_error.h"

namespace veloxquant {

std::shared_ptr<const MappedFile> MappedFile::open(const std::string& path, const std::string& kind) {
  const std::string named = (kind.empty() ? "" : kind + " ") + "'" + path + "'";
  std::shared_ptr<MappedFile> f(new MappedFile);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw FileIoError("cannot open " + named + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw FileIoError(named + " is not a regular file");
  }
  f->size_ = static_cast<std::size_t>(st.st_size);
  if (f->size_ > 0) {
    f->map_ = ::mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (f->map_ == MAP_FAILED) {
      const int err = errno;
      f->map_ = nullptr;
      ::close(fd);
      throw FileIoError("cannot map " + named + ": " + std::strerror(err));
    }
    f->data_ = static_cast<const std::uint8_t*>(f->map_);
  }
  ::close(fd);  // the mapping keeps the file
  return f;
}

MappedFile::~MappedFile() {
  if (map_ != nullptr) ::munmap(map_, size_);
}

}  // namespace veloxquant
