#include "formats/gguf_types.h"

#include <array>
#include <cstring>

#include <fmt/format.h>

#include "core/half.h"

namespace nibble {

namespace {

// Packed ggml blocks (layouts in gguf_types.h). Every field is a byte array or an
// aligned u16, so the structs have no padding; the static_asserts pin the sizes the
// format defines. Blocks are copied out of the file with memcpy because a tensor's
// blocks need not be aligned to the struct's alignment.
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[16];
};
struct BlockQ4_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qs[16];
};
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[16];
};
struct BlockQ5_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qh[4];
  uint8_t qs[16];
};
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[32];
};
static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ8_0) == 34);

template <typename Block>
Block load_block(const std::byte* blocks, uint64_t i) {
  Block block;
  std::memcpy(&block, blocks + i * sizeof(Block), sizeof(Block));
  return block;
}

void f32_to_float(const std::byte* blocks, uint64_t n, float* out) {
  std::memcpy(out, blocks, n * sizeof(float));
}

void f16_to_float(const std::byte* blocks, uint64_t n, float* out) {
  for (uint64_t i = 0; i < n; ++i) out[i] = f16_to_f32(load_block<uint16_t>(blocks, i));
}

void bf16_to_float(const std::byte* blocks, uint64_t n, float* out) {
  for (uint64_t i = 0; i < n; ++i) out[i] = bf16_to_f32(load_block<uint16_t>(blocks, i));
}

void q4_0_to_float(const std::byte* blocks, uint64_t n, float* out) {
  for (uint64_t b = 0; b < n; ++b, out += 32) {
    const auto block = load_block<BlockQ4_0>(blocks, b);
    const float d = f16_to_f32(block.d);
    for (int j = 0; j < 16; ++j) {
      out[j] = static_cast<float>((block.qs[j] & 0x0f) - 8) * d;
      out[j + 16] = static_cast<float>((block.qs[j] >> 4) - 8) * d;
    }
  }
}

void q4_1_to_float(const std::byte* blocks, uint64_t n, float* out) {
  for (uint64_t b = 0; b < n; ++b, out += 32) {
    const auto block = load_block<BlockQ4_1>(blocks, b);
    const float d = f16_to_f32(block.d);
    const float m = f16_to_f32(block.m);
    for (int j = 0; j < 16; ++j) {
      out[j] = static_cast<float>(block.qs[j] & 0x0f) * d + m;
      out[j + 16] = static_cast<float>(block.qs[j] >> 4) * d + m;
    }
  }
}

// The 5-bit value of element j (j < 32) of a Q5 block: low 4 bits from qs, the fifth
// from bit j of qh.
inline int q5_value(const uint8_t* qs, uint32_t qh, int j) {
  const int low = j < 16 ? (qs[j] & 0x0f) : (qs[j - 16] >> 4);
  return low | static_cast<int>(((qh >> j) & 1u) << 4);
}

void q5_0_to_float(const std::byte* blocks, uint64_t n, float* out) {
  for (uint64_t b = 0; b < n; ++b, out += 32) {
    const auto block = load_block<BlockQ5_0>(blocks, b);
    const float d = f16_to_f32(block.d);
    uint32_t qh;
    std::memcpy(&qh, block.qh, 4);
    for (int j = 0; j < 32; ++j) out[j] = static_cast<float>(q5_value(block.qs, qh, j) - 16) * d;
  }
}

void q5_1_to_float(const std::byte* blocks, uint64_t n, float* out) {
  for (uint64_t b = 0; b < n; ++b, out += 32) {
    const auto block = load_block<BlockQ5_1>(blocks, b);
    const float d = f16_to_f32(block.d);
    const float m = f16_to_f32(block.m);
    uint32_t qh;
    std::memcpy(&qh, block.qh, 4);
    for (int j = 0; j < 32; ++j) out[j] = static_cast<float>(q5_value(block.qs, qh, j)) * d + m;
  }
}

void q8_0_to_float(const std::byte* blocks, uint64_t n, float* out) {
  for (uint64_t b = 0; b < n; ++b, out += 32) {
    const auto block = load_block<BlockQ8_0>(blocks, b);
    const float d = f16_to_f32(block.d);
    for (int j = 0; j < 32; ++j) out[j] = static_cast<float>(block.qs[j]) * d;
  }
}

// Block sizes of the K-quants and the rest are from the GGUF/ggml type definitions;
// nibble only needs them to size and bound such tensors, not to decode them.
constexpr std::array kTypes = {
    GgmlTypeTraits{GgmlType::kF32, "F32", 1, 4, f32_to_float},
    GgmlTypeTraits{GgmlType::kF16, "F16", 1, 2, f16_to_float},
    GgmlTypeTraits{GgmlType::kQ4_0, "Q4_0", 32, 18, q4_0_to_float},
    GgmlTypeTraits{GgmlType::kQ4_1, "Q4_1", 32, 20, q4_1_to_float},
    GgmlTypeTraits{GgmlType::kQ5_0, "Q5_0", 32, 22, q5_0_to_float},
    GgmlTypeTraits{GgmlType::kQ5_1, "Q5_1", 32, 24, q5_1_to_float},
    GgmlTypeTraits{GgmlType::kQ8_0, "Q8_0", 32, 34, q8_0_to_float},
    GgmlTypeTraits{GgmlType::kQ8_1, "Q8_1", 32, 36, nullptr},
    GgmlTypeTraits{GgmlType::kQ2_K, "Q2_K", 256, 84, nullptr},
    GgmlTypeTraits{GgmlType::kQ3_K, "Q3_K", 256, 110, nullptr},
    GgmlTypeTraits{GgmlType::kQ4_K, "Q4_K", 256, 144, nullptr},
    GgmlTypeTraits{GgmlType::kQ5_K, "Q5_K", 256, 176, nullptr},
    GgmlTypeTraits{GgmlType::kQ6_K, "Q6_K", 256, 210, nullptr},
    GgmlTypeTraits{GgmlType::kQ8_K, "Q8_K", 256, 292, nullptr},
    GgmlTypeTraits{GgmlType::kI8, "I8", 1, 1, nullptr},
    GgmlTypeTraits{GgmlType::kI16, "I16", 1, 2, nullptr},
    GgmlTypeTraits{GgmlType::kI32, "I32", 1, 4, nullptr},
    GgmlTypeTraits{GgmlType::kI64, "I64", 1, 8, nullptr},
    GgmlTypeTraits{GgmlType::kF64, "F64", 1, 8, nullptr},
    GgmlTypeTraits{GgmlType::kBF16, "BF16", 1, 2, bf16_to_float},
};

}  // namespace

const GgmlTypeTraits* find_ggml_type(uint32_t id) {
  for (const GgmlTypeTraits& traits : kTypes)
    if (static_cast<uint32_t>(traits.type) == id) return &traits;
  return nullptr;
}

std::string ggml_type_name(uint32_t id) {
  const GgmlTypeTraits* traits = find_ggml_type(id);
  return traits ? std::string(traits->name) : fmt::format("type {}", id);
}

std::string ggml_decodable_type_names() {
  std::string names;
  for (const GgmlTypeTraits& traits : kTypes) {
    if (!traits.to_float) continue;
    if (!names.empty()) names += ", ";
    names += traits.name;
  }
  return names;
}

}  // namespace nibble
