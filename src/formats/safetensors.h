// Reader and writer for the safetensors format (Hugging Face):
//
//   [u64 little-endian N][N bytes of JSON header][data section]
//
// The header is a JSON object mapping each tensor name to
//   {"dtype": "F32", "shape": [rows, cols], "data_offsets": [begin, end]}
// where begin/end are byte offsets relative to the start of the data section, plus an
// optional "__metadata__" object of string -> string that carries no tensor.
// Tensor data is little-endian and C-ordered (the last dimension varies fastest).
//
// Every number in the header is untrusted. parse_safetensors() checks, before any
// tensor byte is touched: the header length against a cap and the file size, the
// JSON syntax, duplicate keys, dtype, shape (non-negative, element count and byte size
// without overflow), and that the tensors tile the data section exactly: sorted by
// begin offset they must be contiguous, start at 0, end at the end of the file, and
// each span must be elements x dtype size. This is the rule of the reference
// implementation ("the byte buffer needs to be entirely indexed, and cannot contain
// holes"), so overlaps, gaps and trailing bytes are all errors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/file.h"
#include "core/status.h"

namespace nibble {

// The element types nibble reads. Other safetensors dtypes (I64, F64, F8_*, ...) are
// refused at parse time with an Error naming the tensor and the dtype.
enum class SafetensorsDtype { kF32, kF16, kBF16 };

const char* safetensors_dtype_name(SafetensorsDtype dtype);  // "F32", "F16", "BF16"
size_t safetensors_dtype_size(SafetensorsDtype dtype);       // bytes per element

// One tensor of a parsed file. `data` points into the caller's byte span (usually a
// MappedFile), so a view is valid only while those bytes are.
struct SafetensorView {
  std::string name;
  SafetensorsDtype dtype = SafetensorsDtype::kF32;
  std::vector<int64_t> shape;    // outermost first; [] is a scalar
  uint64_t element_count = 0;    // product of shape (1 for a scalar)
  uint64_t file_offset = 0;      // absolute offset of the first byte in the file
  std::span<const std::byte> data;
};

// The parsed header of one file: its tensors in file order (ascending data offset).
struct SafetensorsHeader {
  std::vector<SafetensorView> tensors;
  std::unordered_map<std::string, size_t> by_name;  // name -> position in `tensors`

  // The tensor called `name`, or null.
  const SafetensorView* find(const std::string& name) const;
};

// Largest JSON header accepted. The reference implementation uses the same 100 MB
// cap; a real header is a few hundred bytes per tensor.
inline constexpr uint64_t kSafetensorsMaxHeaderBytes = 100'000'000;

// Parses a whole safetensors file held in `bytes`. `source` names the file in errors.
Result<SafetensorsHeader> parse_safetensors(std::span<const std::byte> bytes,
                                            const std::string& source);

// A mapped safetensors file with its parsed header; the views point into `file`.
// Moving keeps them valid (the mapping itself does not move).
struct SafetensorsFile {
  MappedFile file;
  SafetensorsHeader header;
};

Result<SafetensorsFile> open_safetensors(const std::string& path);

// Widens a tensor's elements to float32 (exact for all three dtypes).
std::vector<float> safetensor_to_f32(const SafetensorView& tensor);

// One tensor to write: `data` must hold exactly elements x dtype size bytes.
struct SafetensorsWriteEntry {
  std::string name;
  SafetensorsDtype dtype = SafetensorsDtype::kF32;
  std::vector<int64_t> shape;
  std::span<const std::byte> data;
};

// Serializes tensors (in the given order) into a safetensors file image with
// {"format": "pt"} metadata. The header is padded with spaces to a multiple of 8 so
// the data section is 8-byte aligned, as the reference writer does.
Result<std::vector<std::byte>> encode_safetensors(std::span<const SafetensorsWriteEntry> entries);

}  // namespace nibble
