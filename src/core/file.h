// Reading outside bytes safely: a read-only memory map of a whole file and a
// bounds-checked cursor over any byte span. Every parser in src/formats and
// src/tokenizer reads through ByteReader so that a truncated or lying file ends in
// an Error naming what was being read, never in an out-of-bounds access.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include "core/atomic_file.h"  // write_file_atomic
#include "core/status.h"

namespace nibble {

// A whole file mapped read-only. Move-only; unmaps on destruction.
class MappedFile {
 public:
  static Result<MappedFile> open(const std::string& path);

  MappedFile() = default;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  std::span<const std::byte> bytes() const { return {data_, size_}; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  const std::byte* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
};

// Hands the whole pages inside `bytes` back to the OS when they belong to a live
// MappedFile, and returns how many bytes that was (0 for any other memory, which is left
// alone). For file bytes the process has re-laid out and no longer reads: the mapping is
// read-only and never written, so touching them again reads them back from the file,
// unchanged, and until then they no longer count in the process's resident memory.
size_t release_mapped_pages(std::span<const std::byte> bytes);

// Sequential, bounds-checked reads of little-endian values from a byte span.
// `what` strings name the field for error messages; `source` names the file.
class ByteReader {
 public:
  ByteReader(std::span<const std::byte> bytes, std::string source)
      : bytes_(bytes), source_(std::move(source)) {}

  size_t offset() const { return offset_; }
  size_t remaining() const { return bytes_.size() - offset_; }
  size_t size() const { return bytes_.size(); }
  const std::string& source() const { return source_; }

  // Reads a trivially copyable value (host is little-endian x86-64).
  template <typename T>
  Result<T> read(std::string_view what) {
    static_assert(std::is_trivially_copyable_v<T>);
    if (remaining() < sizeof(T)) return truncated(what, sizeof(T));
    T value;
    std::memcpy(&value, bytes_.data() + offset_, sizeof(T));
    offset_ += sizeof(T);
    return value;
  }

  // Returns the next `count` bytes and advances past them.
  Result<std::span<const std::byte>> take(size_t count, std::string_view what) {
    if (remaining() < count) return truncated(what, count);
    auto span = bytes_.subspan(offset_, count);
    offset_ += count;
    return span;
  }

  Status skip(size_t count, std::string_view what) {
    if (remaining() < count) return truncated(what, count);
    offset_ += count;
    return {};
  }

 private:
  Error truncated(std::string_view what, size_t needed) const {
    return make_error("{}: truncated while reading {}: needs {} bytes at offset {} but only {} remain",
                      source_, what, needed, offset_, remaining());
  }

  std::span<const std::byte> bytes_;
  std::string source_;
  size_t offset_ = 0;
};

// Multiplies sizes, failing instead of wrapping around (counts in files are untrusted).
inline bool checked_mul(uint64_t a, uint64_t b, uint64_t* out) {
  return !__builtin_mul_overflow(a, b, out);
}

// Reads a whole file into a string (texts, JSON).
Result<std::string> read_text_file(const std::string& path);

bool file_exists(const std::string& path);
bool is_directory(const std::string& path);

}  // namespace nibble
