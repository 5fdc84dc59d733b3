// GGUF metadata: the typed key/value pairs of a GGUF header, read from untrusted bytes
// and looked up with type-checked accessors.
//
// A value on disk is [u32 type][payload]. Payloads: fixed-width little-endian scalars
// (bool is one byte, 0 or 1), a string is [u64 length][bytes] (UTF-8, no terminator), an
// array is [u32 element type][u64 count][count payloads of that type], and arrays may
// nest. Every length and count is checked against the bytes left in the file before
// anything is allocated, so the decoded metadata takes at most a few times the bytes
// it was read from, whatever the header claims.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "core/file.h"
#include "core/status.h"

namespace nibble {

// GGUF value type ids (stable: they are written into files).
enum class GgufValueType : uint32_t {
  kU8 = 0,
  kI8 = 1,
  kU16 = 2,
  kI16 = 3,
  kU32 = 4,
  kI32 = 5,
  kF32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kU64 = 10,
  kI64 = 11,
  kF64 = 12,
};

const char* gguf_value_type_name(GgufValueType type);  // "u32", "string", "array", ...

struct GgufValue;

// True for the fixed-width types (every type but string and array).
bool gguf_is_scalar(GgufValueType type);
// Bytes of one value of a fixed-width type on disk (bool: 1).
size_t gguf_scalar_bytes(GgufValueType type);

// An array value: `size` elements, all of `element_type` (nested arrays may differ in
// their own element types). Scalar elements stay in their little-endian bytes, so a
// 150k-entry score table costs 600 KB rather than 150k variants, and a hostile array
// cannot multiply its size in memory; strings and nested arrays are decoded.
struct GgufArray {
  GgufValueType element_type = GgufValueType::kU8;
  uint64_t size = 0;
  std::vector<std::byte> scalar_bytes;  // size * gguf_scalar_bytes(element_type), scalars only
  std::vector<GgufValue> values;        // the elements, strings and arrays only

  // Element i (< size) as a value of its own.
  GgufValue element(size_t i) const;
};

// One metadata value. The alternatives are in GgufValueType order, so the variant's
// index is the type id.
struct GgufValue {
  std::variant<uint8_t, int8_t, uint16_t, int16_t, uint32_t, int32_t, float, bool, std::string,
               GgufArray, uint64_t, int64_t, double>
      data;

  GgufValueType type() const { return static_cast<GgufValueType>(data.index()); }
  // The type for messages: "u32", or "array of string" for arrays.
  std::string type_description() const;
};

// Deepest nesting of arrays accepted (an array of arrays is depth 2). The spec sets no
// limit; real files use depth 1, and a cap keeps recursion bounded on hostile input.
inline constexpr int kGgufMaxArrayDepth = 8;

// Reads one value of `type` (already read) for metadata key `key`; errors name the
// key and the rule. `depth` is the array nesting level of the value being read.
Result<GgufValue> read_gguf_value(ByteReader& reader, uint32_t type, const std::string& key,
                                  int depth = 0);

// The metadata of one file, in file order, with lookups by key. Accessors fail with
// an Error naming the file, the key, the type expected and the type found.
class GgufMetadata {
 public:
  struct Entry {
    std::string key;
    GgufValue value;
  };

  explicit GgufMetadata(std::string source = {}) : source_(std::move(source)) {}

  // Adds a pair; a key already present is an Error (GGUF keys are unique).
  Status add(std::string key, GgufValue value);

  const std::vector<Entry>& entries() const { return entries_; }
  size_t size() const { return entries_.size(); }
  bool contains(const std::string& key) const { return index_.count(key) != 0; }
  // The value of `key`, or null.
  const GgufValue* find(const std::string& key) const;

  Result<std::string> get_string(const std::string& key) const;
  Result<bool> get_bool(const std::string& key) const;
  Result<uint32_t> get_u32(const std::string& key) const;
  Result<int32_t> get_i32(const std::string& key) const;
  Result<uint64_t> get_u64(const std::string& key) const;
  Result<float> get_f32(const std::string& key) const;
  Result<double> get_f64(const std::string& key) const;
  // The whole array, whatever its element type.
  Result<GgufArray> get_array(const std::string& key) const;
  Result<std::vector<std::string>> get_array_of_strings(const std::string& key) const;
  Result<std::vector<float>> get_array_of_f32(const std::string& key) const;
  Result<std::vector<int32_t>> get_array_of_i32(const std::string& key) const;

 private:
  // The value of `key` if it has `type`, else an Error naming what was found.
  Result<const GgufValue*> typed(const std::string& key, GgufValueType type) const;
  // The array under `key` if its elements have `element_type`.
  Result<const GgufArray*> typed_array(const std::string& key, GgufValueType element_type) const;

  std::string source_;
  std::vector<Entry> entries_;
  std::unordered_map<std::string, size_t> index_;  // key -> position in entries_
};

}  // namespace nibble
