// GGUF reader on files built byte by byte in the test: every metadata type, alignment,
// tensor lookup, hand-decoded Q4_0/Q8_0/Q4_1/Q5_0 blocks, and every kind of corruption
// the reader must refuse with a message naming the key or tensor, the rule and the value.
#include "formats/gguf.h"

#include <cmath>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "support/test_support.h"

#include "core/half.h"
#include "quant/quantized_matrix.h"

namespace nibble {
namespace {

// Little-endian byte sink (the host is x86-64).
struct Bytes {
  std::vector<std::byte> data;

  template <typename T>
  Bytes& put(T value) {
    return raw(&value, sizeof(T));
  }
  Bytes& raw(const void* src, size_t n) {
    if (n == 0) return *this;
    const size_t old_size = data.size();
    data.resize(old_size + n);
    std::memcpy(data.data() + old_size, src, n);
    return *this;
  }
  Bytes& str(std::string_view s) { return put<uint64_t>(s.size()).raw(s.data(), s.size()); }
  Bytes& append(const Bytes& other) { return raw(other.data.data(), other.data.size()); }
};

// Type ids as written in files.
constexpr uint32_t id(GgufValueType type) { return static_cast<uint32_t>(type); }
constexpr uint32_t id(GgmlType type) { return static_cast<uint32_t>(type); }

// A GGUF image under construction. Independent of the library so that any field can
// be made to lie: counts, offsets, types.
struct Builder {
  uint32_t version = 3;
  uint32_t alignment = 32;                // where tensor() places data (see general.alignment)
  std::optional<uint64_t> claimed_tensors;  // overrides the tensor count in the header
  std::optional<uint64_t> claimed_kvs;      // overrides the metadata count in the header
  Bytes kvs;
  uint64_t kv_count = 0;
  Bytes infos;
  uint64_t tensor_count = 0;
  std::vector<std::byte> tensor_data;

  // A KV pair with any type id and payload.
  Builder& kv(std::string_view key, uint32_t type, const Bytes& payload) {
    kvs.str(key).put<uint32_t>(type).append(payload);
    ++kv_count;
    return *this;
  }
  template <typename V>
  Builder& kv_scalar(std::string_view key, GgufValueType type, V value) {
    return kv(key, id(type), Bytes().put(value));
  }
  Builder& kv_string(std::string_view key, std::string_view value) {
    return kv(key, id(GgufValueType::kString), Bytes().str(value));
  }

  // A tensor info with any fields.
  Builder& info(std::string_view name, const std::vector<uint64_t>& ne, uint32_t type, uint64_t offset) {
    infos.str(name).put<uint32_t>(static_cast<uint32_t>(ne.size()));
    for (uint64_t d : ne) infos.put(d);
    infos.put(type).put(offset);
    ++tensor_count;
    return *this;
  }
  // A tensor whose bytes go at the next aligned offset of the data section.
  Builder& tensor(std::string_view name, const std::vector<uint64_t>& ne, GgmlType type,
                  const Bytes& payload) {
    tensor_data.resize((tensor_data.size() + alignment - 1) / alignment * alignment);
    info(name, ne, id(type), tensor_data.size());
    const size_t begin = tensor_data.size();
    tensor_data.resize(begin + payload.data.size());
    std::memcpy(tensor_data.data() + begin, payload.data.data(), payload.data.size());
    return *this;
  }

