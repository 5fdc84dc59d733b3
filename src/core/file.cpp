#include "core/file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <vector>

namespace nibble {

namespace {

// The byte ranges of every live MappedFile, so release_mapped_pages can tell file pages
// (safe to drop: read again from the file) from other memory (dropping would zero it).
class MappedRegions {
 public:
  void add(const std::byte* data, size_t size) {
    std::lock_guard<std::mutex> lock(mutex_);
    regions_.emplace_back(data, size);
  }
  // Forgets the mapping at `data` and unmaps it, under the lock.
  void unmap(const std::byte* data, size_t size) {
    std::lock_guard<std::mutex> lock(mutex_);
    std::erase_if(regions_, [data](const auto& region) { return region.first == data; });
    ::munmap(const_cast<std::byte*>(data), size);
  }
  // Drops the pages [begin, end) if they lie in one live mapping. Under the lock, so the
  // mapping cannot be unmapped (and its addresses reused) between the check and madvise.
  bool release(std::byte* begin, std::byte* end) const {
    std::lock_guard<std::mutex> lock(mutex_);
    const bool mapped = std::any_of(regions_.begin(), regions_.end(), [&](const auto& region) {
      return begin >= region.first && end <= region.first + region.second;
    });
    // A hint: if the kernel declines, the pages simply stay.
    return mapped && ::madvise(begin, static_cast<size_t>(end - begin), MADV_DONTNEED) == 0;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::pair<const std::byte*, size_t>> regions_;
};

MappedRegions& mapped_regions() {
  static MappedRegions regions;
  return regions;
}

}  // namespace

Result<MappedFile> MappedFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error("{}: cannot open: {}", path, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return make_error("{}: cannot stat: {}", path, std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return make_error("{}: not a regular file", path);
  }
  MappedFile file;
  file.path_ = path;
  file.size_ = static_cast<size_t>(st.st_size);
  if (file.size_ > 0) {
    void* data = ::mmap(nullptr, file.size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (data == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      return make_error("{}: cannot mmap {} bytes: {}", path, file.size_, std::strerror(err));
    }
    file.data_ = static_cast<const std::byte*>(data);
    mapped_regions().add(file.data_, file.size_);
  }
  ::close(fd);
  return file;
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : data_(other.data_), size_(other.size_), path_(std::move(other.path_)) {
  other.data_ = nullptr;
  other.size_ = 0;
}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    if (data_) mapped_regions().unmap(data_, size_);
    data_ = other.data_;
    size_ = other.size_;
    path_ = std::move(other.path_);
    other.data_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

MappedFile::~MappedFile() {
  if (data_) mapped_regions().unmap(data_, size_);
}

size_t release_mapped_pages(std::span<const std::byte> bytes) {
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto first = reinterpret_cast<uintptr_t>(bytes.data());
  const uintptr_t begin = (first + page - 1) / page * page;
  const uintptr_t end = (first + bytes.size()) / page * page;
  if (begin >= end) return 0;
  auto* data = reinterpret_cast<std::byte*>(begin);
  return mapped_regions().release(data, data + (end - begin)) ? end - begin : 0;
}

Result<std::string> read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error("{}: cannot open: {}", path, std::strerror(errno));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return make_error("{}: read error", path);
  return buffer.str();
}

bool file_exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
}

bool is_directory(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_directory(path, ec);
}

}  // namespace nibble
