// nibble synth: a model of a given shape with random weights, for load-time and speed
// work, written in any format nibble reads (the output name decides; see --help).
#include <cstdio>
#include <filesystem>

#include "commands.h"
#include "core/thread_pool.h"
#include "formats/hf_model.h"
#include "formats/llama2c.h"
#include "formats/nibble_file.h"
#include "model/synthetic.h"
#include "quant/quantize_model.h"

namespace nibble::cli {

namespace {

struct SynthArgs {
  std::string shape = "tinyllama-1.1b";
  std::string output;
  std::string tokenizer;
  std::string recipe;
  uint64_t seed = 1;
  int threads = default_threads();
};

// Named shapes. tinyllama-1.1b is TinyLlama-1.1B's: 1.1e9 parameters, GQA 32/4.
Result<ModelConfig> shape_config(const std::string& name) {
  if (name == "tiny") return small_test_config();
  ModelConfig c;
  if (name == "tinyllama-1.1b") {
    c.dim = 2048;
    c.hidden_dim = 5632;
    c.n_layers = 22;
    c.n_heads = 32;
    c.n_kv_heads = 4;
    c.vocab_size = 32000;
    c.max_seq_len = 2048;
  } else if (name == "llama-8m") {
    c.dim = 288;
    c.hidden_dim = 768;
    c.n_layers = 6;
    c.n_heads = 6;
    c.n_kv_heads = 6;
    c.vocab_size = 32000;
    c.max_seq_len = 256;
  } else {
    return make_error("--shape '{}' is not one of: tinyllama-1.1b, llama-8m, tiny", name);
  }
  c.head_dim = c.dim / c.n_heads;
  c.tied_embeddings = false;
  c.rope_style = RopeStyle::kInterleavedPairs;
  return c;
}

int run_synth(const SynthArgs& args) {
  auto config = shape_config(args.shape);
  if (!config.ok()) return report(config.error());
  std::unique_ptr<Tokenizer> tokenizer;
  if (!args.tokenizer.empty()) {
    auto t = open_tokenizer(args.tokenizer, 0);
    if (!t.ok()) return report(t.error());
    config->vocab_size = (*t)->vocab_size();  // the tokenizer decides the vocabulary
    tokenizer = std::move(t.value());
  }
  Model model = make_synthetic_model(*config, args.seed);
  model.tokenizer = std::move(tokenizer);
  ThreadPool pool(args.threads);
  if (!args.recipe.empty()) {
    auto recipe = resolve_recipe(args.recipe);
    if (!recipe.ok()) return report(recipe.error());
    auto quantized = quantize_model(model, *recipe, pool, {});
    if (!quantized.ok()) return report(quantized.error());
  }
  const std::string& out = args.output;
  const std::string ext = std::filesystem::path(out).extension().string();
  Status written;
  if (ext == ".gguf" || ext == ".nibble") {
    written = save_nibble_model(model, out);
  } else if (!args.recipe.empty()) {
    return report(Error{"--recipe needs a nibble file output (.gguf); llama2.c and HF files hold float weights"});
  } else if (ext == ".bin") {
    written = write_llama2c_checkpoint(model, out, /*untie=*/false);
  } else {
    written = write_hf_model(model, out, /*untie=*/false);
  }
  if (!written.ok()) return report(written.error());
  std::printf("wrote %s: %s shape, seed %llu\n", out.c_str(), args.shape.c_str(),
              static_cast<unsigned long long>(args.seed));
  return 0;
}

}  // namespace

Runner add_synth(CLI::App& app) {
  auto args = std::make_shared<SynthArgs>();
  auto* sub = app.add_subcommand("synth", "Write a model of a given shape with random weights");
  sub->add_option("--shape", args->shape, "tinyllama-1.1b, llama-8m or tiny")->capture_default_str();
  sub->add_option("-o,--output", args->output,
                  "NAME.gguf: nibble file; NAME.bin: llama2.c checkpoint; anything else: HF directory")
      ->required();
  sub->add_option("--tokenizer", args->tokenizer, "Attach this tokenizer (its size sets the vocabulary)");
  sub->add_option("--recipe", args->recipe, "Quantize before writing (nibble files only)");
  sub->add_option("--seed", args->seed, "Random seed")->capture_default_str();
  sub->add_option("-t,--threads", args->threads, "Threads")->capture_default_str()->check(CLI::Range(1, 1024));
  return [args] { return run_synth(*args); };
}

}  // namespace nibble::cli
