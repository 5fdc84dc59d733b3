// Writes the fuzz targets' seed corpora: small valid inputs for every parser, made by
// nibble's own writers from synthetic models (nothing comes from $NIBBLE_MODELS), so the
// fuzzers start past the magic numbers and headers. Run by the build (target fuzz_seeds):
//   make_fuzz_seeds OUT_DIR   ->   OUT_DIR/<target>/<seed>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "core/file.h"
#include "core/thread_pool.h"
#include "formats/gguf_export.h"
#include "formats/hf_model.h"
#include "formats/llama2c.h"
#include "formats/nibble_file.h"
#include "model/synthetic.h"
#include "quant/quantize_model.h"
#include "quant/recipe.h"
#include "support/test_tokenizer.h"
#include "support/vocabulary_images.h"

namespace fs = std::filesystem;
using namespace nibble;

namespace {

Model micro_model(Architecture arch, bool tied, const std::string& recipe_spec) {
  ModelConfig config = micro_test_config(arch);
  config.tied_embeddings = tied;
  Model model = make_synthetic_model(config, 11);
  model.tokenizer = testing::make_test_tokenizer(model.config.vocab_size);
  if (!recipe_spec.empty()) {
    auto recipe = resolve_recipe(recipe_spec);
    if (!recipe.ok()) throw std::runtime_error(recipe.error().message);
    ThreadPool pool(1);
    auto report = quantize_model(model, *recipe, pool, nullptr);
    if (!report.ok()) throw std::runtime_error(report.error().message);
  }
  return model;
}

void check(const Status& status) {
  if (!status.ok()) throw std::runtime_error(status.error().message);
}

void write_text(const fs::path& path, const std::string& text) {
  check(write_file_atomic(path.string(), std::as_bytes(std::span(text.data(), text.size()))));
}

void copy_into(const fs::path& from, const fs::path& to) {
  fs::copy_file(from, to, fs::copy_options::overwrite_existing);
}

void model_seeds(const fs::path& out) {
  const fs::path scratch = out / ".scratch";
  fs::create_directories(scratch);
  struct Variant {
    const char* name;
    Architecture arch;
    bool tied;
  };
  const Variant variants[] = {{"llama-tied", Architecture::kLlama, true},
                              {"llama-untied", Architecture::kLlama, false},
                              {"qwen2-tied", Architecture::kQwen2, true}};
  for (const Variant& v : variants) {
    const Model fp32 = micro_model(v.arch, v.tied, "");
    if (v.arch == Architecture::kLlama)
      check(write_llama2c_checkpoint(fp32, (out / "llama2c_fuzz" / (std::string(v.name) + ".bin")).string(), false));

    const fs::path hf = scratch / v.name;
    check(write_hf_model(fp32, hf.string(), false));
    copy_into(hf / "config.json", out / "hf_config_fuzz" / (std::string(v.name) + ".json"));
    copy_into(hf / "model.safetensors", out / "safetensors_fuzz" / (std::string(v.name) + ".safetensors"));

    check(save_nibble_model(fp32, (out / "nibble_file_fuzz" / (std::string(v.name) + "-f32.gguf")).string()));
    for (const char* recipe : {"q4_g32", "q8_g32", "a8w4_g256", "w4_g128_asym"})
      check(save_nibble_model(micro_model(v.arch, v.tied, recipe),
                              (out / "nibble_file_fuzz" / (std::string(v.name) + "-" + recipe + ".gguf")).string()));

    GgufExportOptions f16;
    f16.float_type = GgufFloatType::kF16;
    for (const auto& [recipe, options] : {std::pair{"", GgufExportOptions{}}, std::pair{"", f16},
                                          std::pair{"q4_g32", GgufExportOptions{}}, std::pair{"q8_g32", GgufExportOptions{}}}) {
      const std::string kind = *recipe ? recipe : options.float_type == GgufFloatType::kF16 ? "f16" : "f32";
      const fs::path path = out / "gguf_model_fuzz" / (std::string(v.name) + "-" + kind + ".gguf");
      check(export_gguf(micro_model(v.arch, v.tied, recipe), path.string(), options));
      copy_into(path, out / "gguf_fuzz" / path.filename());
    }
  }
  fs::remove_all(scratch);
}

void tokenizer_seeds(const fs::path& out) {
  const auto vocabulary = testing::byte_fallback_vocabulary({" t", "th", "he", " the", "in", "ing", " a", "an", "e",
                                                             "t", "h", "a", "n", " ", "\xE6\x97\xA5"});
  write_text(out / "tokenizer_bin_fuzz" / "byte-fallback.bin", testing::llama_bin_image(vocabulary, 16));
  write_text(out / "sentencepiece_fuzz" / "byte-fallback.model", testing::sentencepiece_model_image(vocabulary, 1, 2));
  const std::vector<testing::VocabularyEntry> small = {{"<unk>", 0, testing::PieceKind::kUnknown},
                                                       {"\n<s>\n", 0, testing::PieceKind::kControl},
                                                       {"\n</s>\n", 0, testing::PieceKind::kControl},
                                                       {" a", -1, testing::PieceKind::kNormal},
                                                       {"bc", -2, testing::PieceKind::kNormal}};
  write_text(out / "tokenizer_bin_fuzz" / "no-bytes.bin", testing::llama_bin_image(small, 4));
  write_text(out / "sentencepiece_fuzz" / "no-bytes.model", testing::sentencepiece_model_image(small, 1, 2));
}

void text_seeds(const fs::path& out) {
  int n = 0;
  for (const char* prompt : {"Once upon a time, there was a little dog.", "  leading spaces\tand\ttabs\n\n",
                             "caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x99\x82", "<s> </s> <0x41> \xFF\xFE"})
    write_text(out / "prompt_fuzz" / ("prompt-" + std::to_string(n++) + ".txt"), prompt);
  n = 0;
  for (const std::string& name : preset_names())
    write_text(out / "recipe_fuzz" / (name + ".json"), resolve_recipe(name).value().to_json().dump(2));
  for (const char* recipe :
       {R"({"embedding": {"bits": 4, "group_size": 32, "asym": true}, "linear": {"scheme": "a8w4", "group_size": 256},
            "lm_head": {"scheme": "a8w8", "group_size": 0, "scale_type": "f32"},
            "overrides": {"layers.0.*": {"scheme": "w8", "group_size": 32}, "layers.?.mlp.*": {"scheme": "f32"}}})",
        "linear=a8w4:256,embedding=w4:32,lm_head=a8w8:32:f32", "linear=w4_asym:128:bf16"})
    write_text(out / "recipe_fuzz" / ("custom-" + std::to_string(n++) + ".txt"), recipe);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_fuzz_seeds OUT_DIR\n");
    return 2;
  }
  const fs::path out = argv[1];
  try {
    for (const char* target : {"gguf_fuzz", "gguf_model_fuzz", "hf_config_fuzz", "llama2c_fuzz", "nibble_file_fuzz",
                               "prompt_fuzz", "recipe_fuzz", "safetensors_fuzz", "sentencepiece_fuzz",
                               "tokenizer_bin_fuzz"})
      fs::create_directories(out / target);
    model_seeds(out);
    tokenizer_seeds(out);
    text_seeds(out);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_fuzz_seeds: %s\n", e.what());
    return 1;
  }
  return 0;
}
