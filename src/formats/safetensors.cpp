#include "formats/safetensors.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <optional>

#include <nlohmann/json.hpp>

#include "core/half.h"
#include "formats/strict_json.h"

namespace nibble {

using nlohmann::json;

const char* safetensors_dtype_name(SafetensorsDtype dtype) {
  switch (dtype) {
    case SafetensorsDtype::kF32: return "F32";
    case SafetensorsDtype::kF16: return "F16";
    case SafetensorsDtype::kBF16: return "BF16";
  }
  return "?";
}

size_t safetensors_dtype_size(SafetensorsDtype dtype) {
  return dtype == SafetensorsDtype::kF32 ? 4 : 2;
}

const SafetensorView* SafetensorsHeader::find(const std::string& name) const {
  auto it = by_name.find(name);
  return it == by_name.end() ? nullptr : &tensors[it->second];
}

namespace {

std::optional<SafetensorsDtype> dtype_from_name(const std::string& name) {
  if (name == "F32") return SafetensorsDtype::kF32;
  if (name == "F16") return SafetensorsDtype::kF16;
  if (name == "BF16") return SafetensorsDtype::kBF16;
  return std::nullopt;
}

// A tensor entry before its offsets are checked against the others.
struct Entry {
  SafetensorView view;
  uint64_t begin = 0;  // relative to the data section
  uint64_t end = 0;
};

// Reads a JSON value that must be a non-negative integer fitting in int64.
Result<uint64_t> read_count(const json& value, const std::string& what) {
  if (!value.is_number_unsigned() ||
      value.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    return make_error("{} must be a non-negative integer below 2^63, found {}", what,
                      json_excerpt(value));
  return value.get<uint64_t>();
}

Result<SafetensorsDtype> read_dtype(const json& entry, const std::string& context) {
  auto it = entry.find("dtype");
  if (it == entry.end()) return make_error("{} has no \"dtype\"", context);
  if (!it->is_string())
    return make_error("{} \"dtype\" must be a string, found {}", context, json_excerpt(*it));
  auto dtype = dtype_from_name(it->get<std::string>());
  if (!dtype)
    return make_error("{} has dtype {} which nibble does not read (supported: F32, F16, BF16)",
                      context, json_excerpt(*it));
  return *dtype;
}

// Fills shape and element_count; the product and the byte size are overflow-checked.
Status read_shape(const json& entry, const std::string& context, SafetensorView* view) {
  auto it = entry.find("shape");
  if (it == entry.end()) return make_error("{} has no \"shape\"", context);
  if (!it->is_array())
    return make_error("{} \"shape\" must be an array, found {}", context, json_excerpt(*it));
  uint64_t elements = 1;
  for (size_t i = 0; i < it->size(); ++i) {
    auto dim = read_count((*it)[i], fmt::format("{} shape[{}]", context, i));
    if (!dim.ok()) return dim.error();
    if (!checked_mul(elements, *dim, &elements))
      return make_error("{} shape {} has more elements than fit in 64 bits", context,
                        json_excerpt(*it));
    view->shape.push_back(static_cast<int64_t>(*dim));
  }
  uint64_t bytes = 0;
  if (!checked_mul(elements, safetensors_dtype_size(view->dtype), &bytes))
    return make_error("{} shape {} needs more bytes than fit in 64 bits", context,
                      json_excerpt(*it));
  view->element_count = elements;
  return {};
}

Status read_offsets(const json& entry, const std::string& context, Entry* out) {
  auto it = entry.find("data_offsets");
  if (it == entry.end()) return make_error("{} has no \"data_offsets\"", context);
  if (!it->is_array() || it->size() != 2)
    return make_error("{} \"data_offsets\" must be an array [begin, end], found {}", context,
                      json_excerpt(*it));
  NIBBLE_ASSIGN_OR_RETURN(out->begin, read_count((*it)[0], context + " data_offsets[0]"));
  NIBBLE_ASSIGN_OR_RETURN(out->end, read_count((*it)[1], context + " data_offsets[1]"));
  if (out->end < out->begin)
    return make_error("{} data_offsets [{}, {}] end before they begin", context, out->begin,
                      out->end);
  return {};
}

Result<Entry> read_entry(const std::string& name, const json& value, const std::string& source) {
  std::string context = fmt::format("{}: tensor '{}'", source, name);
  if (!value.is_object())
    return make_error("{} must be an object with dtype, shape and data_offsets, found {}",
                      context, json_excerpt(value));
  Entry entry;
  entry.view.name = name;
  NIBBLE_ASSIGN_OR_RETURN(entry.view.dtype, read_dtype(value, context));
  NIBBLE_CHECK_OK(read_shape(value, context, &entry.view));
  NIBBLE_CHECK_OK(read_offsets(value, context, &entry));
  return entry;
}

// `__metadata__` is free-form text for humans (e.g. {"format": "pt"}); nibble only
// checks that it has the documented string -> string form.
Status check_metadata(const json& value, const std::string& source) {
  if (!value.is_object())
    return make_error("{}: \"__metadata__\" must be an object of strings, found {}", source,
                      json_excerpt(value));
  for (auto it = value.begin(); it != value.end(); ++it)
    if (!it->is_string())
      return make_error("{}: \"__metadata__\" key '{}' must map to a string, found {}", source,
                        it.key(), json_excerpt(*it));
  return {};
}

// The tensors, sorted by offset, must tile [0, data_size) exactly (see the header).
Status check_layout(std::vector<Entry>& entries, uint64_t data_size, const std::string& source) {
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t expected_begin = 0;
  const Entry* previous = nullptr;
  for (const Entry& e : entries) {
    std::string context = fmt::format("{}: tensor '{}'", source, e.view.name);
    if (e.end > data_size)
      return make_error("{} data_offsets [{}, {}] reach past the data section of {} bytes",
                        context, e.begin, e.end, data_size);
    uint64_t expected_bytes = e.view.element_count * safetensors_dtype_size(e.view.dtype);
    if (e.end - e.begin != expected_bytes)
      return make_error("{} data_offsets [{}, {}] span {} bytes but {} x {} needs {}", context,
                        e.begin, e.end, e.end - e.begin, safetensors_dtype_name(e.view.dtype),
                        json(e.view.shape).dump(), expected_bytes);
    if (e.begin < expected_begin)
      return make_error("{} data_offsets [{}, {}] overlap tensor '{}' which ends at {}", context,
                        e.begin, e.end, previous->view.name, expected_begin);
    if (e.begin > expected_begin)
      return make_error("{} starts at data offset {} leaving a gap of unindexed bytes after {}",
                        context, e.begin, expected_begin);
    expected_begin = e.end;
    previous = &e;
  }
  if (expected_begin != data_size)
    return make_error("{}: tensors end at data offset {} but the data section has {} bytes",
                      source, expected_begin, data_size);
  return {};
}

}  // namespace

Result<SafetensorsHeader> parse_safetensors(std::span<const std::byte> bytes,
                                            const std::string& source) {
  ByteReader reader(bytes, source);
  NIBBLE_ASSIGN_OR_RETURN(uint64_t header_size, reader.read<uint64_t>("the header length"));
  if (header_size > kSafetensorsMaxHeaderBytes)
    return make_error("{}: header length {} exceeds the {}-byte limit", source, header_size,
                      kSafetensorsMaxHeaderBytes);
  if (header_size > reader.remaining())
    return make_error("{}: header length {} runs past the end of the {}-byte file", source,
                      header_size, bytes.size());
  NIBBLE_ASSIGN_OR_RETURN(auto header_bytes, reader.take(header_size, "the JSON header"));
  std::string_view header_text(reinterpret_cast<const char*>(header_bytes.data()),
                               header_bytes.size());
  NIBBLE_ASSIGN_OR_RETURN(json header, parse_strict_json(header_text, source + " header"));
  if (!header.is_object())
    return make_error("{}: the header must be a JSON object, found {}", source,
                      json_excerpt(header));

  std::vector<Entry> entries;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      NIBBLE_CHECK_OK(check_metadata(*it, source));
      continue;
    }
    NIBBLE_ASSIGN_OR_RETURN(Entry entry, read_entry(it.key(), *it, source));
    entries.push_back(std::move(entry));
  }

