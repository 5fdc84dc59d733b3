// nibble's model file (formats/nibble_file.h) on small synthetic models: exact round
// trips for every scheme, copy-free loading, and a clear error for every kind of damage.
#include <gtest/gtest.h>

#include <xxhash.h>

#include <filesystem>
#include <fstream>

#include "core/file.h"
#include "core/thread_pool.h"
#include "formats/gguf.h"
#include "formats/nibble_file.h"
#include "model/synthetic.h"
#include "quant/quantize_model.h"
#include "quant/quantized_matrix.h"
#include "support/gguf_rewrite.h"
#include "support/model_runner.h"
#include "support/test_support.h"
#include "support/test_tokenizer.h"
#include "tokenizer/llama_bin_tokenizer.h"

namespace nibble {
namespace {

std::vector<std::byte> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), {});
  std::vector<std::byte> bytes(chars.size());
  std::memcpy(bytes.data(), chars.data(), chars.size());
  return bytes;
}


ModelConfig config_for(Architecture arch, bool tied) {
  ModelConfig c = small_test_config();
  c.architecture = arch;
  c.tied_embeddings = tied;
  if (arch == Architecture::kQwen2) {
    c.qkv_bias = true;
    c.rope_style = RopeStyle::kHalves;
  }
  return c;
}

Model quantized_model(const ModelConfig& c, const std::string& recipe_spec) {
  Model model = make_synthetic_model(c, 7);
  model.tokenizer = testing::make_test_tokenizer(c.vocab_size);
  if (!recipe_spec.empty()) {
    auto recipe = recipe_spec[0] == '{' ? parse_recipe_json(recipe_spec, "test recipe") : resolve_recipe(recipe_spec);
    EXPECT_TRUE(recipe.ok()) << recipe.error().message;
    ThreadPool pool(1);
    auto report = quantize_model(model, *recipe, pool, nullptr);
    EXPECT_TRUE(report.ok()) << report.error().message;
  }
  return model;
}

Model load(const std::string& path, ThreadPool* pool = nullptr) {
  LoadOptions options;
  options.pool = pool;
  auto model = load_nibble_model(path, options);
  EXPECT_TRUE(model.ok()) << model.error().message;
  return model.ok() ? std::move(model.value()) : Model{};
}

Error load_error(const std::string& path) {
  LoadOptions options;
  options.require_tokenizer = false;
  auto model = load_nibble_model(path, options);
  EXPECT_FALSE(model.ok()) << path << " loaded but should not";
  return model.ok() ? Error{""} : model.error();
}

// A file in this test's temp directory (testing::temp_dir() empties the directory, so
// it is called once per test).
std::string temp_file(const std::string& name) {
  static std::string test_name;
  static std::string dir;
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string current = std::string(info->test_suite_name()) + "." + info->name();
  if (current != test_name) {
    test_name = current;
    dir = testing::temp_dir();
  }
  return dir + "/" + name;
}

std::vector<int> prompt() { return {1, 5, 9, 3, 17, 30, 8}; }

// Every preset plus schemes the presets do not cover (bf16/f32 scales, per-channel
// groups, a8w8, ragged groups), on tied Llama and untied Qwen2 (with biases).
const std::vector<std::string> kRecipes = {
    "",  // float weights
    "q4_g32",
    "q8_g32",
    "a8w4_g256",
    "w4_g128_asym",
    "linear=a8w8:0,embedding=w8:16,lm_head=w4_asym:20",
    R"({"linear": {"scheme": "a8w4", "group_size": 40, "scale_type": "bf16"},
        "lm_head": {"scheme": "w8", "group_size": 0, "scale_type": "f32"}})",
};

