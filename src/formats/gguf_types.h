// ggml tensor element types as GGUF stores them: one traits row per type (block
// geometry, and a reference decoder to float32 where nibble has one). Adding a type
// is one row in gguf_types.cpp, plus a decoder if nibble should read its values.
//
// A ggml tensor is a sequence of blocks along ne[0] (the contiguous dimension). A block
// holds `block_size` consecutive elements in `block_bytes` bytes; plain types have
// blocks of one element. So ne[0] must be a multiple of block_size, and a tensor takes
// (element_count / block_size) * block_bytes bytes.
//
// Block layouts of the types nibble decodes (all little-endian, d and m are IEEE f16):
//   Q4_0 (18 B / 32): d, qs[16]. Element j < 16 is the low nibble of qs[j], element
//                      j + 16 its high nibble; w = (nibble - 8) * d.
//   Q4_1 (20 B / 32): d, m, qs[16]. Nibbles as Q4_0; w = nibble * d + m.
//   Q5_0 (22 B / 32): d, qh[4], qs[16]. Low 4 bits as Q4_0; bit j of the u32 qh is the
//                      fifth bit of element j (j < 32); w = (q5 - 16) * d.
//   Q5_1 (24 B / 32): d, m, qh[4], qs[16]. Bits as Q5_0; w = q5 * d + m.
//   Q8_0 (34 B / 32): d, qs[32] int8; w = qs[j] * d.
//   F32, F16, BF16: one element per block, widened exactly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace nibble {

// The ggml_type ids (stable: they are written into files).
enum class GgmlType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kBF16 = 30,
};

// Decodes `n_blocks` consecutive blocks starting at `blocks` (any alignment) into
// n_blocks * block_size floats at `out`.
using GgmlToFloat = void (*)(const std::byte* blocks, uint64_t n_blocks, float* out);

struct GgmlTypeTraits {
  GgmlType type;
  const char* name;       // as llama.cpp prints it: "Q4_0", "F16", ...
  uint32_t block_size;    // elements per block
  uint32_t block_bytes;   // bytes per block
  GgmlToFloat to_float;   // null when nibble knows only the size of the type
};

// The traits row of type id `id`, or null when the id is not in the table.
const GgmlTypeTraits* find_ggml_type(uint32_t id);

// "Q4_0" for a known id, "type 77" otherwise (for messages).
std::string ggml_type_name(uint32_t id);

// Comma-separated names of the types with a decoder, for messages ("F32, F16, ...").
std::string ggml_decodable_type_names();

}  // namespace nibble
