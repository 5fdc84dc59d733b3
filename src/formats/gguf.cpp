#include "formats/gguf.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <limits>
#include <numeric>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace nibble {

namespace {

// Smallest possible records, used to cap the header's counts by the file size before
// anything is reserved: a KV pair is a key length (8), a value type (4) and at least a
// one-byte value; a tensor info is a name length (8), n_dims (4), a type (4) and an
// offset (8).
constexpr uint64_t kMinKvBytes = 13;
constexpr uint64_t kMinTensorInfoBytes = 24;
// The spec limits keys to 65535 bytes.
constexpr uint64_t kMaxKeyBytes = 65535;
constexpr uint64_t kMaxInt64 = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

// "47 47 55 47 ('GGUG')" for a bad magic.
std::string describe_magic(std::span<const std::byte> magic) {
  std::string hex, text;
  for (std::byte b : magic) {
    const auto c = static_cast<unsigned char>(b);
    hex += fmt::format("{}{:02x}", hex.empty() ? "" : " ", c);
    text += std::isprint(c) ? static_cast<char>(c) : '.';
  }
  return fmt::format("{} ('{}')", hex, text);
}

Result<uint32_t> read_magic_and_version(ByteReader& reader) {
  NIBBLE_ASSIGN_OR_RETURN(auto magic, reader.take(4, "the magic"));
  if (std::memcmp(magic.data(), "GGUF", 4) != 0)
    return make_error("{}: not a GGUF file: it starts with bytes {}, expected 'GGUF'",
                      reader.source(), describe_magic(magic));
  NIBBLE_ASSIGN_OR_RETURN(uint32_t version, reader.read<uint32_t>("the version"));
  if (version == 2 || version == 3) return version;
  // Version 3 added big-endian files; their version field reads byte-swapped here.
  const uint32_t swapped = __builtin_bswap32(version);
  if (swapped >= 1 && swapped <= 3)
    return make_error("{}: the version field reads {:#010x}, i.e. version {} byte-swapped: a "
                      "big-endian GGUF, but nibble reads little-endian GGUF only",
                      reader.source(), version, swapped);
  if (version == 1)
    return make_error("{}: GGUF version 1 (32-bit counts, before August 2023) is not supported; "
                      "nibble reads versions 2 and 3", reader.source());
  return make_error("{}: GGUF version {} is not supported; nibble reads versions 2 and 3",
                    reader.source(), version);
}

// Checks the header's counts against the bytes that follow it (see kMinKvBytes).
Status check_counts(uint64_t tensor_count, uint64_t kv_count, uint64_t remaining,
                    const std::string& source) {
  if (kv_count > remaining / kMinKvBytes)
    return make_error("{}: the header claims {} metadata entries but the {} bytes after it hold "
                      "at most {}", source, kv_count, remaining, remaining / kMinKvBytes);
  if (tensor_count > remaining / kMinTensorInfoBytes)
    return make_error("{}: the header claims {} tensors but the {} bytes after it hold at most {} "
                      "tensor infos", source, tensor_count, remaining, remaining / kMinTensorInfoBytes);
  // Neither product can overflow after the checks above.
  const uint64_t needed = kv_count * kMinKvBytes + tensor_count * kMinTensorInfoBytes;
  if (needed > remaining)
    return make_error("{}: the header claims {} metadata entries and {} tensors, which need at "
                      "least {} bytes, but only {} follow the header",
                      source, kv_count, tensor_count, needed, remaining);
  return {};
}

// Reads a GGUF string of at most `max_bytes` bytes; `what` names it in messages.
Result<std::string> read_string(ByteReader& reader, uint64_t max_bytes, const std::string& what) {
  const size_t offset = reader.offset();
  NIBBLE_ASSIGN_OR_RETURN(uint64_t length, reader.read<uint64_t>(what));
  if (length == 0)
    return make_error("{}: {} at offset {} is empty", reader.source(), what, offset);
  if (length > max_bytes)
    return make_error("{}: {} at offset {} is {} bytes long, the limit is {}", reader.source(),
                      what, offset, length, max_bytes);
  NIBBLE_ASSIGN_OR_RETURN(auto bytes, reader.take(length, what));
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

Status read_metadata(ByteReader& reader, uint64_t count, GgufMetadata& metadata) {
  for (uint64_t i = 0; i < count; ++i) {
    NIBBLE_ASSIGN_OR_RETURN(std::string key,
                            read_string(reader, kMaxKeyBytes, fmt::format("metadata key {}", i)));
    NIBBLE_ASSIGN_OR_RETURN(uint32_t type,
                            reader.read<uint32_t>(fmt::format("the value type of metadata key '{}'", key)));
    NIBBLE_ASSIGN_OR_RETURN(GgufValue value, read_gguf_value(reader, type, key));
    NIBBLE_CHECK_OK(metadata.add(std::move(key), std::move(value)));
  }
  return {};
}

// `general.alignment`: optional, a u32 power of two.
Result<uint32_t> read_alignment(const GgufMetadata& metadata, const std::string& source) {
  const std::string key = "general.alignment";
  if (!metadata.contains(key)) return kGgufDefaultAlignment;
  NIBBLE_ASSIGN_OR_RETURN(uint32_t alignment, metadata.get_u32(key));
  if (alignment == 0 || (alignment & (alignment - 1)) != 0)
    return make_error("{}: metadata key '{}' is {}, expected a power of two", source, key, alignment);
  return alignment;
}

// Reads one tensor info and checks it on its own (name, shape, type); its placement in
// the data section is checked by place_tensors() once all are known.
Result<GgufTensor> read_tensor_info(ByteReader& reader, uint64_t index) {
  const std::string& source = reader.source();
  GgufTensor t;
  NIBBLE_ASSIGN_OR_RETURN(t.name, read_string(reader, kGgufMaxTensorNameBytes,
                                              fmt::format("the name of tensor {}", index)));
  const std::string what = fmt::format("the info of tensor '{}'", t.name);
  NIBBLE_ASSIGN_OR_RETURN(uint32_t n_dims, reader.read<uint32_t>(what));
  if (n_dims < 1 || n_dims > kGgufMaxDims)
    return make_error("{}: tensor '{}' has {} dimensions, expected 1 to {}", source, t.name, n_dims,
                      kGgufMaxDims);
  t.element_count = 1;
  for (uint32_t i = 0; i < n_dims; ++i) {
    NIBBLE_ASSIGN_OR_RETURN(uint64_t dim, reader.read<uint64_t>(what));
    if (dim < 1 || dim > kMaxInt64)
      return make_error("{}: tensor '{}' has ne[{}] = {}, expected 1 to 2^63-1", source, t.name, i, dim);
    t.ne.push_back(static_cast<int64_t>(dim));
    if (!checked_mul(t.element_count, dim, &t.element_count) || t.element_count > kMaxInt64)
      return make_error("{}: tensor '{}' has ne[0..{}] = [{}] whose product overflows int64",
                        source, t.name, i, fmt::join(t.ne, ", "));
  }
  NIBBLE_ASSIGN_OR_RETURN(t.type_id, reader.read<uint32_t>(what));
  t.traits = find_ggml_type(t.type_id);
  if (!t.traits)
    return make_error("{}: tensor '{}' has ggml type id {}, which nibble does not know", source,
                      t.name, t.type_id);
  if (t.ne[0] % t.traits->block_size != 0)
    return make_error("{}: tensor '{}' of type {} has ne[0] = {}, which is not a multiple of the "
                      "type's block size {}", source, t.name, t.traits->name, t.ne[0],
                      t.traits->block_size);
  if (!checked_mul(t.element_count / t.traits->block_size, t.traits->block_bytes, &t.byte_size))
    return make_error("{}: tensor '{}' of type {} and shape ne = [{}] needs more bytes than fit in "
                      "64 bits", source, t.name, t.traits->name, fmt::join(t.ne, ", "));
  NIBBLE_ASSIGN_OR_RETURN(t.offset, reader.read<uint64_t>(what));
  return t;
}

// Checks that every tensor is aligned, inside the data section and apart from the
// others, then points each one's `data` at its bytes.
Status place_tensors(std::span<const std::byte> bytes, GgufFile& file) {
  const std::string& source = file.source;
  const uint64_t data_size = bytes.size() > file.data_offset ? bytes.size() - file.data_offset : 0;
  for (GgufTensor& t : file.tensors) {
    if (t.offset % file.alignment != 0)
      return make_error("{}: tensor '{}' has data offset {}, which is not a multiple of the "
                        "alignment {}", source, t.name, t.offset, file.alignment);
    if (t.offset > data_size || t.byte_size > data_size - t.offset)
      return make_error("{}: tensor '{}' needs {} bytes at data offset {} but the data section "
                        "(file offset {}) holds {} bytes", source, t.name, t.byte_size, t.offset,
                        file.data_offset, data_size);
    t.file_offset = file.data_offset + t.offset;
    t.data = bytes.subspan(t.file_offset, t.byte_size);
  }
  std::vector<size_t> order(file.tensors.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return file.tensors[a].offset < file.tensors[b].offset;
  });
  for (size_t i = 1; i < order.size(); ++i) {
    const GgufTensor& previous = file.tensors[order[i - 1]];
    const GgufTensor& current = file.tensors[order[i]];
    if (current.offset < previous.offset + previous.byte_size)
      return make_error("{}: tensor '{}' at data bytes [{}, {}) overlaps tensor '{}' at [{}, {})",
                        source, current.name, current.offset, current.offset + current.byte_size,
                        previous.name, previous.offset, previous.offset + previous.byte_size);
  }
  return {};
}

}  // namespace

