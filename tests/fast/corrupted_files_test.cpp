// The corrupted-file suite: for every kind of file nibble reads, a small valid file made by
// nibble's own writers is damaged in the ways real downloads and hostile files are —
// truncation at every section boundary, random bit flips, huge counts, sizes that
// overflow 64 bits, misaligned and out-of-file offsets, duplicate names, non-finite
// scales — and every damaged file must end in a clear error. Random flips may land in
// bytes a format cannot check (a float weight); they must then load and run, never crash.
//
// Random cases draw from one seed, printed at the start; replay a failure with
// NIBBLE_CORRUPT_SEED=<seed>. The number of cases run is printed at the end.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <random>

#include "core/thread_pool.h"
#include "formats/gguf.h"
#include "formats/gguf_export.h"
#include "formats/gguf_model.h"
#include "formats/hf_config.h"
#include "formats/hf_model.h"
#include "formats/llama2c.h"
#include "formats/nibble_file.h"
#include "formats/safetensors.h"
#include "model/synthetic.h"
#include "model/transformer.h"
#include "quant/quantize_model.h"
#include "support/aligned_bytes.h"
#include "support/byte_patch.h"
#include "support/test_support.h"
#include "support/test_tokenizer.h"
#include "support/vocabulary_images.h"
#include "tokenizer/llama_bin_tokenizer.h"
#include "tokenizer/sentencepiece_tokenizer.h"

namespace nibble {
namespace {

using testing::Bytes;
using testing::get_le;
using testing::put_le;

uint64_t suite_seed() {
  static const uint64_t seed = [] {
    const char* text = std::getenv("NIBBLE_CORRUPT_SEED");
    const uint64_t s = text != nullptr ? std::strtoull(text, nullptr, 10) : std::random_device{}();
    std::printf("corrupted-file suite: seed %llu (replay: NIBBLE_CORRUPT_SEED=%llu)\n",
                static_cast<unsigned long long>(s), static_cast<unsigned long long>(s));
    return s;
  }();
  return seed;
}

int& cases_run() {
  static int count = 0;
  return count;
}

class CaseCounter : public ::testing::Environment {
 public:
  void TearDown() override {
    if (cases_run() > 0) std::printf("corrupted-file suite: %d damaged files exercised\n", cases_run());
  }
};
const auto* const kCounter = ::testing::AddGlobalTestEnvironment(new CaseCounter);

// ---------------------------------------------------------------------------------------
// The files under test: a small valid image and the loader that must judge its damage.

struct Subject {
  std::string name;
  Bytes bytes;
  std::vector<size_t> boundaries;                       // where truncation must be an error
  std::function<Status(const Bytes&)> load;             // parse + use, as the runtime would
};

Bytes read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), {});
  Bytes bytes(chars.size());
  std::memcpy(bytes.data(), chars.data(), chars.size());
  return bytes;
}

Model micro_model(Architecture arch, const std::string& recipe_spec) {
  Model model = make_synthetic_model(micro_test_config(arch), 5);
  model.tokenizer = testing::make_test_tokenizer(model.config.vocab_size);
  if (!recipe_spec.empty()) {
    ThreadPool pool(1);
    auto report = quantize_model(model, resolve_recipe(recipe_spec).value(), pool, nullptr);
    EXPECT_TRUE(report.ok());
  }
  return model;
}

// One forward step: a model that loaded must run without touching memory outside it.
Status run_one_step(const Model& model) {
  ThreadPool pool(1);
  NIBBLE_ASSIGN_OR_RETURN(Transformer t, Transformer::create(model.config, model.weights, 2, 1, pool));
  std::vector<float> logits(static_cast<size_t>(model.config.vocab_size));
  const int token = 0;
  return t.forward(std::span<const int>(&token, 1), 0, 1, logits.data());
}

// A GGUF model file loaded from a 64-byte aligned copy (as from a mapping), then run.
template <typename LoadFromBytes>
Status load_and_run(const Bytes& bytes, LoadFromBytes load) {
  auto buffer = testing::aligned_copy(bytes.data(), bytes.size());
  NIBBLE_ASSIGN_OR_RETURN(Model m, load({buffer.get(), bytes.size()}, buffer, "damaged.gguf", LoadOptions{}));
  return run_one_step(m);
}

