#include <chrono>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "core/stopwatch.h"
#include "core/thread_pool.h"
#include "model/generate.h"
#include "model/model.h"
#include "load.h"

namespace nibble::cli {

namespace {

struct GenerateArgs {
  ModelArgs model_args;
  std::string prompt;
  int n = 64;
  float temperature = 0.0f;
  float top_p = 0.9f;
  uint64_t seed = 1;
  int threads = default_threads();
  bool json = false;
};

int run_generate(const GenerateArgs& args) {
  ThreadPool pool(args.threads);
  const auto start = std::chrono::steady_clock::now();
  auto model = load_for_command(args.model_args, /*require_tokenizer=*/true, pool, nullptr);
  if (!model.ok()) return report(model.error());
  const double load_seconds = seconds_since(start);
  const Tokenizer& tokenizer = *model->tokenizer;

  auto prompt_ids = tokenizer.encode(args.prompt, /*add_bos=*/true);
  if (!prompt_ids.ok()) return report(prompt_ids.error());

  // The cache holds what this run needs, not the model's whole declared context (which can
  // be 128k positions and gigabytes of cache for a 20-token answer).
  const int64_t needed = static_cast<int64_t>(prompt_ids->size()) + std::max(args.n, 1);
  const int context = static_cast<int>(std::min<int64_t>(model->config.max_seq_len, needed));
  auto transformer = Transformer::create(model->config, model->weights, context,
                                         std::min(context, 512), pool);
  if (!transformer.ok()) return report(transformer.error());

  GenerateOptions options;
  options.max_new_tokens = args.n;
  options.sampler = {args.temperature, args.top_p, args.seed};

  // Text mode streams the prompt, then each new piece as it is produced.
  int previous = model->config.bos_id;
  std::function<void(int)> print_piece;
  if (!args.json) {
    auto prompt_text = tokenizer.decode(std::vector<int>(prompt_ids->begin() + 1, prompt_ids->end()),
                                        model->config.bos_id);
    if (!prompt_text.ok()) return report(prompt_text.error());
    std::fwrite(prompt_text->data(), 1, prompt_text->size(), stdout);
    std::fflush(stdout);
    if (prompt_ids->size() > 1) previous = prompt_ids->back();
    print_piece = [&](int id) {
      auto piece = tokenizer.decode_piece(previous, id);
      previous = id;
      if (piece.ok()) std::fwrite(piece->data(), 1, piece->size(), stdout);
      std::fflush(stdout);
    };
  }

  auto result = generate(*model, *transformer, *prompt_ids, options, print_piece);
  if (!result.ok()) return report(result.error());
  const double tok_s = result->decode_seconds > 0 ? result->decode_steps / result->decode_seconds : 0.0;

  if (args.json) {
    auto text = tokenizer.decode(result->new_ids, prompt_ids->back());
    if (!text.ok()) return report(text.error());
    nlohmann::json out = {{"prompt_ids", result->prompt_ids},
                          {"ids", result->new_ids},
                          {"text", *text},
                          {"load_s", load_seconds},
                          {"prefill_s", result->prefill_seconds},
                          {"decode_tok_s", tok_s}};
    std::printf("%s\n", out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else {
    std::printf("\n");
  }
  std::fflush(stdout);  // the text ends before the timing line on stderr
  std::fprintf(stderr, "load %.1f ms; prompt %zu tokens, %zu new tokens%s; prefill %.1f ms, decode %.2f tokens/s "
               "(%d threads)\n",
               load_seconds * 1e3, result->prompt_ids.size(), result->new_ids.size(),
               result->stopped_at_end_token ? " (stopped at end-of-text token)"
               : result->stopped_at_context_end ? " (stopped at the end of the context)" : "",
               result->prefill_seconds * 1e3, tok_s, pool.size());
  return 0;
}

}  // namespace

Runner add_generate(CLI::App& app) {
  auto args = std::make_shared<GenerateArgs>();
  auto* sub = app.add_subcommand("generate", "Generate text from a prompt");
  sub->add_option("-m,--model", args->model_args.path, "Model file or directory")->required();
  sub->add_option("--tokenizer", args->model_args.tokenizer, "Tokenizer file (tokenizer.bin, tokenizer.model or a GGUF vocabulary)");
  add_recipe_options(sub, args->model_args, "Quantize in memory first: preset, shorthand or JSON file");
  add_execution_options(sub, args->model_args);
  sub->add_option("-p,--prompt", args->prompt, "Prompt text")->required();
  sub->add_option("-n", args->n, "Number of new tokens")->capture_default_str();
  sub->add_option("--temp", args->temperature, "Sampling temperature; 0 = greedy")->capture_default_str();
  sub->add_option("--top-p", args->top_p, "Nucleus sampling mass")->capture_default_str();
  sub->add_option("--seed", args->seed, "Random seed")->capture_default_str();
  sub->add_option("-t,--threads", args->threads, "Threads")->capture_default_str()->check(CLI::Range(1, 1024));
  sub->add_flag("--json", args->json, "Print one JSON object instead of text");
  return [args] { return run_generate(*args); };
}

}  // namespace nibble::cli
