// Crash-safe file writing. AtomicFileWriter streams into a temporary file beside the
// target and renames it over the target only in commit(), after an fsync: a run killed
// at any moment leaves the previous file (or none), never a partial one.
//
// Temp names are `.nibble-tmp-<pid>-<target name>`. Readers never open them, and
// opening a writer removes those that a killed run left for the same target (their pid
// is no longer running), so stale files do not pile up.
#pragma once

#include <cstddef>
#include <span>
#include <string>

#include "core/status.h"

namespace nibble {

class AtomicFileWriter {
 public:
  static Result<AtomicFileWriter> create(const std::string& path);

  AtomicFileWriter(AtomicFileWriter&& other) noexcept;
  AtomicFileWriter& operator=(AtomicFileWriter&&) = delete;
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  ~AtomicFileWriter();  // removes the temp file unless committed

  Status write(std::span<const std::byte> bytes);
  Status write_zeros(size_t count);
  uint64_t bytes_written() const { return written_; }
  // Flushes, closes and renames the temp file over the target.
  Status commit();

  const std::string& temp_path() const { return temp_path_; }

 private:
  AtomicFileWriter(std::string path, std::string temp_path, int fd)
      : path_(std::move(path)), temp_path_(std::move(temp_path)), fd_(fd) {}
  void abandon();

  std::string path_;
  std::string temp_path_;
  int fd_ = -1;
  uint64_t written_ = 0;
};

// Writes `bytes` to `path` atomically (one AtomicFileWriter).
Status write_file_atomic(const std::string& path, std::span<const std::byte> bytes);

// Removes the temp files that killed writers left for `path`; returns how many.
int remove_stale_temp_files(const std::string& path);

}  // namespace nibble