TEST(NibbleFile, SaveLoadSaveIsByteIdenticalAndLogitsBitIdentical) {
  for (Architecture arch : {Architecture::kLlama, Architecture::kQwen2}) {
    for (const std::string& spec : kRecipes) {
      SCOPED_TRACE(std::string(architecture_name(arch)) + " recipe " + (spec.empty() ? "float" : spec));
      const ModelConfig c = config_for(arch, arch == Architecture::kLlama);
      Model original = quantized_model(c, spec);
      const std::string first = temp_file("first.gguf");
      const std::string second = temp_file("second.gguf");
      ASSERT_TRUE(save_nibble_model(original, first).ok());
      Model loaded = load(first);
      ASSERT_TRUE(loaded.tokenizer);
      EXPECT_EQ(loaded.recipe_json, original.recipe_json);
      EXPECT_EQ(loaded.tokenizer->vocabulary().pieces, original.tokenizer->vocabulary().pieces);
      ASSERT_TRUE(save_nibble_model(loaded, second).ok());
      EXPECT_TRUE(read_bytes(first) == read_bytes(second)) << "re-saving changed the bytes";
      const auto want = testing::logits_for(original, prompt());
      const auto got = testing::logits_for(loaded, prompt());
      ASSERT_FALSE(want.empty());
      EXPECT_TRUE(want == got) << "max |diff| " << testing::max_abs_diff(want, got);
      EXPECT_TRUE(verify_nibble_file(first).ok());
      // a8 layers' derived data built on two threads while loading: the same logits.
      ThreadPool two(2);
      EXPECT_TRUE(testing::logits_for(load(first, &two), prompt()) == want);
    }
  }
}

TEST(NibbleFile, LoadingBorrowsTensorsFromTheMapping) {
  Model model = quantized_model(config_for(Architecture::kLlama, false), "a8w4_g256");
  const std::string path = temp_file("borrow.gguf");
  ASSERT_TRUE(save_nibble_model(model, path).ok());
  Model loaded = load(path);
  const QuantizedMatrix& q = *loaded.weights.layers[0].wq.quantized;
  EXPECT_TRUE(q.codes.borrowed());
  EXPECT_TRUE(q.scales.borrowed());
  // Aligned in the file (64) and therefore in memory (mmap is page-aligned).
  EXPECT_EQ(reinterpret_cast<uintptr_t>(q.codes.data()) % kNibbleAlignment, 0u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(q.scales.data()) % kNibbleAlignment, 0u);
}

TEST(NibbleFile, TiedModelStoresOneQuantizedCopyServingBoth) {
  Model model = quantized_model(config_for(Architecture::kLlama, true), "q4_g32");
  const std::string path = temp_file("tied.gguf");
  ASSERT_TRUE(save_nibble_model(model, path).ok());
  auto mapped = open_gguf(path);
  ASSERT_TRUE(mapped.ok());
  EXPECT_NE(mapped->gguf.find_tensor("token_embd.weight.codes"), nullptr);
  EXPECT_EQ(mapped->gguf.find_tensor("output.weight.codes"), nullptr);
  Model loaded = load(path);
  EXPECT_EQ(loaded.weights.quantized_embedding, loaded.weights.classifier.quantized);
  ASSERT_TRUE(loaded.weights.quantized_embedding);
}

TEST(NibbleFile, RecordsLogicalShapeSchemeAndGroupSize) {
  Model model = quantized_model(config_for(Architecture::kLlama, true), "a8w4_g256");
  const std::string path = temp_file("scheme.gguf");
  ASSERT_TRUE(save_nibble_model(model, path).ok());
  auto mapped = open_gguf(path);
  ASSERT_TRUE(mapped.ok());
  const GgufMetadata& m = mapped->gguf.metadata;
  auto names = m.get_array_of_strings("nibble.quant.tensor");
  ASSERT_TRUE(names.ok());
  const auto it = std::find(names->begin(), names->end(), "blk.0.attn_q.weight");
  ASSERT_NE(it, names->end());
  const size_t i = static_cast<size_t>(it - names->begin());
  EXPECT_EQ(m.get_array_of_strings("nibble.quant.codec").value()[i], "int4_sym");
  EXPECT_EQ(m.get_array_of_strings("nibble.quant.activation").value()[i], "int8_token");
  EXPECT_EQ(m.get_array_of_strings("nibble.quant.scale_type").value()[i], "f16");
  // dim 48 with group 256: one ragged group, 24 code bytes per row.
  const GgufTensor* codes = mapped->gguf.find_tensor("blk.0.attn_q.weight.codes");
  ASSERT_NE(codes, nullptr);
  EXPECT_EQ(codes->ne, (std::vector<int64_t>{24, 48}));
  EXPECT_EQ(mapped->gguf.alignment, kNibbleAlignment);
}

