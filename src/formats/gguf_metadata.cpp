#include "formats/gguf_metadata.h"

#include <cstring>
#include <span>

#include <fmt/format.h>

namespace nibble {

namespace {

constexpr uint32_t kValueTypeCount = 13;  // ids 0..12

using ValueStorage = decltype(GgufValue::data);
static_assert(std::variant_size_v<ValueStorage> == kValueTypeCount);
static_assert(std::is_same_v<std::variant_alternative_t<static_cast<size_t>(GgufValueType::kArray), ValueStorage>,
                             GgufArray>);
static_assert(std::is_same_v<std::variant_alternative_t<static_cast<size_t>(GgufValueType::kF64), ValueStorage>,
                             double>);

// The fewest bytes one payload of `type` occupies on disk. Array counts are capped by
// the bytes left divided by this, so no count can ask for more elements than the file
// could possibly hold.
uint64_t min_payload_bytes(GgufValueType type) {
  if (gguf_is_scalar(type)) return gguf_scalar_bytes(type);
  return type == GgufValueType::kString ? 8 : 12;  // length; or element type + count
}

template <GgufValueType kType>
GgufValue scalar_from(const std::byte* bytes) {
  constexpr size_t kIndex = static_cast<size_t>(kType);
  using T = std::variant_alternative_t<kIndex, ValueStorage>;
  T value;
  std::memcpy(&value, bytes, sizeof(T));
  GgufValue out;
  out.data.emplace<kIndex>(value);
  return out;
}

// The scalar of `type` stored at `bytes` (a bool byte already checked to be 0 or 1).
GgufValue scalar_value(GgufValueType type, const std::byte* bytes) {
  switch (type) {
    case GgufValueType::kU8: return scalar_from<GgufValueType::kU8>(bytes);
    case GgufValueType::kI8: return scalar_from<GgufValueType::kI8>(bytes);
    case GgufValueType::kU16: return scalar_from<GgufValueType::kU16>(bytes);
    case GgufValueType::kI16: return scalar_from<GgufValueType::kI16>(bytes);
    case GgufValueType::kU32: return scalar_from<GgufValueType::kU32>(bytes);
    case GgufValueType::kI32: return scalar_from<GgufValueType::kI32>(bytes);
    case GgufValueType::kF32: return scalar_from<GgufValueType::kF32>(bytes);
    case GgufValueType::kU64: return scalar_from<GgufValueType::kU64>(bytes);
    case GgufValueType::kI64: return scalar_from<GgufValueType::kI64>(bytes);
    case GgufValueType::kF64: return scalar_from<GgufValueType::kF64>(bytes);
    case GgufValueType::kBool: {
      GgufValue out;
      out.data.emplace<bool>(bytes[0] == std::byte{1});
      return out;
    }
    case GgufValueType::kString:
    case GgufValueType::kArray: break;  // not scalars; callers check gguf_is_scalar first
  }
  return {};
}

// Reads the values of one metadata key; `what` ("the value of metadata key 'k'") is
// built once for the key, not once per array element.
class ValueReader {
 public:
  ValueReader(ByteReader& reader, const std::string& key)
      : reader_(reader), key_(key), what_(fmt::format("the value of metadata key '{}'", key)) {}

  Result<GgufValue> read(uint32_t type_id, int depth) {
    if (type_id >= kValueTypeCount)
      return error("has value type id {}, which GGUF does not define (0 to {})", type_id,
                   kValueTypeCount - 1);
    const auto type = static_cast<GgufValueType>(type_id);
    if (type == GgufValueType::kString) return string();
    if (type == GgufValueType::kArray) return array(depth);
    NIBBLE_ASSIGN_OR_RETURN(auto bytes, scalars(type, 1));
    return scalar_value(type, bytes.data());
  }

 private:
  template <typename... Args>
  Error error(fmt::format_string<Args...> format, Args&&... args) const {
    return make_error("{}: metadata key '{}' {}", reader_.source(), key_,
                      fmt::format(format, std::forward<Args>(args)...));
  }

  // Takes `count` scalars of `type`. Bool bytes must be 0 or 1 (the spec: "Anything
  // else is invalid").
  Result<std::span<const std::byte>> scalars(GgufValueType type, uint64_t count) {
    const size_t offset = reader_.offset();
    NIBBLE_ASSIGN_OR_RETURN(auto bytes, reader_.take(count * gguf_scalar_bytes(type), what_));
    if (type == GgufValueType::kBool) {
      for (size_t i = 0; i < bytes.size(); ++i)
        if (bytes[i] > std::byte{1})
          return error("has a bool byte {} at offset {}, expected 0 or 1",
                       static_cast<int>(bytes[i]), offset + i);
    }
    return bytes;
  }

