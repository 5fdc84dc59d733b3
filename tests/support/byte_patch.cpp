#include "support/byte_patch.h"

#include <cstring>

namespace nibble::testing {

void put_le(Bytes& bytes, size_t offset, uint64_t value, int width) {
  for (int i = 0; i < width; ++i) bytes.at(offset + i) = static_cast<std::byte>(value >> (8 * i));
}

uint64_t get_le(const Bytes& bytes, size_t offset, int width) {
  uint64_t value = 0;
  for (int i = 0; i < width; ++i) value |= static_cast<uint64_t>(bytes.at(offset + i)) << (8 * i);
  return value;
}

size_t find_gguf_string(const Bytes& bytes, const std::string& text, bool last) {
  Bytes needle(8 + text.size());
  put_le(needle, 0, text.size(), 8);
  std::memcpy(needle.data() + 8, text.data(), text.size());
  size_t found = std::string::npos;
  for (size_t at = 0; at + needle.size() <= bytes.size(); ++at) {
    if (std::memcmp(bytes.data() + at, needle.data(), needle.size()) != 0) continue;
    found = at;
    if (!last) break;
  }
  return found;
}

GgufKeyRecord find_gguf_key(const Bytes& bytes, const std::string& key) {
  GgufKeyRecord record;
  // Keys come before the tensor infos, and a key never repeats as a string value
  // earlier in the file, so the first occurrence is the record.
  record.start = find_gguf_string(bytes, key, false);
  if (record.start != std::string::npos) record.type = record.start + 8 + key.size();
  return record;
}

GgufTensorInfoRecord find_gguf_tensor_info(const Bytes& bytes, const std::string& name) {
  GgufTensorInfoRecord record;
  // Tensor infos follow every key-value record (whose string arrays may hold the same
  // names), so the last occurrence is the info.
  record.start = find_gguf_string(bytes, name, true);
  if (record.start == std::string::npos) return record;
  record.n_dims = record.start + 8 + name.size();
  const auto n = static_cast<size_t>(get_le(bytes, record.n_dims, 4));
  record.dims = record.n_dims + 4;
  record.type = record.dims + 8 * n;
  record.offset = record.type + 4;
  return record;
}

}  // namespace nibble::testing
