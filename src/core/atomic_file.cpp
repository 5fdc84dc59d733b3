#include "core/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace nibble {

namespace {

constexpr std::string_view kTempPrefix = ".nibble-tmp-";

std::filesystem::path directory_of(const std::filesystem::path& target) {
  return target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
}

// The pid in `.nibble-tmp-<pid>-<name>`, or -1 when `file` is not a temp file of `name`.
long temp_owner(const std::string& file, const std::string& name) {
  if (file.rfind(kTempPrefix, 0) != 0) return -1;
  size_t dash = file.find('-', kTempPrefix.size());
  if (dash == std::string::npos || file.compare(dash + 1, std::string::npos, name) != 0) return -1;
  std::string digits = file.substr(kTempPrefix.size(), dash - kTempPrefix.size());
  if (digits.empty() || digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos)
    return -1;
  return std::stol(digits);
}

}  // namespace

int remove_stale_temp_files(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  const std::string name = target.filename().string();
  std::error_code ec;
  int removed = 0;
  for (const auto& entry : fs::directory_iterator(directory_of(target), ec)) {
    const long pid = temp_owner(entry.path().filename().string(), name);
    if (pid <= 0 || pid == ::getpid()) continue;
    // kill(pid, 0) fails with ESRCH only when no such process exists: its writer died.
    if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH && fs::remove(entry.path(), ec)) ++removed;
  }
  return removed;
}

Result<AtomicFileWriter> AtomicFileWriter::create(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  if (target.filename().empty()) return make_error("{}: output path names a directory, not a file", path);
  remove_stale_temp_files(path);
  std::string temp = (directory_of(target) / (std::string(kTempPrefix) + std::to_string(::getpid()) + "-" +
                                              target.filename().string()))
                         .string();
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return make_error("{}: cannot create temp file: {}", temp, std::strerror(errno));
  return AtomicFileWriter(path, std::move(temp), fd);
}

AtomicFileWriter::AtomicFileWriter(AtomicFileWriter&& other) noexcept
    : path_(std::move(other.path_)), temp_path_(std::move(other.temp_path_)), fd_(other.fd_),
      written_(other.written_) {
  other.fd_ = -1;
  other.temp_path_.clear();
}

AtomicFileWriter::~AtomicFileWriter() { abandon(); }

void AtomicFileWriter::abandon() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (!temp_path_.empty()) ::unlink(temp_path_.c_str());
  temp_path_.clear();
}

Status AtomicFileWriter::write(std::span<const std::byte> bytes) {
  if (fd_ < 0) return make_error("{}: write after commit or failure", path_);
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      const std::string temp = temp_path_;
      abandon();
      return make_error("{}: write failed: {}", temp, std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  written_ += bytes.size();
  return {};
}

Status AtomicFileWriter::write_zeros(size_t count) {
  static const std::array<std::byte, 4096> zeros{};
  while (count > 0) {
    const size_t n = std::min(count, zeros.size());
    NIBBLE_CHECK_OK(write(std::span(zeros.data(), n)));
    count -= n;
  }
  return {};
}

Status AtomicFileWriter::commit() {
  if (fd_ < 0) return make_error("{}: commit after commit or failure", path_);
  const std::string temp = temp_path_;
  if (::fsync(fd_) != 0 || ::close(fd_) != 0) {
    const int err = errno;
    fd_ = -1;
    abandon();
    return make_error("{}: flush failed: {}", temp, std::strerror(err));
  }
  fd_ = -1;
  if (::rename(temp.c_str(), path_.c_str()) != 0) {
    const int err = errno;
    abandon();
    return make_error("{}: cannot rename temp file into place: {}", path_, std::strerror(err));
  }
  temp_path_.clear();  // committed: nothing left to remove
  return {};
}

Status write_file_atomic(const std::string& path, std::span<const std::byte> bytes) {
  NIBBLE_ASSIGN_OR_RETURN(auto writer, AtomicFileWriter::create(path));
  NIBBLE_CHECK_OK(writer.write(bytes));
  return writer.commit();
}

}  // namespace nibble
