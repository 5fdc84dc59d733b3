// safetensors reader/writer on files built byte by byte in the test: valid layouts,
// exact F16/BF16 widening, and every kind of corruption the reader must refuse.
#include "formats/safetensors.h"

#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/test_support.h"

#include "core/half.h"

namespace nibble {
namespace {

// A safetensors image from a literal header and data section (independent of the
// library's writer, so malformed headers can be expressed).
std::vector<std::byte> make_file(const std::string& header, const std::string& data,
                                 uint64_t header_size_override = 0) {
  uint64_t header_size = header_size_override ? header_size_override : header.size();
  std::vector<std::byte> out(8 + header.size() + data.size());
  std::memcpy(out.data(), &header_size, 8);
  std::memcpy(out.data() + 8, header.data(), header.size());
  std::memcpy(out.data() + 8 + header.size(), data.data(), data.size());
  return out;
}

std::string bytes_of(const std::vector<float>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * 4);
}

std::string bytes_of16(const std::vector<uint16_t>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * 2);
}

Result<SafetensorsHeader> parse(const std::vector<std::byte>& file) {
  return parse_safetensors(file, "t.safetensors");
}

// Asserts that parsing fails with a message containing every one of `parts`.
void expect_error(const std::vector<std::byte>& file, const std::vector<std::string>& parts) {
  auto result = parse(file);
  ASSERT_FALSE(result.ok()) << "expected an error mentioning " << parts.front();
  nibble::testing::expect_mentions(result.error().message, parts);
}

// One tensor "t" with the given entry fields and data section.
std::vector<std::byte> one_tensor(const std::string& fields, const std::string& data) {
  return make_file("{\"t\":{" + fields + "}}", data);
}

// A valid three-tensor file used by several tests: a (F32 [2,2]), b (F16 [3]),
// c (BF16 [1,2]); written in an order different from the data order on purpose.
std::vector<std::byte> three_tensor_file() {
  std::string header =
      R"({"__metadata__":{"format":"pt"},)"
      R"("c":{"dtype":"BF16","shape":[1,2],"data_offsets":[22,26]},)"
      R"("a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
      R"("b":{"dtype":"F16","shape":[3],"data_offsets":[16,22]}})";
  std::string data = bytes_of({1.0f, -2.0f, 0.5f, 3.25f}) + bytes_of16({0x3c00, 0xc000, 0x3800}) +
                     bytes_of16({0x3f80, 0xc040});
  return make_file(header, data);
}

TEST(Safetensors, ParsesTensorsInFileOrder) {
  auto file = three_tensor_file();
  auto header = parse(file);
  ASSERT_TRUE(header.ok()) << header.error().message;
  ASSERT_EQ(header->tensors.size(), 3u);
  EXPECT_EQ(header->tensors[0].name, "a");
  EXPECT_EQ(header->tensors[1].name, "b");
  EXPECT_EQ(header->tensors[2].name, "c");

  const SafetensorView* a = header->find("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->dtype, SafetensorsDtype::kF32);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(a->element_count, 4u);
  EXPECT_EQ(a->data.size(), 16u);
  size_t header_size = file.size() - 26 - 8;
  EXPECT_EQ(a->file_offset, 8 + header_size);
  EXPECT_EQ(safetensor_to_f32(*a), (std::vector<float>{1.0f, -2.0f, 0.5f, 3.25f}));

  const SafetensorView* c = header->find("c");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->file_offset, 8 + header_size + 22);
  EXPECT_EQ(header->find("missing"), nullptr);
  EXPECT_EQ(header->find("__metadata__"), nullptr);
}

TEST(Safetensors, WidensF16AndBf16Exactly) {
  // Hand-decoded bit patterns: normal, negative, subnormal, largest finite, infinity.
  std::vector<uint16_t> f16 = {0x3c00, 0xc000, 0x0001, 0x7bff, 0x7c00, 0x8000};
  std::vector<float> f16_expected = {1.0f, -2.0f, 0x1p-24f, 65504.0f,
                                     std::numeric_limits<float>::infinity(), -0.0f};
  std::vector<uint16_t> bf16 = {0x3f80, 0xc040, 0x0001, 0x7f7f, 0x3e20};
  std::vector<float> bf16_expected = {1.0f, -3.0f, 0x1p-133f, 0x1.FEp127f, 0.15625f};
  std::string header = R"({"h":{"dtype":"F16","shape":[6],"data_offsets":[0,12]},)"
                       R"("b":{"dtype":"BF16","shape":[5],"data_offsets":[12,22]}})";
  auto file = make_file(header, bytes_of16(f16) + bytes_of16(bf16));
  auto parsed = parse(file);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  std::vector<float> h = safetensor_to_f32(*parsed->find("h"));
  ASSERT_EQ(h.size(), f16_expected.size());
  for (size_t i = 0; i < h.size(); ++i)
    EXPECT_EQ(std::bit_cast<uint32_t>(h[i]), std::bit_cast<uint32_t>(f16_expected[i])) << i;
  std::vector<float> b = safetensor_to_f32(*parsed->find("b"));
  ASSERT_EQ(b.size(), bf16_expected.size());
  for (size_t i = 0; i < b.size(); ++i)
    EXPECT_EQ(std::bit_cast<uint32_t>(b[i]), std::bit_cast<uint32_t>(bf16_expected[i])) << i;
}