// ---- damage ------------------------------------------------------------------------

class NibbleFileDamage : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = quantized_model(config_for(Architecture::kQwen2, false), "w4_g128_asym");
    path_ = temp_file("good.gguf");
    ASSERT_TRUE(save_nibble_model(model_, path_).ok());
    bytes_ = read_bytes(path_);
    auto mapped = open_gguf(path_);
    ASSERT_TRUE(mapped.ok());
    gguf_data_offset_ = mapped->gguf.data_offset;
    for (const auto& t : mapped->gguf.tensors) tensor_offsets_.push_back(t.file_offset);
  }
  std::string write_variant(const std::string& name, const std::vector<std::byte>& bytes) {
    const std::string p = temp_file(name);
    EXPECT_TRUE(write_file_atomic(p, bytes).ok());
    return p;
  }
  Model model_;
  std::string path_;
  std::vector<std::byte> bytes_;
  uint64_t gguf_data_offset_ = 0;
  std::vector<uint64_t> tensor_offsets_;
};

TEST_F(NibbleFileDamage, TruncationAtEverySectionBoundaryIsAnError) {
  std::vector<size_t> cuts = {0, 3, 4, 8, 16, 24, static_cast<size_t>(gguf_data_offset_) - 1,
                              static_cast<size_t>(gguf_data_offset_), bytes_.size() - 1};
  for (uint64_t off : tensor_offsets_) cuts.push_back(static_cast<size_t>(off) + 1);
  for (size_t cut : cuts) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    std::vector<std::byte> truncated(bytes_.begin(), bytes_.begin() + static_cast<std::ptrdiff_t>(cut));
    Error e = load_error(write_variant("truncated.gguf", truncated));
    EXPECT_FALSE(e.message.empty());
  }
}

TEST_F(NibbleFileDamage, FlippedDataByteIsCaughtByVerifyNamingTheTensor) {
  auto mapped = open_gguf(path_);
  ASSERT_TRUE(mapped.ok());
  const GgufTensor* t = mapped->gguf.find_tensor("blk.1.ffn_up.weight.codes");
  ASSERT_NE(t, nullptr);
  std::vector<std::byte> damaged = bytes_;
  damaged[t->file_offset + 5] ^= std::byte{0x10};
  const std::string p = write_variant("flipped.gguf", damaged);
  auto result = verify_nibble_file(p);
  ASSERT_FALSE(result.ok());
  testing::expect_mentions(result.error().message, {"blk.1.ffn_up.weight.codes", "checksum", "stored"});
  // Structure is intact, so a plain load still works (checksums are --verify's job).
  LoadOptions options;
  EXPECT_TRUE(load_nibble_model(p, options).ok());
}

TEST_F(NibbleFileDamage, MissingTensorIsNamed) {
  const std::string p = temp_file("missing.gguf");
  auto rewritten = testing::rewrite_gguf(path_, p, {.drop_tensors = {"blk.1.attn_k.weight.scales"}});
  ASSERT_TRUE(rewritten.ok()) << rewritten.error().message;
  testing::expect_mentions(load_error(p).message, {"missing tensor", "blk.1.attn_k.weight.scales"});
}

TEST_F(NibbleFileDamage, TensorBytesNotMatchingItsSchemeAreNamedWithBothShapes) {
  // Claim the q projection has 40 columns: its stored codes (24 bytes per row) no longer fit.
  auto mapped = open_gguf(path_);
  auto names = mapped->gguf.metadata.get_array_of_strings("nibble.quant.tensor").value();
  std::vector<uint32_t> cols(names.size());
  auto arr = mapped->gguf.metadata.get_array("nibble.quant.cols").value();
  std::memcpy(cols.data(), arr.scalar_bytes.data(), arr.scalar_bytes.size());
  const size_t i = static_cast<size_t>(std::find(names.begin(), names.end(), "blk.0.attn_q.weight") - names.begin());
  cols[i] = 40;
  const std::string p = temp_file("shape.gguf");
  testing::GgufEdit edit;
  edit.set_u32s["nibble.quant.cols"] = cols;
  ASSERT_TRUE(testing::rewrite_gguf(path_, p, edit).ok());
  testing::expect_mentions(load_error(p).message, {"blk.0.attn_q.weight", "40", "48"});

  // And a stored tensor whose dims disagree with the scheme.
  const std::string p2 = temp_file("dims.gguf");
  testing::GgufEdit edit2;
  edit2.reshape["blk.0.ffn_down.weight.scales"] = {2, 24};  // same bytes as [1, 48], other dims
  ASSERT_TRUE(testing::rewrite_gguf(path_, p2, edit2).ok());
  testing::expect_mentions(load_error(p2).message, {"blk.0.ffn_down.weight.scales", "dims", "expected"});
}