  uint64_t data_start = reader.offset();
  NIBBLE_CHECK_OK(check_layout(entries, reader.remaining(), source));

  SafetensorsHeader result;
  result.tensors.reserve(entries.size());
  for (Entry& e : entries) {
    e.view.file_offset = data_start + e.begin;
    e.view.data = bytes.subspan(e.view.file_offset, e.end - e.begin);
    result.by_name.emplace(e.view.name, result.tensors.size());
    result.tensors.push_back(std::move(e.view));
  }
  return result;
}

Result<SafetensorsFile> open_safetensors(const std::string& path) {
  SafetensorsFile result;
  NIBBLE_ASSIGN_OR_RETURN(result.file, MappedFile::open(path));
  NIBBLE_ASSIGN_OR_RETURN(result.header, parse_safetensors(result.file.bytes(), path));
  return result;
}

std::vector<float> safetensor_to_f32(const SafetensorView& tensor) {
  // parse_safetensors guarantees data.size() == element_count x dtype size.
  std::vector<float> out(tensor.element_count);
  const std::byte* src = tensor.data.data();
  switch (tensor.dtype) {
    case SafetensorsDtype::kF32:
      if (!out.empty()) std::memcpy(out.data(), src, out.size() * sizeof(float));
      break;
    case SafetensorsDtype::kF16:
    case SafetensorsDtype::kBF16: {
      bool is_bf16 = tensor.dtype == SafetensorsDtype::kBF16;
      for (size_t i = 0; i < out.size(); ++i) {
        uint16_t bits;
        std::memcpy(&bits, src + 2 * i, sizeof(bits));  // data need not be 2-byte aligned
        out[i] = is_bf16 ? bf16_to_f32(bits) : f16_to_f32(bits);
      }
      break;
    }
  }
  return out;
}

