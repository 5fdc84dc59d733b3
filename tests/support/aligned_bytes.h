// A copy of some bytes in a 64-byte aligned buffer, as a file mapping would hold them, so
// loaders of in-memory model images (fuzz targets, corrupted-file tests) get past their
// alignment checks to the checks that follow.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace nibble::testing {

inline std::shared_ptr<std::byte> aligned_copy(const void* data, size_t size) {
  const size_t padded = (size + 63) / 64 * 64 + 64;
  std::shared_ptr<std::byte> buffer(static_cast<std::byte*>(std::aligned_alloc(64, padded)), std::free);
  if (size > 0) std::memcpy(buffer.get(), data, size);
  return buffer;
}

}  // namespace nibble::testing