// Section boundaries of a GGUF file: the header's end, the start of every key-value
// record and tensor info, the data section, and each tensor's first and last byte + 1.
std::vector<size_t> gguf_boundaries(const Bytes& bytes) {
  auto file = parse_gguf(bytes, "boundaries");
  EXPECT_TRUE(file.ok());
  std::vector<size_t> cuts = {0, 4, 8, 16, 24};
  for (const auto& entry : file->metadata.entries()) {
    const auto record = testing::find_gguf_key(bytes, entry.key);
    cuts.push_back(record.start);
    cuts.push_back(record.type);
  }
  for (const GgufTensor& t : file->tensors) {
    cuts.push_back(testing::find_gguf_tensor_info(bytes, t.name).start);
    cuts.push_back(t.file_offset);
    cuts.push_back(t.file_offset + t.byte_size - 1);
  }
  cuts.push_back(file->data_offset);
  return cuts;
}

Subject nibble_subject(Architecture arch, const std::string& recipe) {
  const std::string path = testing::temp_dir() + "/subject.gguf";
  EXPECT_TRUE(save_nibble_model(micro_model(arch, recipe), path).ok());
  Subject s{"nibble " + std::string(architecture_name(arch)) + " " + recipe, read_bytes(path), {}, nullptr};
  s.boundaries = gguf_boundaries(s.bytes);
  s.load = [](const Bytes& bytes) { return load_and_run(bytes, load_nibble_model_from_bytes); };
  return s;
}

Subject llamacpp_subject(const std::string& recipe, GgufFloatType float_type) {
  const std::string path = testing::temp_dir() + "/subject.gguf";
  GgufExportOptions options;
  options.float_type = float_type;
  EXPECT_TRUE(export_gguf(micro_model(Architecture::kLlama, recipe), path, options).ok());
  Subject s{"llama.cpp GGUF " + (recipe.empty() ? std::string("float") : recipe), read_bytes(path), {}, nullptr};
  s.boundaries = gguf_boundaries(s.bytes);
  s.load = [](const Bytes& bytes) { return load_and_run(bytes, load_gguf_model_from_bytes); };
  return s;
}

Status load_safetensors(const Bytes& bytes) {
  NIBBLE_ASSIGN_OR_RETURN(SafetensorsHeader header, parse_safetensors(bytes, "damaged.safetensors"));
  for (const SafetensorView& t : header.tensors)
    if (safetensor_to_f32(t).size() != t.element_count) return make_error("size out of step");
  return {};
}

Subject safetensors_subject() {
  const std::string dir = testing::temp_dir() + "/hf";
  EXPECT_TRUE(write_hf_model(micro_model(Architecture::kQwen2, ""), dir, false).ok());
  Subject s{"safetensors", read_bytes(dir + "/model.safetensors"), {}, load_safetensors};
  const size_t header = 8 + get_le(s.bytes, 0, 8);
  s.boundaries = {0, 4, 8, 9, header - 1, header};
  auto parsed = parse_safetensors(s.bytes, "boundaries");
  EXPECT_TRUE(parsed.ok());
  for (const SafetensorView& t : parsed->tensors) {
    const auto begin = static_cast<size_t>(reinterpret_cast<const std::byte*>(t.data.data()) - s.bytes.data());
    s.boundaries.push_back(begin);
    s.boundaries.push_back(begin + t.data.size() - 1);
  }
  return s;
}

Subject llama2c_subject() {
  const std::string path = testing::temp_dir() + "/model.bin";
  const Model model = micro_model(Architecture::kLlama, "");
  EXPECT_TRUE(write_llama2c_checkpoint(model, path, false).ok());
  Subject s{"llama2.c checkpoint", read_bytes(path), {}, nullptr};
  // The header's 7 ints, then each weight array in the file's order.
  for (size_t cut = 0; cut <= 28; cut += 4) s.boundaries.push_back(cut);
  for (size_t cut = 28; cut < s.bytes.size(); cut += 4 * 32) s.boundaries.push_back(cut);
  s.boundaries.push_back(s.bytes.size() - 1);
  s.load = [](const Bytes& bytes) -> Status {
    NIBBLE_ASSIGN_OR_RETURN(Model m, parse_llama2c_checkpoint(bytes, "damaged.bin"));
    return run_one_step(m);
  };
  return s;
}

