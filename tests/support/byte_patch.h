// Byte-level damage for the corrupted-file suite: little-endian field writes, and the
// places of GGUF records found in a file's bytes (a key's record, a tensor's info), so a
// test can lie in exactly one field of an otherwise valid file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace nibble::testing {

using Bytes = std::vector<std::byte>;

void put_le(Bytes& bytes, size_t offset, uint64_t value, int width);
uint64_t get_le(const Bytes& bytes, size_t offset, int width);

// Offset of the u64 length that starts the GGUF string `text` (the record's first byte):
// the first such string when `last` is false, else the last one; npos when absent.
size_t find_gguf_string(const Bytes& bytes, const std::string& text, bool last);

// A GGUF key-value record: where it starts and where its u32 value type lies.
struct GgufKeyRecord {
  size_t start = std::string::npos;
  size_t type = std::string::npos;  // then the value (for arrays: u32 type, u64 count, items)
};
GgufKeyRecord find_gguf_key(const Bytes& bytes, const std::string& key);

// A GGUF tensor info: where it starts, its u32 n_dims, its i64 dims, its u32 type and
// its u64 data offset.
struct GgufTensorInfoRecord {
  size_t start = std::string::npos;
  size_t n_dims = 0, dims = 0, type = 0, offset = 0;
};
GgufTensorInfoRecord find_gguf_tensor_info(const Bytes& bytes, const std::string& name);

}  // namespace nibble::testing