const GgufTensor* GgufFile::find_tensor(const std::string& name) const {
  auto it = by_name.find(name);
  return it == by_name.end() ? nullptr : &tensors[it->second];
}

Result<GgufFile> parse_gguf(std::span<const std::byte> bytes, const std::string& source) {
  ByteReader reader(bytes, source);
  GgufFile file;
  file.source = source;
  file.metadata = GgufMetadata(source);
  NIBBLE_ASSIGN_OR_RETURN(file.version, read_magic_and_version(reader));
  NIBBLE_ASSIGN_OR_RETURN(uint64_t tensor_count, reader.read<uint64_t>("the tensor count"));
  NIBBLE_ASSIGN_OR_RETURN(uint64_t kv_count, reader.read<uint64_t>("the metadata count"));
  NIBBLE_CHECK_OK(check_counts(tensor_count, kv_count, reader.remaining(), source));

  NIBBLE_CHECK_OK(read_metadata(reader, kv_count, file.metadata));
  NIBBLE_ASSIGN_OR_RETURN(file.alignment, read_alignment(file.metadata, source));

  file.tensors.reserve(tensor_count);
  for (uint64_t i = 0; i < tensor_count; ++i) {
    NIBBLE_ASSIGN_OR_RETURN(GgufTensor tensor, read_tensor_info(reader, i));
    auto [it, inserted] = file.by_name.emplace(tensor.name, file.tensors.size());
    if (!inserted)
      return make_error("{}: tensor name '{}' appears twice (tensors {} and {})", source,
                        tensor.name, it->second, i);
    file.tensors.push_back(std::move(tensor));
  }

  // The data section starts at the first aligned offset after the tensor infos. A file
  // without tensors (a vocabulary-only GGUF) may end before it.
  const uint64_t infos_end = reader.offset();
  file.data_offset = infos_end + (file.alignment - infos_end % file.alignment) % file.alignment;
  NIBBLE_CHECK_OK(place_tensors(bytes, file));
  return file;
}