std::vector<testing::VocabularyEntry> small_vocabulary() {
  return testing::byte_fallback_vocabulary({" t", "th", "he", " the", "in", "ing", "e", "t", "h", " "});
}

Subject tokenizer_bin_subject() {
  const std::string image = testing::llama_bin_image(small_vocabulary(), 16);
  Subject s{"tokenizer.bin", Bytes(image.size()), {}, nullptr};
  std::memcpy(s.bytes.data(), image.data(), image.size());
  size_t at = 4;
  s.boundaries.push_back(0);
  for (const auto& entry : small_vocabulary()) {
    s.boundaries.push_back(at);
    s.boundaries.push_back(at + 4);
    at += 8 + entry.piece.size();
  }
  const int vocab = static_cast<int>(small_vocabulary().size());
  s.load = [vocab](const Bytes& bytes) -> Status {
    NIBBLE_ASSIGN_OR_RETURN(LlamaBinTokenizer t, LlamaBinTokenizer::from_bytes(bytes, "damaged.bin", vocab));
    return t.encode("the thing", true).ok() ? Status{} : make_error("encode failed");
  };
  return s;
}

Subject sentencepiece_subject() {
  const std::string image = testing::sentencepiece_model_image(small_vocabulary(), 1, 2);
  Subject s{"tokenizer.model", Bytes(image.size()), {}, nullptr};
  std::memcpy(s.bytes.data(), image.data(), image.size());
  // A protobuf cut between two fields is a valid, shorter message; only cuts inside
  // the first piece's record are certain errors.
  s.boundaries = {1, 2, 3};
  s.load = [](const Bytes& bytes) -> Status {
    const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    NIBBLE_ASSIGN_OR_RETURN(SentencePieceTokenizer t, SentencePieceTokenizer::from_serialized(text, "damaged.model"));
    return t.encode("the thing", true).ok() ? Status{} : make_error("encode failed");
  };
  return s;
}

Subject config_subject() {
  const std::string dir = testing::temp_dir() + "/hf";
  EXPECT_TRUE(write_hf_model(micro_model(Architecture::kQwen2, ""), dir, false).ok());
  Subject s{"config.json", read_bytes(dir + "/config.json"), {}, nullptr};
  // Every cut before the closing brace leaves unbalanced JSON.
  size_t close = s.bytes.size();
  while (close > 0 && static_cast<char>(s.bytes[close - 1]) != '}') --close;
  for (size_t cut = 0; cut + 1 < close; ++cut) s.boundaries.push_back(cut);
  s.load = [](const Bytes& bytes) -> Status {
    const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    NIBBLE_ASSIGN_OR_RETURN(ModelConfig c, parse_hf_config(text, "damaged/config.json"));
    return c.validate("damaged/config.json");
  };
  return s;
}

std::vector<Subject> every_subject() {
  std::vector<Subject> subjects;
  subjects.push_back(nibble_subject(Architecture::kLlama, "q4_g32"));
  subjects.push_back(nibble_subject(Architecture::kQwen2, "w4_g128_asym"));
  subjects.push_back(nibble_subject(Architecture::kLlama, "a8w4_g256"));
  subjects.push_back(llamacpp_subject("q8_g32", GgufFloatType::kF32));
  subjects.push_back(llamacpp_subject("", GgufFloatType::kF16));
  subjects.push_back(safetensors_subject());
  subjects.push_back(llama2c_subject());
  subjects.push_back(tokenizer_bin_subject());
  subjects.push_back(sentencepiece_subject());
  subjects.push_back(config_subject());
  return subjects;
}

// A case that must end in an error: a clear one, naming what was read.
void expect_refused(const Subject& s, const Bytes& damaged, const std::string& what) {
  ++cases_run();
  const Status status = s.load(damaged);
  ASSERT_FALSE(status.ok()) << s.name << ": " << what << " was accepted";
  EXPECT_NE(status.error().message.find("damaged"), std::string::npos)
      << s.name << ": " << what << ": the error does not name the file: " << status.error().message;
}

// ---------------------------------------------------------------------------------------