  // Header, metadata, infos, zero padding to `alignment`, data. The file ends with the
  // last tensor's bytes (no trailing padding), so any truncation cuts into something.
  std::vector<std::byte> build() const {
    Bytes out;
    out.raw("GGUF", 4).put(version);
    out.put(claimed_tensors.value_or(tensor_count)).put(claimed_kvs.value_or(kv_count));
    out.append(kvs).append(infos);
    if (tensor_count > 0) {
      out.data.resize((out.data.size() + alignment - 1) / alignment * alignment);
      out.raw(tensor_data.data(), tensor_data.size());
    }
    return out.data;
  }
};

Bytes f32s(const std::vector<float>& values) {
  Bytes b;
  for (float v : values) b.put(v);
  return b;
}

// The tensors of a parsed file point into `file`, so it must outlive the result: a
// temporary is refused at compile time.
Result<GgufFile> parse(const std::vector<std::byte>& file) { return parse_gguf(file, "t.gguf"); }
Result<GgufFile> parse(std::vector<std::byte>&& file) = delete;

// Asserts that parsing fails with a message containing every one of `parts`.
void expect_error(const std::vector<std::byte>& file, const std::vector<std::string>& parts) {
  auto result = parse(file);
  ASSERT_FALSE(result.ok()) << "expected an error mentioning " << parts.front();
  nibble::testing::expect_mentions(result.error().message, parts);
}

template <typename V>
void expect_error(const Result<V>& result, const std::vector<std::string>& parts) {
  ASSERT_FALSE(result.ok()) << "expected an error mentioning " << parts.front();
  nibble::testing::expect_mentions(result.error().message, parts);
}

// One F32 tensor "w" of 4 elements, after a string and an array KV: small but with
// every section, used by the truncation test and as a base for corruptions.
Builder small_builder() {
  Builder b;
  b.kv_string("general.architecture", "llama");
  b.kv("tokens", id(GgufValueType::kArray),
       Bytes().put(id(GgufValueType::kString)).put<uint64_t>(2).str("ab").str("c"));
  b.kv_scalar("n", GgufValueType::kU32, uint32_t{7});
  b.tensor("w", {4}, GgmlType::kF32, f32s({1, 2, 3, 4}));
  b.tensor("v", {2, 1}, GgmlType::kF16, Bytes().put<uint16_t>(0x3c00).put<uint16_t>(0xc000));
  return b;
}

// ---------------------------------------------------------------------------------
// Valid files

TEST(Gguf, ParsesEveryMetadataType) {
  Builder b;
  b.kv_scalar("u8", GgufValueType::kU8, uint8_t{200});
  b.kv_scalar("i8", GgufValueType::kI8, int8_t{-5});
  b.kv_scalar("u16", GgufValueType::kU16, uint16_t{60000});
  b.kv_scalar("i16", GgufValueType::kI16, int16_t{-30000});
  b.kv_scalar("u32", GgufValueType::kU32, uint32_t{4000000000u});
  b.kv_scalar("i32", GgufValueType::kI32, int32_t{-2000000000});
  b.kv_scalar("f32", GgufValueType::kF32, 1.5f);
  b.kv_scalar("bool", GgufValueType::kBool, uint8_t{1});
  b.kv_string("string", "h\xc3\xa9llo");
  b.kv("array_i32", id(GgufValueType::kArray),
       Bytes().put(id(GgufValueType::kI32)).put<uint64_t>(3).put<int32_t>(1).put<int32_t>(-2).put<int32_t>(3));
  b.kv_scalar("u64", GgufValueType::kU64, uint64_t{(1ull << 40) + 7});
  b.kv_scalar("i64", GgufValueType::kI64, int64_t{-(1ll << 40)});
  b.kv_scalar("f64", GgufValueType::kF64, 0.1);
  b.kv("strings", id(GgufValueType::kArray),
       Bytes().put(id(GgufValueType::kString)).put<uint64_t>(3).str("a").str("bc").str(""));
  b.kv("f32s", id(GgufValueType::kArray),
       Bytes().put(id(GgufValueType::kF32)).put<uint64_t>(2).put(0.5f).put(-2.0f));
  // [[1, 2], [3]] as an array of arrays of u8, and an empty array of bool.
  b.kv("nested", id(GgufValueType::kArray),
       Bytes().put(id(GgufValueType::kArray)).put<uint64_t>(2)
           .put(id(GgufValueType::kU8)).put<uint64_t>(2).put<uint8_t>(1).put<uint8_t>(2)
           .put(id(GgufValueType::kU8)).put<uint64_t>(1).put<uint8_t>(3));
  b.kv("empty", id(GgufValueType::kArray), Bytes().put(id(GgufValueType::kBool)).put<uint64_t>(0));

  const auto image = b.build();

  auto file = parse(image);
  ASSERT_TRUE(file.ok()) << file.error().message;
  const GgufMetadata& m = file->metadata;
  EXPECT_EQ(file->version, 3u);
  EXPECT_EQ(file->tensors.size(), 0u);
  ASSERT_EQ(m.size(), 17u);
  EXPECT_EQ(m.entries()[0].key, "u8");
  EXPECT_EQ(m.entries()[16].key, "empty");

  EXPECT_EQ(std::get<uint8_t>(m.find("u8")->data), 200);
  EXPECT_EQ(std::get<int8_t>(m.find("i8")->data), -5);
  EXPECT_EQ(std::get<uint16_t>(m.find("u16")->data), 60000);
  EXPECT_EQ(std::get<int16_t>(m.find("i16")->data), -30000);
  EXPECT_EQ(*m.get_u32("u32"), 4000000000u);
  EXPECT_EQ(*m.get_i32("i32"), -2000000000);
  EXPECT_EQ(*m.get_f32("f32"), 1.5f);
  EXPECT_EQ(*m.get_bool("bool"), true);
  EXPECT_EQ(*m.get_string("string"), "h\xc3\xa9llo");
  EXPECT_EQ(*m.get_array_of_i32("array_i32"), (std::vector<int32_t>{1, -2, 3}));
  EXPECT_EQ(*m.get_u64("u64"), (1ull << 40) + 7);
  EXPECT_EQ(std::get<int64_t>(m.find("i64")->data), -(1ll << 40));
  EXPECT_EQ(*m.get_f64("f64"), 0.1);
  EXPECT_EQ(*m.get_array_of_strings("strings"), (std::vector<std::string>{"a", "bc", ""}));
  EXPECT_EQ(*m.get_array_of_f32("f32s"), (std::vector<float>{0.5f, -2.0f}));

  auto nested = m.get_array("nested");
  ASSERT_TRUE(nested.ok());
  EXPECT_EQ(nested->element_type, GgufValueType::kArray);
  ASSERT_EQ(nested->size, 2u);
  const GgufValue inner0 = nested->element(0);
  const GgufValue inner1 = nested->element(1);
  EXPECT_EQ(inner0.type_description(), "array of u8");
  ASSERT_EQ(std::get<GgufArray>(inner0.data).size, 2u);
  EXPECT_EQ(std::get<uint8_t>(std::get<GgufArray>(inner0.data).element(1).data), 2);
  ASSERT_EQ(std::get<GgufArray>(inner1.data).size, 1u);
  EXPECT_EQ(std::get<uint8_t>(std::get<GgufArray>(inner1.data).element(0).data), 3);
  EXPECT_EQ(m.find("nested")->type_description(), "array of array");
  // Scalar arrays keep their bytes; element() decodes one.
  EXPECT_EQ(std::get<int32_t>(m.get_array("array_i32")->element(1).data), -2);
  EXPECT_EQ(m.get_array("empty")->size, 0u);
  EXPECT_EQ(m.find("empty")->type_description(), "array of bool");
  EXPECT_EQ(m.find("absent"), nullptr);
}

TEST(Gguf, AccessorErrorsNameTheKeyAndBothTypes) {
  Builder b;
  b.kv_string("general.name", "x");
  b.kv_scalar("count", GgufValueType::kU64, uint64_t{3});
  b.kv("ids", id(GgufValueType::kArray), Bytes().put(id(GgufValueType::kI32)).put<uint64_t>(1).put<int32_t>(1));
  const auto image = b.build();
  auto file = parse(image);
  ASSERT_TRUE(file.ok()) << file.error().message;
  const GgufMetadata& m = file->metadata;
  expect_error(m.get_u32("general.name"), {"t.gguf", "'general.name'", "has type string", "expected u32"});
  expect_error(m.get_u32("count"), {"'count'", "has type u64", "expected u32"});
  expect_error(m.get_string("missing.key"), {"'missing.key'", "is missing", "expected string"});
  expect_error(m.get_array_of_strings("ids"), {"'ids'", "has type array of i32", "expected array of string"});
  expect_error(m.get_array_of_f32("count"), {"'count'", "has type u64", "expected array of f32"});
  expect_error(m.get_array("general.name"), {"'general.name'", "expected array"});
}

TEST(Gguf, ReadsVersion2AndFilesWithoutTensors) {
  Builder b;
  b.version = 2;
  b.kv_string("tokenizer.ggml.model", "llama");
  // A vocabulary-only file ends right after its metadata: no padding, no data section.
  auto bytes = b.build();
  EXPECT_NE(bytes.size() % 32, 0u);
  auto file = parse(bytes);
  ASSERT_TRUE(file.ok()) << file.error().message;
  EXPECT_EQ(file->version, 2u);
  EXPECT_EQ(*file->metadata.get_string("tokenizer.ggml.model"), "llama");

  Builder empty;
  const auto image = empty.build();
  auto minimal = parse(image);
  ASSERT_TRUE(minimal.ok()) << minimal.error().message;
  EXPECT_EQ(minimal->metadata.size(), 0u);
}

TEST(Gguf, FindsTensorsByNameWithShapeTypeAndBytes) {
  auto bytes = small_builder().build();
  auto file = parse(bytes);
  ASSERT_TRUE(file.ok()) << file.error().message;
  ASSERT_EQ(file->tensors.size(), 2u);
  EXPECT_EQ(file->alignment, 32u);
  EXPECT_EQ(file->data_offset % 32, 0u);

  const GgufTensor* w = file->find_tensor("w");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->traits->type, GgmlType::kF32);
  EXPECT_EQ(w->ne, (std::vector<int64_t>{4}));
  EXPECT_EQ(w->element_count, 4u);
  EXPECT_EQ(w->byte_size, 16u);
  EXPECT_EQ(w->offset, 0u);
  EXPECT_EQ(w->file_offset, file->data_offset);
  EXPECT_EQ(w->data.data(), bytes.data() + file->data_offset);