  Result<GgufValue> string() {
    NIBBLE_ASSIGN_OR_RETURN(uint64_t length, reader_.read<uint64_t>(what_));
    if (length > reader_.remaining())
      return error("has a string of {} bytes at offset {} but only {} bytes remain in the file",
                   length, reader_.offset(), reader_.remaining());
    NIBBLE_ASSIGN_OR_RETURN(auto bytes, reader_.take(length, what_));
    GgufValue out;
    out.data.emplace<std::string>(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return out;
  }

  Result<GgufValue> array(int depth) {
    if (depth + 1 > kGgufMaxArrayDepth)
      return error("nests arrays deeper than the {} levels nibble accepts", kGgufMaxArrayDepth);
    NIBBLE_ASSIGN_OR_RETURN(uint32_t element_type, reader_.read<uint32_t>(what_));
    if (element_type >= kValueTypeCount)
      return error("has an array of value type id {}, which GGUF does not define (0 to {})",
                   element_type, kValueTypeCount - 1);
    const auto type = static_cast<GgufValueType>(element_type);
    NIBBLE_ASSIGN_OR_RETURN(uint64_t count, reader_.read<uint64_t>(what_));
    const uint64_t max_count = reader_.remaining() / min_payload_bytes(type);
    if (count > max_count)
      return error("has an array of {} {} elements but the {} bytes left in the file hold at most {}",
                   count, gguf_value_type_name(type), reader_.remaining(), max_count);
    GgufValue out;
    GgufArray& array = out.data.emplace<GgufArray>();
    array.element_type = type;
    array.size = count;
    if (gguf_is_scalar(type)) {
      // count <= remaining / width, so count * width cannot overflow.
      NIBBLE_ASSIGN_OR_RETURN(auto bytes, scalars(type, count));
      array.scalar_bytes.assign(bytes.begin(), bytes.end());
      return out;
    }
    array.values.reserve(count);
    for (uint64_t i = 0; i < count; ++i) {
      NIBBLE_ASSIGN_OR_RETURN(GgufValue element, read(element_type, depth + 1));
      array.values.push_back(std::move(element));
    }
    return out;
  }

  ByteReader& reader_;
  const std::string& key_;
  std::string what_;
};

}  // namespace

const char* gguf_value_type_name(GgufValueType type) {
  switch (type) {
    case GgufValueType::kU8: return "u8";
    case GgufValueType::kI8: return "i8";
    case GgufValueType::kU16: return "u16";
    case GgufValueType::kI16: return "i16";
    case GgufValueType::kU32: return "u32";
    case GgufValueType::kI32: return "i32";
    case GgufValueType::kF32: return "f32";
    case GgufValueType::kBool: return "bool";
    case GgufValueType::kString: return "string";
    case GgufValueType::kArray: return "array";
    case GgufValueType::kU64: return "u64";
    case GgufValueType::kI64: return "i64";
    case GgufValueType::kF64: return "f64";
  }
  return "unknown";
}

bool gguf_is_scalar(GgufValueType type) {
  return type != GgufValueType::kString && type != GgufValueType::kArray;
}

size_t gguf_scalar_bytes(GgufValueType type) {
  switch (type) {
    case GgufValueType::kU8:
    case GgufValueType::kI8:
    case GgufValueType::kBool: return 1;
    case GgufValueType::kU16:
    case GgufValueType::kI16: return 2;
    case GgufValueType::kU32:
    case GgufValueType::kI32:
    case GgufValueType::kF32: return 4;
    case GgufValueType::kU64:
    case GgufValueType::kI64:
    case GgufValueType::kF64: return 8;
    case GgufValueType::kString:
    case GgufValueType::kArray: break;
  }
  return 0;
}

GgufValue GgufArray::element(size_t i) const {
  if (!gguf_is_scalar(element_type)) return values[i];
  return scalar_value(element_type, scalar_bytes.data() + i * gguf_scalar_bytes(element_type));
}

std::string GgufValue::type_description() const {
  if (const auto* array = std::get_if<GgufArray>(&data))
    return fmt::format("array of {}", gguf_value_type_name(array->element_type));
  return gguf_value_type_name(type());
}

Result<GgufValue> read_gguf_value(ByteReader& reader, uint32_t type, const std::string& key,
                                  int depth) {
  return ValueReader(reader, key).read(type, depth);
}

Status GgufMetadata::add(std::string key, GgufValue value) {
  auto [it, inserted] = index_.emplace(key, entries_.size());
  if (!inserted)
    return make_error("{}: metadata key '{}' appears twice (entries {} and {}); keys must be unique",
                      source_, key, it->second, entries_.size());
  entries_.push_back(Entry{std::move(key), std::move(value)});
  return {};
}

const GgufValue* GgufMetadata::find(const std::string& key) const {
  auto it = index_.find(key);
  return it == index_.end() ? nullptr : &entries_[it->second].value;
}

Result<const GgufValue*> GgufMetadata::typed(const std::string& key, GgufValueType type) const {
  const GgufValue* value = find(key);
  if (!value)
    return make_error("{}: metadata key '{}' is missing (expected {})", source_, key,
                      gguf_value_type_name(type));
  if (value->type() != type)
    return make_error("{}: metadata key '{}' has type {}, expected {}", source_, key,
                      value->type_description(), gguf_value_type_name(type));
  return value;
}

Result<const GgufArray*> GgufMetadata::typed_array(const std::string& key,
                                                   GgufValueType element_type) const {
  const GgufValue* value = find(key);
  const std::string expected = fmt::format("array of {}", gguf_value_type_name(element_type));
  if (!value)
    return make_error("{}: metadata key '{}' is missing (expected {})", source_, key, expected);
  const auto* array = std::get_if<GgufArray>(&value->data);
  if (!array || array->element_type != element_type)
    return make_error("{}: metadata key '{}' has type {}, expected {}", source_, key,
                      value->type_description(), expected);
  return array;
}

namespace {

// Copies the scalars of an array already checked to hold T.
template <typename T>
std::vector<T> scalars_of(const GgufArray& array) {
  std::vector<T> out(array.size);
  if (!out.empty()) std::memcpy(out.data(), array.scalar_bytes.data(), array.scalar_bytes.size());
  return out;
}

}  // namespace

Result<std::string> GgufMetadata::get_string(const std::string& key) const {
  NIBBLE_ASSIGN_OR_RETURN(const GgufValue* value, typed(key, GgufValueType::kString));
  return std::get<std::string>(value->data);
}

Result<bool> GgufMetadata::get_bool(const std::string& key) const {
  NIBBLE_ASSIGN_OR_RETURN(const GgufValue* value, typed(key, GgufValueType::kBool));
  return std::get<bool>(value->data);
}

Result<uint32_t> GgufMetadata::get_u32(const std::string& key) const {
  NIBBLE_ASSIGN_OR_RETURN(const GgufValue* value, typed(key, GgufValueType::kU32));
  return std::get<uint32_t>(value->data);
}

Result<int32_t> GgufMetadata::get_i32(const std::string& key) const {
  NIBBLE_ASSIGN_OR_RETURN(const GgufValue* value, typed(key, GgufValueType::kI32));
  return std::get<int32_t>(value->data);
}

Result<uint64_t> GgufMetadata::get_u64(const std::string& key) const {
  NIBBLE_ASSIGN_OR_RETURN(const GgufValue* value, typed(key, GgufValueType::kU64));
  return std::get<uint64_t>(value->data);
}

Result<float> GgufMetadata::get_f32(const std::string& key) const {
  NIBBLE_ASSIGN_OR_RETURN(const GgufValue* value, typed(key, GgufValueType::kF32));
  return std::get<float>(value->data);
}

Result<double> GgufMetadata::get_f64(const std::string& key) const {
  NIBBLE_ASSIGN_OR_RETURN(const GgufValue* value, typed(key, GgufValueType::kF64));
  return std::get<double>(value->data);
}

Result<GgufArray> GgufMetadata::get_array(const std::string& key) const {
  NIBBLE_ASSIGN_OR_RETURN(const GgufValue* value, typed(key, GgufValueType::kArray));
  return std::get<GgufArray>(value->data);
}

Result<std::vector<std::string>> GgufMetadata::get_array_of_strings(const std::string& key) const {
  NIBBLE_ASSIGN_OR_RETURN(const GgufArray* array, typed_array(key, GgufValueType::kString));
  std::vector<std::string> out;
  out.reserve(array->values.size());
  for (const GgufValue& value : array->values) out.push_back(std::get<std::string>(value.data));
  return out;
}

Result<std::vector<float>> GgufMetadata::get_array_of_f32(const std::string& key) const {
  NIBBLE_ASSIGN_OR_RETURN(const GgufArray* array, typed_array(key, GgufValueType::kF32));
  return scalars_of<float>(*array);
}

Result<std::vector<int32_t>> GgufMetadata::get_array_of_i32(const std::string& key) const {
  NIBBLE_ASSIGN_OR_RETURN(const GgufArray* array, typed_array(key, GgufValueType::kI32));
  return scalars_of<int32_t>(*array);
}

}  // namespace nibble
