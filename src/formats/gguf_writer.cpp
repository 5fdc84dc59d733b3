#include "formats/gguf_writer.h"

#include <cstring>
#include <unordered_set>

#include "core/atomic_file.h"
#include "formats/gguf.h"

namespace nibble {

namespace {

// Serialises the header (everything before the data section) into one byte string.
class HeaderBytes {
 public:
  // Headers are a few KiB; reserving up front also keeps GCC 12 from a false
  // -Wstringop-overflow/-Wrestrict on the first insert into an empty vector.
  HeaderBytes() { bytes_.reserve(size_t{1} << 12); }
  template <typename T>
  void put(const T& value) {
    static_assert(std::is_trivially_copyable_v<T>);
    const auto* p = reinterpret_cast<const std::byte*>(&value);
    bytes_.insert(bytes_.end(), p, p + sizeof(T));
  }
  void put_string(const std::string& s) {
    put<uint64_t>(s.size());
    const auto* p = reinterpret_cast<const std::byte*>(s.data());
    bytes_.insert(bytes_.end(), p, p + s.size());
  }
  void put_raw(std::span<const std::byte> raw) { bytes_.insert(bytes_.end(), raw.begin(), raw.end()); }
  void pad_to(uint64_t alignment) {
    bytes_.resize((bytes_.size() + alignment - 1) / alignment * alignment, std::byte{0});
  }
  // The payload of a value (its type id written by the caller).
  void put_value(const GgufValue& value) {
    std::visit(
        [&](const auto& v) {
          using V = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<V, std::string>) {
            put_string(v);
          } else if constexpr (std::is_same_v<V, GgufArray>) {
            put<uint32_t>(static_cast<uint32_t>(v.element_type));
            put<uint64_t>(v.size);
            if (gguf_is_scalar(v.element_type)) {
              put_raw(v.scalar_bytes);
            } else {
              for (const GgufValue& e : v.values) put_value(e);
            }
          } else if constexpr (std::is_same_v<V, bool>) {
            put<uint8_t>(v ? 1 : 0);
          } else {
            put(v);
          }
        },
        value.data);
  }
  const std::vector<std::byte>& bytes() const { return bytes_; }

 private:
  std::vector<std::byte> bytes_;
};

template <typename T>
GgufValue scalar_array(GgufValueType type, std::span<const T> values) {
  GgufArray array;
  array.element_type = type;
  array.size = values.size();
  const auto bytes = std::as_bytes(values);
  array.scalar_bytes.assign(bytes.begin(), bytes.end());
  return {std::move(array)};
}

}  // namespace

GgufWriter::GgufWriter(uint32_t alignment) : alignment_(alignment) {
  if (alignment_ != kGgufDefaultAlignment) set_u32("general.alignment", alignment_);
}

void GgufWriter::set(std::string key, GgufValue value) { metadata_.emplace_back(std::move(key), std::move(value)); }

void GgufWriter::set_strings(std::string key, const std::vector<std::string>& values) {
  GgufArray array;
  array.element_type = GgufValueType::kString;
  array.size = values.size();
  for (const auto& v : values) array.values.push_back({v});
  set(std::move(key), {std::move(array)});
}
void GgufWriter::set_f32s(std::string key, std::span<const float> values) {
  set(std::move(key), scalar_array(GgufValueType::kF32, values));
}
void GgufWriter::set_i32s(std::string key, std::span<const int32_t> values) {
  set(std::move(key), scalar_array(GgufValueType::kI32, values));
}
void GgufWriter::set_u32s(std::string key, std::span<const uint32_t> values) {
  set(std::move(key), scalar_array(GgufValueType::kU32, values));
}
void GgufWriter::set_u64s(std::string key, std::span<const uint64_t> values) {
  set(std::move(key), scalar_array(GgufValueType::kU64, values));
}

Status GgufWriter::add_tensor(std::string name, GgmlType type, std::vector<int64_t> ne,
                              std::span<const std::byte> data) {
  const GgmlTypeTraits* traits = find_ggml_type(static_cast<uint32_t>(type));
  if (traits == nullptr) return make_error("GGUF tensor '{}': unknown ggml type {}", name, static_cast<uint32_t>(type));
  if (name.empty() || name.size() > kGgufMaxTensorNameBytes)
    return make_error("GGUF tensor '{}': name must have 1 to {} bytes, has {}", name, kGgufMaxTensorNameBytes,
                      name.size());
  if (ne.empty() || ne.size() > kGgufMaxDims)
    return make_error("GGUF tensor '{}': must have 1 to {} dims, has {}", name, kGgufMaxDims, ne.size());
  uint64_t elements = 1;
  for (int64_t d : ne) {
    if (d < 1 || !checked_mul(elements, static_cast<uint64_t>(d), &elements))
      return make_error("GGUF tensor '{}': bad dimension {}", name, d);
  }
  if (ne[0] % traits->block_size != 0)
    return make_error("GGUF tensor '{}': ne[0] = {} is not a multiple of {}'s block size {}", name, ne[0],
                      traits->name, traits->block_size);
  const uint64_t bytes = elements / traits->block_size * traits->block_bytes;
  if (bytes != data.size())
    return make_error("GGUF tensor '{}': {} {} elements need {} bytes, got {}", name, elements, traits->name,
                      bytes, data.size());
  const uint64_t offset = (data_bytes_ + alignment_ - 1) / alignment_ * alignment_;
  data_bytes_ = offset + bytes;
  tensors_.push_back({std::move(name), type, std::move(ne), data, offset});
  return {};
}

Status GgufWriter::write(const std::string& path) const {
  std::unordered_set<std::string> keys;
  for (const auto& [key, value] : metadata_)
    if (!keys.insert(key).second) return make_error("{}: metadata key '{}' set twice", path, key);
  std::unordered_set<std::string> names;
  for (const auto& t : tensors_)
    if (!names.insert(t.name).second) return make_error("{}: tensor '{}' added twice", path, t.name);

  HeaderBytes header;
  header.put_raw(std::as_bytes(std::span("GGUF", 4)));
  header.put<uint32_t>(3);
  header.put<uint64_t>(tensors_.size());
  header.put<uint64_t>(metadata_.size());
  for (const auto& [key, value] : metadata_) {
    header.put_string(key);
    header.put<uint32_t>(static_cast<uint32_t>(value.type()));
    header.put_value(value);
  }
  for (const auto& t : tensors_) {
    header.put_string(t.name);
    header.put<uint32_t>(static_cast<uint32_t>(t.ne.size()));
    for (int64_t d : t.ne) header.put<uint64_t>(static_cast<uint64_t>(d));
    header.put<uint32_t>(static_cast<uint32_t>(t.type));
    header.put<uint64_t>(t.offset);
  }
  header.pad_to(alignment_);

  NIBBLE_ASSIGN_OR_RETURN(auto file, AtomicFileWriter::create(path));
  NIBBLE_CHECK_OK(file.write(header.bytes()));
  uint64_t position = 0;
  for (const auto& t : tensors_) {
    NIBBLE_CHECK_OK(file.write_zeros(t.offset - position));
    NIBBLE_CHECK_OK(file.write(t.data));
    position = t.offset + t.data.size();
  }
  return file.commit();
}

}  // namespace nibble