Result<MappedGgufFile> open_gguf(const std::string& path) {
  NIBBLE_ASSIGN_OR_RETURN(MappedFile mapping, MappedFile::open(path));
  NIBBLE_ASSIGN_OR_RETURN(GgufFile gguf, parse_gguf(mapping.bytes(), path));
  return MappedGgufFile{std::move(mapping), std::move(gguf)};
}

Result<std::vector<float>> gguf_tensor_to_f32(const GgufTensor& tensor) {
  if (!tensor.traits || !tensor.traits->to_float)
    return make_error("tensor '{}' has ggml type {}, which nibble cannot decode (it decodes {})",
                      tensor.name, ggml_type_name(tensor.type_id), ggml_decodable_type_names());
  const uint64_t n_blocks = tensor.element_count / tensor.traits->block_size;
  if (tensor.data.size() != n_blocks * tensor.traits->block_bytes)
    return make_error("tensor '{}' holds {} bytes but its shape and type need {}", tensor.name,
                      tensor.data.size(), n_blocks * tensor.traits->block_bytes);
  std::vector<float> out(tensor.element_count);
  tensor.traits->to_float(tensor.data.data(), n_blocks, out.data());
  return out;
}

std::vector<TensorInfo> gguf_tensor_inventory(const GgufFile& gguf) {
  std::vector<TensorInfo> out;
  for (const GgufTensor& t : gguf.tensors)
    out.push_back({t.name, std::vector<int64_t>(t.ne.rbegin(), t.ne.rend()), t.traits->name, t.byte_size});
  return out;
}

}  // namespace nibble