TEST(Safetensors, AcceptsScalarsEmptyTensorsAndNoTensors) {
  auto file = make_file(R"({"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]},)"
                        R"("e":{"dtype":"F16","shape":[0,5],"data_offsets":[4,4]}})",
                        bytes_of({7.0f}));
  auto parsed = parse(file);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->find("s")->element_count, 1u);
  EXPECT_EQ(safetensor_to_f32(*parsed->find("s")), std::vector<float>{7.0f});
  EXPECT_TRUE(safetensor_to_f32(*parsed->find("e")).empty());

  auto empty = parse(make_file("{}", ""));
  ASSERT_TRUE(empty.ok()) << empty.error().message;
  EXPECT_TRUE(empty->tensors.empty());
}

TEST(Safetensors, EveryTruncationIsAnError) {
  auto file = three_tensor_file();
  for (size_t size = 0; size < file.size(); ++size) {
    std::vector<std::byte> prefix(file.begin(), file.begin() + static_cast<ptrdiff_t>(size));
    auto result = parse(prefix);
    EXPECT_FALSE(result.ok()) << "a file cut to " << size << " bytes parsed";
    if (!result.ok()) {
      EXPECT_NE(result.error().message.find("t.safetensors"), std::string::npos);
    }
  }
}

TEST(Safetensors, RejectsBadHeaderLength) {
  expect_error(make_file("{}", "", 1ull << 63), {"header length", "exceeds"});
  expect_error(make_file("{}", "", 1000), {"header length 1000", "past the end"});
  expect_error(std::vector<std::byte>(5), {"truncated", "header length"});
}

TEST(Safetensors, RejectsBadJson) {
  expect_error(make_file("{\"t\":", ""), {"invalid JSON"});
  expect_error(make_file("[1,2]", ""), {"must be a JSON object", "[1, 2]"});
  expect_error(make_file("{\"t\": 5}", ""), {"tensor 't'", "must be an object"});
  expect_error(make_file("\xff\xfe", ""), {"invalid JSON"});
}

TEST(Safetensors, RejectsDuplicateNames) {
  std::string entry = R"({"dtype":"F32","shape":[1],"data_offsets":[0,4]})";
  expect_error(make_file("{\"w\":" + entry + ",\"w\":" + entry + "}", bytes_of({1.0f})),
               {"'w'", "twice"});
  // A duplicate field inside an entry is just as ambiguous.
  expect_error(one_tensor(R"("dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4])",
                          bytes_of({1.0f})),
               {"'dtype'", "twice"});
}

TEST(Safetensors, RejectsBadMetadata) {
  expect_error(make_file(R"({"__metadata__":{"format":1}})", ""), {"__metadata__", "format"});
  expect_error(make_file(R"({"__metadata__":[]})", ""), {"__metadata__", "object"});
}

TEST(Safetensors, RejectsUnsupportedDtype) {
  expect_error(one_tensor(R"("dtype":"I64","shape":[1],"data_offsets":[0,8])", "12345678"),
               {"tensor 't'", "\"I64\"", "F32, F16, BF16"});
  expect_error(one_tensor(R"("dtype":3,"shape":[1],"data_offsets":[0,4])", "1234"),
               {"tensor 't'", "dtype", "string"});
  expect_error(one_tensor(R"("shape":[1],"data_offsets":[0,4])", "1234"),
               {"tensor 't'", "no \"dtype\""});
}

TEST(Safetensors, RejectsBadShapes) {
  expect_error(one_tensor(R"("dtype":"F32","shape":[-1],"data_offsets":[0,4])", "1234"),
               {"tensor 't'", "shape[0]", "non-negative", "-1"});
  expect_error(one_tensor(R"("dtype":"F32","shape":[1.5],"data_offsets":[0,4])", "1234"),
               {"tensor 't'", "shape[0]", "1.5"});
  expect_error(one_tensor(R"("dtype":"F32","shape":"1","data_offsets":[0,4])", "1234"),
               {"tensor 't'", "shape", "array"});
  expect_error(one_tensor(R"("dtype":"F32","shape":[4294967296,4294967296,4294967296],)"
                          R"("data_offsets":[0,4])",
                          "1234"),
               {"tensor 't'", "more elements than fit"});
  expect_error(one_tensor(R"("dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,4])",
                          "1234"),
               {"tensor 't'", "more elements than fit"});
  expect_error(one_tensor(R"("dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,4])",
                          "1234"),
               {"tensor 't'", "more bytes than fit"});
  expect_error(one_tensor(R"("dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,4])",
                          "1234"),
               {"tensor 't'", "shape[0]", "below 2^63"});
}