TEST_F(NibbleFileDamage, UnknownSchemeIsNamed) {
  auto mapped = open_gguf(path_);
  auto codecs = mapped->gguf.metadata.get_array_of_strings("nibble.quant.codec").value();
  codecs[3] = "int3_sym";
  const std::string p = temp_file("scheme.gguf");
  testing::GgufEdit edit;
  edit.set_strings["nibble.quant.codec"] = codecs;
  ASSERT_TRUE(testing::rewrite_gguf(path_, p, edit).ok());
  const auto names = mapped->gguf.metadata.get_array_of_strings("nibble.quant.tensor").value();
  testing::expect_mentions(load_error(p).message, {"unknown scheme", "int3_sym", names[3]});
}

TEST_F(NibbleFileDamage, NewerFormatVersionIsRefusedClearly) {
  const std::string p = temp_file("newer.gguf");
  testing::GgufEdit edit;
  edit.set_u32["nibble.format_version"] = kNibbleFormatVersion + 1;
  ASSERT_TRUE(testing::rewrite_gguf(path_, p, edit).ok());
  testing::expect_mentions(load_error(p).message, {"newer nibble", "format version 2", "1"});
}

TEST_F(NibbleFileDamage, ExtraTensorAndOutOfRangeZeroPointAreNamed) {
  auto mapped = open_gguf(path_);
  const GgufTensor* zp = mapped->gguf.find_tensor("blk.0.attn_v.weight.zero_points");
  ASSERT_NE(zp, nullptr);
  std::vector<std::byte> damaged = bytes_;
  damaged[zp->file_offset] = std::byte{200};
  testing::expect_mentions(load_error(write_variant("zp.gguf", damaged)).message,
                           {"blk.0.attn_v.weight.zero_points", "200", "[0, 15]"});
}

TEST(AtomicFileWriter, StaleTempFilesOfDeadWritersAreRemovedAndOthersKept) {
  const std::string dir = testing::temp_dir() + "/atomic";
  std::filesystem::create_directories(dir);
  const std::string target = dir + "/model.gguf";
  // pid 999999999 cannot exist (pid_max is at most 2^22); our own pid is alive.
  const std::string stale = dir + "/.nibble-tmp-999999999-model.gguf";
  const std::string other_target = dir + "/.nibble-tmp-999999999-other.gguf";
  for (const auto& p : {stale, other_target}) std::ofstream(p) << "partial";
  ASSERT_TRUE(write_file_atomic(target, std::as_bytes(std::span("new", 3))).ok());
  EXPECT_FALSE(std::filesystem::exists(stale));
  EXPECT_TRUE(std::filesystem::exists(other_target)) << "a temp file of another target was removed";
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    EXPECT_NE(entry.path().filename().string().rfind(".nibble-tmp-" + std::to_string(::getpid()), 0), 0u)
        << "our own temp file was left behind";
}

TEST(AtomicFileWriter, AbandonedWriterLeavesThePreviousFile) {
  const std::string target = testing::temp_dir() + "/keep.bin";
  ASSERT_TRUE(write_file_atomic(target, std::as_bytes(std::span("old", 3))).ok());
  {
    auto writer = AtomicFileWriter::create(target);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE(writer->write(std::as_bytes(std::span("new and longer", 14))).ok());
    // destroyed without commit(): as if the run failed half way
  }
  std::ifstream in(target);
  std::string content((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(content, "old");
}

}  // namespace
}  // namespace nibble