TEST(CorruptedFiles, EveryUndamagedSubjectLoads) {
  for (const Subject& s : every_subject()) {
    const Status status = s.load(s.bytes);
    EXPECT_TRUE(status.ok()) << s.name << ": " << status.error().message;
  }
}

TEST(CorruptedFiles, TruncationAtEverySectionBoundaryIsAnError) {
  for (const Subject& s : every_subject()) {
    ASSERT_FALSE(s.boundaries.empty()) << s.name;
    for (const size_t cut : s.boundaries) {
      ASSERT_LT(cut, s.bytes.size()) << s.name;
      expect_refused(s, Bytes(s.bytes.begin(), s.bytes.begin() + static_cast<std::ptrdiff_t>(cut)),
                     "truncation at byte " + std::to_string(cut));
    }
  }
}

TEST(CorruptedFiles, RandomBitFlipsEndInAnErrorOrAModelThatRuns) {
  std::mt19937_64 rng(suite_seed());
  for (const Subject& s : every_subject()) {
    SCOPED_TRACE(s.name + ", seed " + std::to_string(suite_seed()));
    for (int round = 0; round < 150; ++round) {
      Bytes damaged = s.bytes;
      const int flips = 1 + static_cast<int>(rng() % 4);
      std::string where;
      for (int f = 0; f < flips; ++f) {
        const size_t at = rng() % damaged.size();
        const int bit = static_cast<int>(rng() % 8);
        damaged[at] ^= static_cast<std::byte>(1 << bit);
        // Appended piece by piece: `" " + std::to_string(..)` trips GCC 12's false -Wrestrict.
        where += ' ';
        where += std::to_string(at);
        where += ':';
        where += std::to_string(bit);
      }
      ++cases_run();
      SCOPED_TRACE("flipped (byte:bit)" + where);
      (void)s.load(damaged);  // either outcome; ASan/UBSan judge the memory accesses
    }
  }
}

// Data damage that the loader's structure checks cannot see is caught by the checksums.
TEST(CorruptedFiles, EveryFlipInNibbleTensorDataFailsVerification) {
  std::mt19937_64 rng(suite_seed() + 1);
  const Subject s = nibble_subject(Architecture::kLlama, "q4_g32");
  auto file = parse_gguf(s.bytes, "subject");
  ASSERT_TRUE(file.ok());
  const std::string path = testing::temp_dir() + "/flipped.gguf";
  for (int round = 0; round < 40; ++round) {
    const GgufTensor& t = file->tensors[rng() % file->tensors.size()];
    Bytes damaged = s.bytes;
    const size_t at = t.file_offset + rng() % t.byte_size;
    damaged[at] ^= static_cast<std::byte>(1 << (rng() % 8));
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(damaged.data()),
                                                 static_cast<std::streamsize>(damaged.size()));
    ++cases_run();
    auto verified = verify_nibble_file(path);
    ASSERT_FALSE(verified.ok()) << "a flip at byte " << at << " of tensor " << t.name << " passed verification";
    EXPECT_NE(verified.error().message.find(t.name), std::string::npos) << verified.error().message;
  }
}