TEST(Safetensors, RejectsBadOffsets) {
  expect_error(one_tensor(R"("dtype":"F32","shape":[2],"data_offsets":[0,8])", "1234"),
               {"tensor 't'", "[0, 8]", "past the data section of 4 bytes"});
  expect_error(one_tensor(R"("dtype":"F32","shape":[1],"data_offsets":[4,0])", "1234"),
               {"tensor 't'", "end before they begin"});
  expect_error(one_tensor(R"("dtype":"F32","shape":[1],"data_offsets":[0])", "1234"),
               {"tensor 't'", "data_offsets", "[begin, end]"});
  expect_error(one_tensor(R"("dtype":"F32","shape":[1],"data_offsets":[0,-4])", "1234"),
               {"tensor 't'", "data_offsets[1]"});
  expect_error(one_tensor(R"("dtype":"F32","shape":[1],"data_offsets":[0,18446744073709551615])",
                          "1234"),
               {"tensor 't'", "data_offsets[1]"});
  expect_error(one_tensor(R"("dtype":"F32","shape":[1])", "1234"),
               {"tensor 't'", "no \"data_offsets\""});
}

TEST(Safetensors, RejectsSizeMismatch) {
  expect_error(one_tensor(R"("dtype":"F32","shape":[3],"data_offsets":[0,8])", "12345678"),
               {"tensor 't'", "span 8 bytes", "needs 12"});
  expect_error(one_tensor(R"("dtype":"BF16","shape":[3],"data_offsets":[0,8])", "12345678"),
               {"tensor 't'", "BF16", "needs 6"});
}

TEST(Safetensors, RejectsOverlapsGapsAndTrailingBytes) {
  std::string data = bytes_of({1, 2, 3, 4});
  expect_error(make_file(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                         R"("y":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                         bytes_of({1, 2, 3})),
               {"tensor 'y'", "overlap tensor 'x'"});
  // Two tensors sharing the same bytes (an aliasing attempt).
  expect_error(make_file(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                         R"("y":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                         bytes_of({1, 2})),
               {"overlap tensor"});
  expect_error(make_file(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                         R"("y":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}})",
                         data),
               {"tensor 'y'", "gap"});
  expect_error(make_file(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                         bytes_of({1, 2})),
               {"tensor 'x'", "gap"});
  expect_error(make_file(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", data),
               {"tensors end at data offset 8", "16 bytes"});
}

TEST(Safetensors, OpensFilesAndReportsThePath) {
  auto missing = open_safetensors("/nonexistent/model.safetensors");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("/nonexistent/model.safetensors"), std::string::npos);
}

TEST(SafetensorsWriter, RoundTripsAndAlignsTheData) {
  std::vector<float> a = {1.5f, -2.0f, 3.0f, 0.25f, 8.0f, 9.0f};
  std::vector<uint16_t> b = {f32_to_bf16(0.1f), f32_to_bf16(-7.0f)};
  std::vector<SafetensorsWriteEntry> entries = {
      {"first", SafetensorsDtype::kF32, {2, 3}, std::as_bytes(std::span(a))},
      {"second", SafetensorsDtype::kBF16, {2}, std::as_bytes(std::span(b))},
  };
  auto encoded = encode_safetensors(entries);
  ASSERT_TRUE(encoded.ok()) << encoded.error().message;
  uint64_t header_size = 0;
  std::memcpy(&header_size, encoded->data(), 8);
  EXPECT_EQ(header_size % 8, 0u);

  auto parsed = parse(*encoded);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  ASSERT_EQ(parsed->tensors.size(), 2u);
  EXPECT_EQ(parsed->tensors[0].name, "first");
  EXPECT_EQ(parsed->tensors[0].file_offset % 8, 0u);
  EXPECT_EQ(safetensor_to_f32(parsed->tensors[0]), a);
  EXPECT_EQ(parsed->tensors[1].shape, std::vector<int64_t>{2});
  EXPECT_EQ(safetensor_to_f32(parsed->tensors[1]),
            (std::vector<float>{bf16_to_f32(b[0]), bf16_to_f32(b[1])}));
}

TEST(SafetensorsWriter, RejectsInconsistentEntries) {
  std::vector<float> a = {1, 2, 3};
  std::vector<SafetensorsWriteEntry> wrong_size = {
      {"w", SafetensorsDtype::kF32, {2, 2}, std::as_bytes(std::span(a))}};
  auto result = encode_safetensors(wrong_size);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error().message.find("'w'"), std::string::npos);

  std::vector<SafetensorsWriteEntry> duplicate = {
      {"w", SafetensorsDtype::kF32, {3}, std::as_bytes(std::span(a))},
      {"w", SafetensorsDtype::kF32, {3}, std::as_bytes(std::span(a))}};
  result = encode_safetensors(duplicate);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error().message.find("twice"), std::string::npos);
}

}  // namespace
}  // namespace nibble
