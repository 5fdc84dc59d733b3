// nibble model files on the real checkpoints: every preset on tiny-llama-8m and
// tiny-qwen2-7m saves, loads bit-identical (logits) and re-saves to the same bytes; the
// CLI writes, verifies and runs them; damage is reported with the tensor's name.
#include <gtest/gtest.h>

#include <fstream>

#include "formats/gguf.h"
#include "formats/nibble_file.h"
#include "quant/quantize_model.h"
#include "support/gguf_rewrite.h"
#include "support/model_runner.h"
#include "support/test_support.h"

namespace nibble {
namespace {

const std::vector<int> kPrompt = {1, 407, 450, 1057, 263, 271, 13, 378, 306};  // ids < 512: both vocabularies

std::vector<char> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

struct Case {
  std::string model;  // under $NIBBLE_MODELS
  std::string preset;
};

class NibbleFileModel : public ::testing::TestWithParam<Case> {};

TEST_P(NibbleFileModel, SaveLoadIsExact) {
  NIBBLE_REQUIRE_MODELS();
  const Case& c = GetParam();
  LoadOptions options;
  auto model = load_model(testing::model_path(c.model), options);
  ASSERT_TRUE(model.ok()) << model.error().message;
  ThreadPool pool(2);
  ASSERT_TRUE(quantize_model(*model, resolve_recipe(c.preset).value(), pool, nullptr).ok());
  const std::string dir = testing::temp_dir();
  ASSERT_TRUE(save_nibble_model(*model, dir + "/a.gguf").ok());
  auto loaded = load_model(dir + "/a.gguf", options);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded->format, "nibble");
  ASSERT_TRUE(save_nibble_model(*loaded, dir + "/b.gguf").ok());
  EXPECT_TRUE(read_all(dir + "/a.gguf") == read_all(dir + "/b.gguf")) << "save -> load -> save changed bytes";
  const auto want = testing::logits_for(*model, kPrompt, 2);
  const auto got = testing::logits_for(*loaded, kPrompt, 2);
  ASSERT_FALSE(want.empty());
  EXPECT_TRUE(want == got) << "max |diff| " << testing::max_abs_diff(want, got);
  // The tokenizer travels in the file and encodes as the original does.
  const std::string text = "def parse(self, value):\n    return int(value) + 1  # ünïcödé";
  EXPECT_EQ(loaded->tokenizer->encode(text, true).value(), model->tokenizer->encode(text, true).value());
  auto sums = verify_nibble_file(dir + "/a.gguf");
  ASSERT_TRUE(sums.ok()) << sums.error().message;
  EXPECT_EQ(sums->size(), loaded->tensors.size());
}

// Damage to a saved real model, for every preset: truncation at section boundaries,
// flipped bytes (--verify), a missing tensor and an unknown scheme, each named.
TEST_P(NibbleFileModel, DamageIsReportedWithTheTensorName) {
  NIBBLE_REQUIRE_MODELS();
  const Case& c = GetParam();
  LoadOptions options;
  auto model = load_model(testing::model_path(c.model), options);
  ASSERT_TRUE(model.ok()) << model.error().message;
  ThreadPool pool(2);
  ASSERT_TRUE(quantize_model(*model, resolve_recipe(c.preset).value(), pool, nullptr).ok());
  const std::string dir = testing::temp_dir();
  const std::string good = dir + "/good.gguf";
  ASSERT_TRUE(save_nibble_model(*model, good).ok());
  auto mapped = open_gguf(good);
  ASSERT_TRUE(mapped.ok());
  const GgufFile& g = mapped->gguf;
  const std::vector<char> bytes = read_all(good);
  auto write = [&](const std::string& name, const std::vector<char>& content) {
    const std::string path = dir + "/" + name;
    std::ofstream(path, std::ios::binary).write(content.data(), static_cast<std::streamsize>(content.size()));
    return path;
  };
  auto load_error = [&](const std::string& path) {
    auto loaded = load_model(path, options);
    EXPECT_FALSE(loaded.ok()) << path << " loaded";
    return loaded.ok() ? std::string() : loaded.error().message;
  };
  // Truncation: inside the header, at the data section, at the first, middle and last
  // tensors, and one byte short.
  const size_t mid = g.tensors.size() / 2;
  for (size_t cut : {static_cast<size_t>(g.data_offset / 2), static_cast<size_t>(g.data_offset),
                     static_cast<size_t>(g.tensors[0].file_offset + 1), static_cast<size_t>(g.tensors[mid].file_offset),
                     static_cast<size_t>(g.tensors.back().file_offset + 1), bytes.size() - 1}) {
    SCOPED_TRACE("truncated to " + std::to_string(cut) + " bytes");
    const std::string message =
        load_error(write("cut.gguf", std::vector<char>(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(cut))));
    testing::expect_mentions(message, {"cut.gguf"});
  }
  // A flipped byte in a code tensor, a scale tensor and the last tensor.
  for (size_t i : {size_t{0}, mid, g.tensors.size() - 1}) {
    const GgufTensor& t = g.tensors[i];
    std::vector<char> damaged = bytes;
    damaged[t.file_offset + t.byte_size / 2] ^= 0x01;
    auto verified = verify_nibble_file(write("flip.gguf", damaged));
    ASSERT_FALSE(verified.ok()) << t.name;
    testing::expect_mentions(verified.error().message, {t.name, "checksum mismatch"});
  }
  // A missing tensor and an unknown scheme.
  const std::string victim = g.tensors[mid].name;
  ASSERT_TRUE(testing::rewrite_gguf(good, dir + "/missing.gguf", {.drop_tensors = {victim}}).ok());
  testing::expect_mentions(load_error(dir + "/missing.gguf"), {"missing tensor", victim});
  auto codecs = g.metadata.get_array_of_strings("nibble.quant.codec").value();
  const auto names = g.metadata.get_array_of_strings("nibble.quant.tensor").value();
  codecs.back() = "int2_sym";
  testing::GgufEdit edit;
  edit.set_strings["nibble.quant.codec"] = codecs;
  ASSERT_TRUE(testing::rewrite_gguf(good, dir + "/scheme.gguf", edit).ok());
  testing::expect_mentions(load_error(dir + "/scheme.gguf"), {"unknown scheme", "int2_sym", names.back()});
}

std::vector<Case> cases() {
  std::vector<Case> out;
  for (const char* model : {"tiny-llama-8m/model.bin", "tiny-qwen2-7m/hf"})
    for (const char* preset : {"q4_g32", "q8_g32", "a8w4_g256", "w4_g128_asym"}) out.push_back({model, preset});
  return out;
}

INSTANTIATE_TEST_SUITE_P(EveryPreset, NibbleFileModel, ::testing::ValuesIn(cases()),
                         [](const auto& info) {
                           std::string name = info.param.model.substr(0, info.param.model.find('/')) + "_" +
                                              info.param.preset;
                           for (char& ch : name)
                             if (ch == '-') ch = '_';
                           return name;
                         });

TEST(NibbleFileCli, QuantizeWritesAFileThatVerifiesRunsAndReportsDamage) {
  NIBBLE_REQUIRE_MODELS();
  const std::string dir = testing::temp_dir();
  const std::string out = dir + "/q4.gguf";
  auto q = testing::run_nibble("quantize -m " + testing::shell_quote(testing::model_path("tiny-llama-8m/model.bin")) +
                               " --recipe q4_g32 -o " + testing::shell_quote(out));
  ASSERT_EQ(q.exit_code, 0) << q.err;
  auto verify = testing::run_nibble("inspect --verify -m " + testing::shell_quote(out));
  ASSERT_EQ(verify.exit_code, 0) << verify.err << verify.out;
  EXPECT_NE(verify.out.find("every XXH3-64 checksum matches"), std::string::npos) << verify.out;
  // The file runs like the in-memory quantization it was made from.
  auto from_file = testing::run_nibble("generate -m " + testing::shell_quote(out) +
                                       " -p 'The function returns' -n 12 --temp 0");
  auto in_memory = testing::run_nibble("generate -m " +
                                       testing::shell_quote(testing::model_path("tiny-llama-8m/model.bin")) +
                                       " --recipe q4_g32 -p 'The function returns' -n 12 --temp 0");
  ASSERT_EQ(from_file.exit_code, 0) << from_file.err;
  EXPECT_EQ(from_file.out, in_memory.out);

  // A flipped byte inside a tensor: --verify names it; exit code 1.
  auto mapped = open_gguf(out);
  ASSERT_TRUE(mapped.ok());
  const GgufTensor* t = mapped->gguf.find_tensor("blk.3.ffn_down.weight.scales");
  ASSERT_NE(t, nullptr);
  std::vector<char> bytes = read_all(out);
  bytes[t->file_offset + 7] ^= 0x40;
  const std::string damaged = dir + "/damaged.gguf";
  std::ofstream(damaged, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  auto bad = testing::run_nibble("inspect --verify -m " + testing::shell_quote(damaged));
  EXPECT_EQ(bad.exit_code, 1);
  testing::expect_mentions(bad.err, {"blk.3.ffn_down.weight.scales", "checksum mismatch"});

  // Truncated in the middle of the data: a structural error on any command.
  const std::string cut = dir + "/cut.gguf";
  std::ofstream(cut, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
  auto truncated = testing::run_nibble("generate -m " + testing::shell_quote(cut) + " -p hi -n 1");
  EXPECT_EQ(truncated.exit_code, 1);
  testing::expect_mentions(truncated.err, {"cut.gguf"});
}

}  // namespace
}  // namespace nibble