// Structural lies in GGUF files (nibble's and llama.cpp's): each is a clear error.
TEST(CorruptedFiles, GgufLiesAreRefused) {
  for (const Subject& s : every_subject()) {
    if (s.name.find("GGUF") == std::string::npos && s.name.find("nibble") == std::string::npos) continue;
    SCOPED_TRACE(s.name);
    auto file = parse_gguf(s.bytes, "subject");
    ASSERT_TRUE(file.ok());
    ASSERT_GE(file->tensors.size(), 2u);
    const GgufTensor& first = file->tensors.front();
    const auto info = testing::find_gguf_tensor_info(s.bytes, first.name);
    ASSERT_NE(info.start, std::string::npos);
    auto refused = [&](const std::string& what, const std::function<void(Bytes&)>& damage) {
      Bytes damaged = s.bytes;
      damage(damaged);
      expect_refused(s, damaged, what);
    };
    refused("a tensor count of 2^62", [](Bytes& b) { put_le(b, 8, uint64_t{1} << 62, 8); });
    refused("a key-value count of 2^63", [](Bytes& b) { put_le(b, 16, uint64_t{1} << 63, 8); });
    refused("dims whose product overflows 64 bits", [&](Bytes& b) {
      put_le(b, info.dims, uint64_t{1} << 40, 8);
      if (get_le(b, info.n_dims, 4) > 1) put_le(b, info.dims + 8, uint64_t{1} << 40, 8);
    });
    refused("a negative dim", [&](Bytes& b) { put_le(b, info.dims, static_cast<uint64_t>(-32), 8); });
    refused("a tensor offset past the end of the file", [&](Bytes& b) { put_le(b, info.offset, uint64_t{1} << 60, 8); });
    refused("an offset that overflows with the tensor's size",
            [&](Bytes& b) { put_le(b, info.offset, std::numeric_limits<uint64_t>::max() - 7, 8); });
    refused("a misaligned tensor offset", [&](Bytes& b) { put_le(b, info.offset, get_le(b, info.offset, 8) + 1, 8); });
    refused("an unknown tensor type", [&](Bytes& b) { put_le(b, info.type, 0xFFFF, 4); });
    refused("a huge key length", [](Bytes& b) { put_le(b, 24, uint64_t{1} << 61, 8); });
    // Two tensors with the same name: the second's name rewritten to the first's, when the
    // two names have the same length (true of every layer's q/k pair and of norms).
    for (size_t j = 1; j < file->tensors.size(); ++j) {
      const GgufTensor& other = file->tensors[j];
      if (other.name.size() != first.name.size()) continue;
      refused("duplicate tensor name " + first.name, [&](Bytes& b) {
        const auto at = testing::find_gguf_tensor_info(b, other.name).start + 8;
        std::memcpy(b.data() + at, first.name.data(), first.name.size());
      });
      break;
    }
    // A vocabulary that declares 2^40 tokens, refused before anything is allocated.
    const auto tokens = testing::find_gguf_key(s.bytes, "tokenizer.ggml.tokens");
    ASSERT_NE(tokens.start, std::string::npos);
    refused("a vocabulary of 2^40 tokens", [&](Bytes& b) { put_le(b, tokens.type + 8, uint64_t{1} << 40, 8); });
  }
}

// A scale that is NaN or infinite would silently turn outputs into NaN: refused on load.
TEST(CorruptedFiles, NonFiniteScalesAreRefused) {
  for (const Subject& s : every_subject()) {
    const bool nibble = s.name.find("nibble") != std::string::npos;
    if (!nibble && s.name.find("q8_g32") == std::string::npos) continue;
    auto file = parse_gguf(s.bytes, "subject");
    ASSERT_TRUE(file.ok());
    for (const GgufTensor& t : file->tensors) {
      // nibble: .scales tensors (f16 here); llama.cpp Q8_0: each block starts with its f16 scale.
      const bool scales = nibble ? t.name.ends_with(".scales") : t.type_id == static_cast<uint32_t>(GgmlType::kQ8_0);
      if (!scales) continue;
      if (nibble) {
        ASSERT_EQ(t.type_id, static_cast<uint32_t>(GgmlType::kF16)) << t.name;
      }
      for (const uint16_t bits : {uint16_t{0x7E00}, uint16_t{0x7C00}, uint16_t{0xFC00}}) {  // NaN, +Inf, -Inf
        Bytes damaged = s.bytes;
        put_le(damaged, t.file_offset + 2 * (t.byte_size / 2 / 3), bits, 2);
        if (!nibble) put_le(damaged, t.file_offset + 34 * (t.byte_size / 34 / 2), bits, 2);
        expect_refused(s, damaged, "a non-finite scale in " + t.name);
      }
    }
  }
}

