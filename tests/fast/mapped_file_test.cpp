// release_mapped_pages: file pages go back to the OS and read back unchanged; memory that
// is not a live file mapping is never touched (dropping anonymous pages would zero them).
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstddef>
#include <vector>

#include "core/file.h"
#include "support/test_support.h"

namespace nibble {
namespace {

constexpr size_t kPages = 64;

size_t page_bytes() { return static_cast<size_t>(::sysconf(_SC_PAGESIZE)); }

std::vector<std::byte> pattern(size_t n) {
  std::vector<std::byte> bytes(n);
  for (size_t i = 0; i < n; ++i) bytes[i] = static_cast<std::byte>((i * 131 + i / 4096) & 0xff);
  return bytes;
}

// Sums every byte, so each page is read (faulted in) first.
size_t touch(std::span<const std::byte> bytes) {
  size_t sum = 0;
  for (std::byte b : bytes) sum += static_cast<size_t>(b);
  return sum;
}

TEST(MappedFile, ReleasedPagesReadBackUnchanged) {
  const std::vector<std::byte> want = pattern(kPages * page_bytes());
  const std::string path = testing::temp_dir() + "/weights.bin";
  ASSERT_TRUE(write_file_atomic(path, want).ok());
  auto file = MappedFile::open(path);
  ASSERT_TRUE(file.ok()) << file.error().message;
  const std::span<const std::byte> bytes = file->bytes();
  touch(bytes);

  // A range starting and ending mid-page releases only the whole pages inside it.
  const size_t page = page_bytes();
  EXPECT_EQ(release_mapped_pages(bytes.subspan(100, bytes.size() - 200)), (kPages - 2) * page);
  EXPECT_EQ(release_mapped_pages(bytes), kPages * page);
  // Less than one whole page: nothing.
  EXPECT_EQ(release_mapped_pages(bytes.subspan(1, page)), 0u);
  EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), want.begin(), want.end()));
}

TEST(MappedFile, OtherMemoryIsLeftAlone) {
  const size_t page = page_bytes();
  const std::vector<std::byte> want = pattern(kPages * page);
  std::vector<std::byte> heap = want;  // large enough that malloc maps it anonymously
  EXPECT_EQ(release_mapped_pages(heap), 0u);
  EXPECT_EQ(heap, want);

  // A range running past the end of a mapping is not inside it.
  const std::string path = testing::temp_dir() + "/small.bin";
  ASSERT_TRUE(write_file_atomic(path, std::span<const std::byte>(want).first(4 * page)).ok());
  auto file = MappedFile::open(path);
  ASSERT_TRUE(file.ok()) << file.error().message;
  const std::span<const std::byte> past_end(file->bytes().data(), 8 * page);  // never read
  EXPECT_EQ(release_mapped_pages(past_end), 0u);

  // Once unmapped, its range is no longer a mapping.
  const std::span<const std::byte> gone = file->bytes();
  *file = MappedFile();
  EXPECT_EQ(release_mapped_pages(gone), 0u);
}

}  // namespace
}  // namespace nibble
