// Reader for GGUF files (llama.cpp / ggml), versions 2 and 3, little-endian only:
//
//   "GGUF" | u32 version | u64 tensor_count | u64 metadata_kv_count
//   metadata_kv_count x ( string key | u32 value type | value )      (gguf_metadata.h)
//   tensor_count x ( string name | u32 n_dims | u64 ne[n_dims] | u32 ggml type | u64 offset )
//   zero padding to `general.alignment` (u32, a power of two, default 32)
//   data section: tensor bytes at their offsets (relative to the data section)
//
// Strings are [u64 length][bytes]. A tensor's ne[0] is its contiguous (innermost)
// dimension, so a 2-D weight with `rows` outputs of `cols` inputs has ne = [cols, rows].
//
// Everything in the file is untrusted. parse_gguf() checks before trusting a value:
// the magic and version; each count against the bytes left (a KV pair needs at least
// 13 bytes and a tensor info 24), before anything is allocated; every string and array
// length (gguf_metadata.h); keys and tensor names non-empty and unique, keys at most
// 65535 bytes and tensor names at most 64 (the spec's limits); 1 to 4 dimensions, each
// >= 1, with an element count that fits in int64; a known ggml type whose block size
// divides ne[0]; the byte size without overflow; and that every tensor's offset is
// aligned, its bytes lie inside the file and no two tensors overlap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/file.h"
#include "core/status.h"
#include "formats/gguf_metadata.h"
#include "formats/gguf_types.h"
#include "model/weights.h"

namespace nibble {

inline constexpr uint32_t kGgufDefaultAlignment = 32;
inline constexpr size_t kGgufMaxTensorNameBytes = 64;  // the spec's limit
inline constexpr uint32_t kGgufMaxDims = 4;

// One tensor of a parsed file. `data` points into the caller's bytes (usually a
// MappedFile), so it is valid only while those bytes are.
struct GgufTensor {
  std::string name;
  uint32_t type_id = 0;                  // ggml type as stored
  const GgmlTypeTraits* traits = nullptr;  // never null after parsing
  std::vector<int64_t> ne;               // ggml order: ne[0] is contiguous; 1 to 4 entries
  uint64_t element_count = 0;            // product of ne
  uint64_t offset = 0;                   // relative to the data section, a multiple of the alignment
  uint64_t file_offset = 0;              // absolute offset of the first byte
  uint64_t byte_size = 0;                // (element_count / block_size) * block_bytes
  std::span<const std::byte> data;       // byte_size bytes

  // For a 2-D tensor: rows = ne[1], cols = ne[0].
  int64_t cols() const { return ne[0]; }
  int64_t rows() const { return ne.size() > 1 ? ne[1] : 1; }
};

// The parsed header of one file; the tensors point into the bytes it was parsed from.
struct GgufFile {
  std::string source;
  uint32_t version = 0;
  uint32_t alignment = kGgufDefaultAlignment;
  uint64_t data_offset = 0;              // absolute offset of the data section
  GgufMetadata metadata;
  std::vector<GgufTensor> tensors;       // in the order of the tensor infos
  std::unordered_map<std::string, size_t> by_name;  // name -> position in `tensors`

  // The tensor called `name`, or null.
  const GgufTensor* find_tensor(const std::string& name) const;
};

// Parses a whole GGUF file held in `bytes`; `source` names it in errors. The caller
// keeps `bytes` alive as long as the tensors' data spans are used.
Result<GgufFile> parse_gguf(std::span<const std::byte> bytes, const std::string& source);

// A mapped GGUF file with its parsed header; the tensors point into `mapping`.
// Moving keeps them valid (the mapping itself does not move).
struct MappedGgufFile {
  MappedFile mapping;
  GgufFile gguf;
};

Result<MappedGgufFile> open_gguf(const std::string& path);

// The file's tensors as Model::tensors lists them (logical shape outermost first).
std::vector<TensorInfo> gguf_tensor_inventory(const GgufFile& gguf);

// Maps `path` and hands its bytes, with the mapping as their owner, to a loader that
// reads from bytes (the *_from_bytes loaders, which tests and fuzzers call directly).
template <typename Loader>
auto load_mapped(const std::string& path, Loader&& loader) -> decltype(loader(std::span<const std::byte>{},
                                                                                std::shared_ptr<const void>{})) {
  NIBBLE_ASSIGN_OR_RETURN(MappedFile file, MappedFile::open(path));
  auto mapping = std::make_shared<const MappedFile>(std::move(file));
  const auto bytes = mapping->bytes();
  return loader(bytes, std::move(mapping));
}

// Decodes a tensor to float32 with the reference (scalar) decoder of its type. Errors
// for types nibble can size but not decode (K-quants, integers...), naming the tensor.
Result<std::vector<float>> gguf_tensor_to_f32(const GgufTensor& tensor);

}  // namespace nibble
