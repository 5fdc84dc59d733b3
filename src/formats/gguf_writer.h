// Writer for GGUF v3 files: typed metadata, tensor infos, then the tensors, each at an
// offset that is a multiple of the alignment. Used for nibble's own model files
// (docs/FORMAT.md) and for `nibble export-gguf`. The output is a pure function of what
// was added, in the order it was added (no timestamps), so writing the same model twice
// gives the same bytes.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "formats/gguf_metadata.h"
#include "formats/gguf_types.h"

namespace nibble {

class GgufWriter {
 public:
  // `alignment` must be a power of two; it is written as `general.alignment` unless 32.
  explicit GgufWriter(uint32_t alignment = 32);

  // Metadata, in the order added. A repeated key is an Error when writing.
  void set(std::string key, GgufValue value);
  void set_string(std::string key, std::string value) { set(std::move(key), {std::move(value)}); }
  void set_u32(std::string key, uint32_t value) { set(std::move(key), {value}); }
  void set_i32(std::string key, int32_t value) { set(std::move(key), {value}); }
  void set_u64(std::string key, uint64_t value) { set(std::move(key), {value}); }
  void set_f32(std::string key, float value) { set(std::move(key), {value}); }
  void set_bool(std::string key, bool value) { set(std::move(key), {value}); }
  void set_strings(std::string key, const std::vector<std::string>& values);
  void set_f32s(std::string key, std::span<const float> values);
  void set_i32s(std::string key, std::span<const int32_t> values);
  void set_u32s(std::string key, std::span<const uint32_t> values);
  void set_u64s(std::string key, std::span<const uint64_t> values);

  // A tensor with ggml dims `ne` (ne[0] contiguous). `data` is not copied: it must stay
  // valid until write() returns. Its size must be what `type` and `ne` imply.
  Status add_tensor(std::string name, GgmlType type, std::vector<int64_t> ne,
                    std::span<const std::byte> data);

  size_t tensor_count() const { return tensors_.size(); }
  // Writes the file atomically (temp file + rename).
  Status write(const std::string& path) const;

 private:
  struct Tensor {
    std::string name;
    GgmlType type;
    std::vector<int64_t> ne;
    std::span<const std::byte> data;
    uint64_t offset;  // in the data section
  };

  uint32_t alignment_;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::vector<Tensor> tensors_;
  uint64_t data_bytes_ = 0;  // end of the last tensor in the data section
};

}  // namespace nibble