  const GgufTensor* v = file->find_tensor("v");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->traits->type, GgmlType::kF16);
  EXPECT_EQ(v->ne, (std::vector<int64_t>{2, 1}));
  EXPECT_EQ(v->cols(), 2);
  EXPECT_EQ(v->rows(), 1);
  EXPECT_EQ(v->offset, 32u);  // the next aligned offset after w's 16 bytes
  EXPECT_EQ(v->data.data() + v->data.size(), bytes.data() + bytes.size());
  EXPECT_EQ(file->find_tensor("x"), nullptr);

  EXPECT_EQ(*gguf_tensor_to_f32(*w), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(*gguf_tensor_to_f32(*v), (std::vector<float>{1.0f, -2.0f}));
}

TEST(Gguf, HonoursGeneralAlignment) {
  Builder b;
  b.alignment = 64;
  b.kv_scalar("general.alignment", GgufValueType::kU32, uint32_t{64});
  b.tensor("a", {3}, GgmlType::kF32, f32s({1, 2, 3}));
  b.tensor("b", {1}, GgmlType::kF32, f32s({5}));
  const auto image = b.build();
  auto file = parse(image);
  ASSERT_TRUE(file.ok()) << file.error().message;
  EXPECT_EQ(file->alignment, 64u);
  EXPECT_EQ(file->data_offset % 64, 0u);
  EXPECT_EQ(file->find_tensor("b")->offset, 64u);
  EXPECT_EQ(*gguf_tensor_to_f32(*file->find_tensor("b")), (std::vector<float>{5}));

  // Offset 32 is aligned to the default but not to the file's 64.
  Builder c;
  c.alignment = 64;
  c.kv_scalar("general.alignment", GgufValueType::kU32, uint32_t{64});
  c.info("a", {1}, id(GgmlType::kF32), 32);
  c.tensor_data.resize(64);
  expect_error(c.build(), {"tensor 'a'", "data offset 32", "not a multiple of the alignment 64"});
}

TEST(Gguf, WidensF16AndBf16Exactly) {
  Builder b;
  b.tensor("h", {4}, GgmlType::kF16,
           Bytes().put<uint16_t>(0x0001).put<uint16_t>(0x7bff).put<uint16_t>(0x8000).put<uint16_t>(0x3555));
  b.tensor("bf", {2}, GgmlType::kBF16, Bytes().put<uint16_t>(0x3f80).put<uint16_t>(0xc049));
  const auto image = b.build();
  auto file = parse(image);
  ASSERT_TRUE(file.ok()) << file.error().message;
  auto h = *gguf_tensor_to_f32(*file->find_tensor("h"));
  EXPECT_EQ(h[0], std::ldexp(1.0f, -24));  // smallest subnormal half
  EXPECT_EQ(h[1], 65504.0f);               // largest finite half
  EXPECT_TRUE(h[2] == 0.0f && std::signbit(h[2]));
  EXPECT_EQ(h[3], 0.333251953125f);
  EXPECT_EQ(*gguf_tensor_to_f32(*file->find_tensor("bf")), (std::vector<float>{1.0f, -3.140625f}));
}

// Q4_0 block 0: d = 0.5 (f16 0x3800), qs[j] = j | (15 - j) << 4, so element j (low
// nibble j) is (j - 8) * 0.5 and element 16 + j (high nibble 15 - j) is (7 - j) * 0.5.
// Block 1: d = -2 (0xc000), every byte 0x98: low nibbles 8 -> 0, high nibbles 9 -> -2.
TEST(Gguf, DecodesHandBuiltQ4_0Blocks) {
  Bytes blocks;
  blocks.put<uint16_t>(0x3800);
  for (int j = 0; j < 16; ++j) blocks.put<uint8_t>(static_cast<uint8_t>(j | (15 - j) << 4));
  blocks.put<uint16_t>(0xc000);
  for (int j = 0; j < 16; ++j) blocks.put<uint8_t>(0x98);
  Builder b;
  b.tensor("q", {32, 2}, GgmlType::kQ4_0, blocks);
  const auto image = b.build();
  auto file = parse(image);
  ASSERT_TRUE(file.ok()) << file.error().message;
  const GgufTensor* q = file->find_tensor("q");
  EXPECT_EQ(q->byte_size, 36u);
  const std::vector<float> expected = {
      -4, -3.5, -3, -2.5, -2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5,      // low nibbles
      3.5, 3, 2.5, 2, 1.5, 1, 0.5, 0, -0.5, -1, -1.5, -2, -2.5, -3, -3.5, -4,      // high nibbles
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
      -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2};
  EXPECT_EQ(*gguf_tensor_to_f32(*q), expected);
}

// Q8_0: d = 0.25 (0x3400), qs = -128, -127, -1, 0, 1, 2, 100, 127, then zeros.
TEST(Gguf, DecodesHandBuiltQ8_0Block) {
  const int8_t codes[8] = {-128, -127, -1, 0, 1, 2, 100, 127};
  Bytes block;
  block.put<uint16_t>(0x3400).raw(codes, 8);
  for (int j = 8; j < 32; ++j) block.put<int8_t>(0);
  Builder b;
  b.tensor("q", {32}, GgmlType::kQ8_0, block);
  const auto image = b.build();
  auto file = parse(image);
  ASSERT_TRUE(file.ok()) << file.error().message;
  std::vector<float> expected = {-32, -31.75, -0.25, 0, 0.25, 0.5, 25, 31.75};
  expected.resize(32, 0.0f);
  EXPECT_EQ(*gguf_tensor_to_f32(*file->find_tensor("q")), expected);
}

// Q4_1: d = 0.5, m = -1 (0xbc00), every byte 0x21: low nibble 1 -> -0.5, high 2 -> 0.
// Q5_0: d = 1, qh = 0x80000001 (fifth bit of elements 0 and 31), qs all 0 but
// qs[15] = 0xf0: element 0 = 16 - 16 = 0, element 15 = 0 - 16, element 31 = 31 - 16.
TEST(Gguf, DecodesHandBuiltQ4_1AndQ5_0Blocks) {
  Bytes q41;
  q41.put<uint16_t>(0x3800).put<uint16_t>(0xbc00);
  for (int j = 0; j < 16; ++j) q41.put<uint8_t>(0x21);
  Bytes q50;
  q50.put<uint16_t>(0x3c00).put<uint32_t>(0x80000001u);
  for (int j = 0; j < 16; ++j) q50.put<uint8_t>(j == 15 ? 0xf0 : 0x00);
  Builder b;
  b.tensor("a", {32}, GgmlType::kQ4_1, q41);
  b.tensor("b", {32}, GgmlType::kQ5_0, q50);
  const auto image = b.build();
  auto file = parse(image);
  ASSERT_TRUE(file.ok()) << file.error().message;
  std::vector<float> a(32, -0.5f);
  std::fill(a.begin() + 16, a.end(), 0.0f);
  EXPECT_EQ(*gguf_tensor_to_f32(*file->find_tensor("a")), a);
  std::vector<float> expected_b(32, -16.0f);
  expected_b[0] = 0;
  expected_b[31] = 15;
  EXPECT_EQ(*gguf_tensor_to_f32(*file->find_tensor("b")), expected_b);
}

// nibble's packed int4/int8 rows with f16 scales are the bytes of Q4_0/Q8_0 blocks:
// writing them into a GGUF tensor and decoding it gives QuantizedMatrix's own values.
TEST(Gguf, QuantizedMatrixBytesDecodeAsGgmlBlocks) {
  DenseMatrix w;
  w.rows = 3;
  w.cols = 64;
  for (int i = 0; i < w.rows * w.cols; ++i) w.data.push_back(std::sin(0.37f * i) * (1 + i % 7));
  for (auto [codec, type, code_bytes] : {std::tuple{WeightCodec::kInt4Sym, GgmlType::kQ4_0, 16},
                                         std::tuple{WeightCodec::kInt8Sym, GgmlType::kQ8_0, 32}}) {
    auto q = quantize_matrix(w, QuantFormat{codec, 32, ScaleType::kF16}, ActivationMode::kFloat, "w");
    ASSERT_TRUE(q.ok()) << q.error().message;
    Bytes blocks;
    for (int r = 0; r < w.rows; ++r)
      for (int g = 0; g < q->n_groups; ++g)
        blocks.raw(q->scales.data() + (static_cast<size_t>(r) * q->n_groups + g) * 2, 2)
            .raw(q->row_codes(r) + g * code_bytes, code_bytes);
    Builder b;
    b.tensor("w", {64, 3}, type, blocks);
    const auto image = b.build();
    auto file = parse(image);
    ASSERT_TRUE(file.ok()) << file.error().message;
    auto decoded = *gguf_tensor_to_f32(*file->find_tensor("w"));
    std::vector<float> row(64);
    for (int r = 0; r < w.rows; ++r) {
      q->dequantize_row(r, row.data());
      for (int i = 0; i < 64; ++i) ASSERT_EQ(decoded[r * 64 + i], row[i]) << codec_name(codec) << " " << r << "," << i;
    }
  }
}

TEST(Gguf, SizesKQuantsButDoesNotDecodeThem) {
  Builder b;
  b.tensor("k4", {256, 2}, GgmlType::kQ4_K, Bytes().raw(std::vector<uint8_t>(288).data(), 288));
  b.tensor("k6", {512}, GgmlType::kQ6_K, Bytes().raw(std::vector<uint8_t>(420).data(), 420));
  const auto image = b.build();
  auto file = parse(image);
  ASSERT_TRUE(file.ok()) << file.error().message;
  EXPECT_EQ(file->find_tensor("k4")->byte_size, 288u);
  EXPECT_EQ(file->find_tensor("k6")->byte_size, 420u);
  expect_error(gguf_tensor_to_f32(*file->find_tensor("k4")), {"tensor 'k4'", "Q4_K", "cannot decode", "Q8_0"});
}

TEST(Gguf, AcceptsNamesUpTo64Bytes) {
  Builder b;
  b.tensor(std::string(64, 'n'), {1}, GgmlType::kF32, f32s({1}));
  const auto image = b.build();
  EXPECT_TRUE(parse(image).ok());
}

// ---------------------------------------------------------------------------------
// Corrupted files

TEST(Gguf, EveryTruncationIsAnError) {
  const auto bytes = small_builder().build();
  ASSERT_TRUE(parse(bytes).ok());
  for (size_t n = 0; n < bytes.size(); ++n) {
    std::vector<std::byte> prefix(bytes.begin(), bytes.begin() + static_cast<ptrdiff_t>(n));
    auto result = parse(prefix);
    ASSERT_FALSE(result.ok()) << "a prefix of " << n << " of " << bytes.size() << " bytes parsed";
    EXPECT_NE(result.error().message.find("t.gguf"), std::string::npos) << result.error().message;
  }
}

TEST(Gguf, RejectsWrongMagicVersionAndByteOrder) {
  auto bytes = small_builder().build();
  bytes[3] = std::byte{'G'};
  expect_error(bytes, {"not a GGUF file", "47 47 55 47", "'GGUG'", "expected 'GGUF'"});
  for (uint32_t version : {1u, 999u, 0u}) {
    Builder b = small_builder();
    b.version = version;
    expect_error(b.build(), {"version " + std::to_string(version), "not supported", "2 and 3"});
  }
  Builder big = small_builder();
  big.version = 0x03000000;  // 3, written big-endian
  expect_error(big.build(), {"big-endian", "version 3", "little-endian GGUF only"});
}

TEST(Gguf, RejectsHugeCounts) {
  Builder b = small_builder();
  b.claimed_kvs = ~0ull;
  expect_error(b.build(), {"claims 18446744073709551615 metadata entries", "at most"});
  b = small_builder();
  b.claimed_tensors = 1ull << 62;
  expect_error(b.build(), {"claims 4611686018427387904 tensors", "at most"});
  // Each count fits on its own but not both together.
  Builder c;
  c.kv_string("k", std::string(100, 'x'));
  c.claimed_kvs = 5;       // 5 * 13 = 65 of the 121 bytes after the header
  c.claimed_tensors = 3;   // + 3 * 24 = 137 > 121
  expect_error(c.build(), {"5 metadata entries and 3 tensors", "need at least 137 bytes", "only 121"});
}

TEST(Gguf, RejectsHugeStringAndArrayLengths) {
  Builder s;
  s.kv("general.name", id(GgufValueType::kString), Bytes().put<uint64_t>(1ull << 62).raw("abc", 3));
  expect_error(s.build(), {"metadata key 'general.name'", "string of 4611686018427387904 bytes", "3 bytes remain"});

  Builder a;
  a.kv("tokenizer.ggml.scores", id(GgufValueType::kArray),
       Bytes().put(id(GgufValueType::kF32)).put<uint64_t>(~0ull).put(1.0f));
  expect_error(a.build(), {"metadata key 'tokenizer.ggml.scores'", "array of 18446744073709551615 f32",
                           "4 bytes left", "at most 1"});
  // An array of strings costs at least 8 bytes per element.
  Builder t;
  t.kv("tokens", id(GgufValueType::kArray),
       Bytes().put(id(GgufValueType::kString)).put<uint64_t>(3).put<uint64_t>(0).put<uint64_t>(0));
  expect_error(t.build(), {"'tokens'", "array of 3 string", "at most 2"});

  Builder k;
  k.kvs.put<uint64_t>(1ull << 40).raw("key", 3).raw(std::string(16, '\0').data(), 16);
  k.kv_count = 1;
  expect_error(k.build(), {"metadata key 0", "1099511627776 bytes long", "limit is 65535"});
}

TEST(Gguf, RejectsBadValues) {
  Builder b;
  b.kv("flag", 13, Bytes().put<uint32_t>(0));
  expect_error(b.build(), {"'flag'", "value type id 13", "0 to 12"});
  Builder c;
  c.kv("list", id(GgufValueType::kArray), Bytes().put<uint32_t>(42).put<uint64_t>(0));
  expect_error(c.build(), {"'list'", "array of value type id 42"});
  Builder d;
  d.kv("flag", id(GgufValueType::kBool), Bytes().put<uint8_t>(2));
  expect_error(d.build(), {"'flag'", "bool byte 2", "expected 0 or 1"});
  Builder flags;
  flags.kv("flags", id(GgufValueType::kArray),
           Bytes().put(id(GgufValueType::kBool)).put<uint64_t>(3).put<uint8_t>(1).put<uint8_t>(0).put<uint8_t>(5));
  expect_error(flags.build(), {"'flags'", "bool byte 5", "expected 0 or 1"});
  Builder e;
  e.kv_string("", "x");
  expect_error(e.build(), {"metadata key 0", "is empty"});
}

TEST(Gguf, CapsArrayNesting) {
  auto nested = [](int depth) {
    Bytes payload;
    for (int i = 0; i < depth - 1; ++i) payload.put(id(GgufValueType::kArray)).put<uint64_t>(1);
    payload.put(id(GgufValueType::kU8)).put<uint64_t>(1).put<uint8_t>(9);
    Builder b;
    b.kv("deep", id(GgufValueType::kArray), payload);
    return b.build();
  };
  const auto deepest = nested(kGgufMaxArrayDepth);
  EXPECT_TRUE(parse(deepest).ok());
  expect_error(nested(kGgufMaxArrayDepth + 1), {"'deep'", "deeper than the 8 levels"});
}

TEST(Gguf, RejectsDuplicateKeysAndTensorNames) {
  Builder b = small_builder();
  b.kv_scalar("n", GgufValueType::kU32, uint32_t{8});
  expect_error(b.build(), {"metadata key 'n' appears twice", "entries 2 and 3"});
  Builder c = small_builder();
  c.tensor("w", {1}, GgmlType::kF32, f32s({9}));
  expect_error(c.build(), {"tensor name 'w' appears twice", "tensors 0 and 2"});
}

TEST(Gguf, RejectsBadTensorShapes) {
  auto one = [](std::vector<uint64_t> ne, uint32_t type) {
    Builder b;
    b.info("w", ne, type, 0);
    b.tensor_data.resize(64);
    return b.build();
  };
  expect_error(one({1, 1, 1, 1, 1}, id(GgmlType::kF32)), {"tensor 'w'", "has 5 dimensions", "expected 1 to 4"});
  expect_error(one({}, id(GgmlType::kF32)), {"tensor 'w'", "has 0 dimensions"});
  expect_error(one({4, 0}, id(GgmlType::kF32)), {"tensor 'w'", "ne[1] = 0", "expected 1"});
  expect_error(one({1ull << 63}, id(GgmlType::kF32)), {"tensor 'w'", "ne[0] = 9223372036854775808"});
  expect_error(one({1ull << 32, 1ull << 32}, id(GgmlType::kF32)),
               {"tensor 'w'", "ne[0..1] = [4294967296, 4294967296]", "overflows int64"});
  expect_error(one({1ull << 31, 1ull << 31}, id(GgmlType::kF64)),
               {"tensor 'w'", "F64", "more bytes than fit in 64 bits"});
  expect_error(one({4}, 77), {"tensor 'w'", "ggml type id 77", "does not know"});
  expect_error(one({33}, id(GgmlType::kQ4_0)),
               {"tensor 'w'", "Q4_0", "ne[0] = 33", "not a multiple", "block size 32"});
  expect_error(one({255}, id(GgmlType::kQ4_K)), {"tensor 'w'", "Q4_K", "block size 256"});

  Builder name;
  name.tensor(std::string(65, 'n'), {1}, GgmlType::kF32, f32s({1}));
  expect_error(name.build(), {"name of tensor 0", "65 bytes long", "limit is 64"});
}

TEST(Gguf, RejectsBadTensorPlacement) {
  Builder misaligned;
  misaligned.info("w", {1}, id(GgmlType::kF32), 4);
  misaligned.tensor_data.resize(8);
  expect_error(misaligned.build(), {"tensor 'w'", "data offset 4", "not a multiple of the alignment 32"});

  Builder outside;
  outside.info("w", {4}, id(GgmlType::kF32), 1ull << 40);
  outside.tensor_data.resize(16);
  expect_error(outside.build(), {"tensor 'w'", "needs 16 bytes at data offset 1099511627776", "holds 16 bytes"});

  Builder past_end;  // 8 elements need 32 bytes, 16 are there
  past_end.info("w", {8}, id(GgmlType::kF32), 0);
  past_end.tensor_data.resize(16);
  expect_error(past_end.build(), {"tensor 'w'", "needs 32 bytes at data offset 0", "holds 16 bytes"});

  Builder wrap;  // offset + size would wrap around 2^64
  wrap.info("w", {4}, id(GgmlType::kF32), ~0ull - 31);
  wrap.tensor_data.resize(16);
  expect_error(wrap.build(), {"tensor 'w'", "needs 16 bytes"});

  Builder overlap;
  overlap.info("a", {16}, id(GgmlType::kF32), 0);   // [0, 64)
  overlap.info("b", {8}, id(GgmlType::kF32), 32);   // [32, 64)
  overlap.tensor_data.resize(64);
  expect_error(overlap.build(), {"tensor 'b'", "[32, 64)", "overlaps tensor 'a'", "[0, 64)"});
}

TEST(Gguf, RejectsBadAlignment) {
  for (uint32_t alignment : {0u, 3u, 48u}) {
    Builder b = small_builder();
    b.kv_scalar("general.alignment", GgufValueType::kU32, alignment);
    expect_error(b.build(), {"'general.alignment' is " + std::to_string(alignment), "power of two"});
  }
  Builder b = small_builder();
  b.kv_scalar("general.alignment", GgufValueType::kU64, uint64_t{32});
  expect_error(b.build(), {"'general.alignment'", "has type u64", "expected u32"});
}

}  // namespace
}  // namespace nibble