TEST(CorruptedFiles, SafetensorsLiesAreRefused) {
  const Subject s = safetensors_subject();
  const size_t header_bytes = get_le(s.bytes, 0, 8);
  const std::string header(reinterpret_cast<const char*>(s.bytes.data()) + 8, header_bytes);
  auto with_header = [&](const std::string& text) {
    Bytes b(8 + text.size());
    put_le(b, 0, text.size(), 8);
    std::memcpy(b.data() + 8, text.data(), text.size());
    b.insert(b.end(), s.bytes.begin() + 8 + static_cast<std::ptrdiff_t>(header_bytes), s.bytes.end());
    return b;
  };
  auto replace_first = [&](const std::string& from, const std::string& to) {
    std::string text = header;
    const size_t at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) text.replace(at, from.size(), to);
    return text;
  };
  Bytes huge = s.bytes;
  put_le(huge, 0, uint64_t{1} << 63, 8);
  expect_refused(s, huge, "a header length of 2^63");
  Bytes past = s.bytes;
  put_le(past, 0, s.bytes.size(), 8);
  expect_refused(s, past, "a header longer than the file");
  expect_refused(s, with_header(replace_first("\"data_offsets\":[0,", "\"data_offsets\":[18446744073709551615,")),
                 "an offset of 2^64 - 1");
  expect_refused(s, with_header(replace_first("\"shape\":[", "\"shape\":[4294967296,4294967296,")),
                 "a shape whose element count overflows 64 bits");
  expect_refused(s, with_header(replace_first("\"dtype\":\"F32\"", "\"dtype\":\"F31\"")), "an unknown dtype");
  // A duplicate key: the first tensor's entry repeated under its own name.
  const size_t name_start = header.find("\"model.");
  ASSERT_NE(name_start, std::string::npos);
  const size_t entry_end = header.find('}', name_start) + 1;
  std::string duplicated = header;
  duplicated.insert(name_start, header.substr(name_start, entry_end - name_start) + ",");
  expect_refused(s, with_header(duplicated), "a duplicate tensor name");
}

TEST(CorruptedFiles, Llama2cHeaderLiesAreRefused) {
  const Subject s = llama2c_subject();
  // Header fields: dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len.
  const std::pair<int, int32_t> lies[] = {{0, 0},          {0, 1 << 30}, {1, -1},      {2, 0},
                                          {2, 1 << 20},    {3, 7},       {4, 0},       {5, 1 << 30},
                                          {5, INT32_MIN},  {6, 0},       {6, 1 << 30}, {0, INT32_MIN}};
  for (const auto& [field, value] : lies) {
    Bytes damaged = s.bytes;
    put_le(damaged, 4 * field, static_cast<uint32_t>(value), 4);
    expect_refused(s, damaged, "header field " + std::to_string(field) + " = " + std::to_string(value));
  }
}

TEST(CorruptedFiles, TokenizerLiesAreRefused) {
  const Subject bin = tokenizer_bin_subject();
  for (const uint32_t length : {0xFFFFFFFFu, 0x80000000u, 1u << 30}) {
    Bytes damaged = bin.bytes;
    put_le(damaged, 4 + 4, length, 4);  // the first piece's length
    expect_refused(bin, damaged, "a piece length of " + std::to_string(length));
  }
  Bytes nan_score = bin.bytes;
  put_le(nan_score, 4, 0x7FC00000u, 4);  // a NaN score for <unk>
  ++cases_run();
  (void)bin.load(nan_score);  // a NaN score is ordered like any other: no crash

  // A zero-length piece in a unigram model made libsentencepiece throw (found by fuzzing).
  const Subject sp = sentencepiece_subject();
  const Bytes regression =
      read_bytes(std::string(NIBBLE_SOURCE_DIR) + "/fuzz/seeds/sentencepiece_fuzz/regression-empty-piece-unigram");
  ASSERT_FALSE(regression.empty());
  expect_refused(sp, regression, "a zero-length unigram piece");
}

// A file may declare any context; the KV cache for it is refused before it is allocated.
TEST(CorruptedFiles, HugeContextIsRefusedBeforeAllocating) {
  ModelConfig c = micro_test_config(Architecture::kLlama);
  c.n_layers = 1024;
  c.n_kv_heads = c.n_heads = 64;
  c.head_dim = 1024;
  c.max_seq_len = 1 << 20;
  ASSERT_TRUE(c.validate("test").ok());
  ModelWeights none;
  ThreadPool pool(1);
  ++cases_run();
  auto t = Transformer::create(c, none, c.max_seq_len, 1, pool);
  ASSERT_FALSE(t.ok());
  testing::expect_mentions(t.error().message, {"1048576 positions", "GiB", "shorter context"});
  EXPECT_GT(Transformer::working_memory_bytes(c, c.max_seq_len, 1), uint64_t{1} << 48);
}

}  // namespace
}  // namespace nibble