Result<std::vector<std::byte>> encode_safetensors(std::span<const SafetensorsWriteEntry> entries) {
  nlohmann::ordered_json header;
  header["__metadata__"] = {{"format", "pt"}};
  uint64_t offset = 0;
  for (const SafetensorsWriteEntry& e : entries) {
    if (e.name == "__metadata__")
      return make_error("safetensors writer: '__metadata__' is reserved and cannot name a tensor");
    if (header.contains(e.name))
      return make_error("safetensors writer: tensor name '{}' is used twice", e.name);
    uint64_t elements = 1;
    for (int64_t dim : e.shape)
      if (dim < 0 || !checked_mul(elements, static_cast<uint64_t>(dim), &elements))
        return make_error("safetensors writer: tensor '{}' has an invalid shape {}", e.name,
                          json(e.shape).dump());
    uint64_t expected = 0;
    if (!checked_mul(elements, safetensors_dtype_size(e.dtype), &expected) ||
        expected != e.data.size())
      return make_error("safetensors writer: tensor '{}' has {} bytes but {} x {} needs {}",
                        e.name, e.data.size(), safetensors_dtype_name(e.dtype),
                        json(e.shape).dump(), expected);
    header[e.name] = {{"dtype", safetensors_dtype_name(e.dtype)},
                      {"shape", e.shape},
                      {"data_offsets", {offset, offset + expected}}};
    offset += expected;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // align the data section to 8 bytes

  std::vector<std::byte> out(8 + text.size() + offset);
  uint64_t header_size = text.size();
  std::memcpy(out.data(), &header_size, 8);  // little-endian host (x86-64)
  std::memcpy(out.data() + 8, text.data(), text.size());
  std::byte* data = out.data() + 8 + text.size();
  for (const SafetensorsWriteEntry& e : entries) {
    if (!e.data.empty()) std::memcpy(data, e.data.data(), e.data.size());
    data += e.data.size();
  }
  return out;
}

}  // namespace nibble
