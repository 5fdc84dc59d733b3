#include <unistd.h>

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "core/file.h"
#include "core/thread_pool.h"
#include "eval/perplexity.h"
#include "model/model.h"
#include "load.h"

namespace nibble::cli {

namespace {

struct PerplexityArgs {
  ModelArgs model_args;
  std::string text_path;
  std::string kl_ref_path;
  std::vector<std::string> also;  // further models scored in the same pass
  int ctx = 256;
  int chunks = 0;
  int threads = default_threads();
  bool json = false;
};

nlohmann::json result_json(const std::string& model_path, const PerplexityResult& result) {
  nlohmann::json out = {{"model", model_path},
                        {"ppl", result.ppl},
                        {"ppl_stderr", result.ppl_stderr},
                        {"nll", result.nll},
                        {"tokens_scored", result.tokens_scored},
                        {"chunks", result.chunks}};
  if (result.kl) {
    out["kld"] = result.kl->kld_mean;
    out["kld_p99"] = result.kl->kld_p99;
    out["same_top"] = result.kl->same_top;
    out["dppl"] = result.kl->dppl;
    out["ref_ppl"] = result.kl->ref_ppl;
  }
  return out;
}

void print_result(const PerplexityResult& result) {
  std::printf("ppl = %.4f +/- %.4f (mean nll %.6f)\n", result.ppl, result.ppl_stderr, result.nll);
  if (result.kl) {
    std::printf("reference ppl = %.4f, dppl = %+.4f\n", result.kl->ref_ppl, result.kl->dppl);
    std::printf("KL(ref||model) mean = %.6f, p99 = %.6f, same top token = %.2f%%\n", result.kl->kld_mean,
                result.kl->kld_p99, 100.0 * result.kl->same_top);
  }
}

int run_perplexity(const PerplexityArgs& args) {
  ThreadPool pool(args.threads);
  auto model = load_for_command(args.model_args, /*require_tokenizer=*/true, pool, nullptr);
  if (!model.ok()) return report(model.error());
  LoadOptions as_stored;
  as_stored.require_tokenizer = false;  // the first model's tokenizer defines the token stream
  as_stored.pool = &pool;
  std::optional<Model> reference;
  if (!args.kl_ref_path.empty()) {
    auto ref = load_model(args.kl_ref_path, as_stored);
    if (!ref.ok()) return report(ref.error());
    reference.emplace(std::move(*ref));
  }
  std::vector<Model> also;
  for (const std::string& path : args.also) {
    auto other = load_model(path, as_stored);
    if (!other.ok()) return report(other.error());
    apply_execution_options(*other, args.model_args, pool);
    also.push_back(std::move(*other));
  }
  auto text = read_text_file(args.text_path);
  if (!text.ok()) return report(text.error());
  auto tokens = model->tokenizer->encode(*text, /*add_bos=*/true);
  if (!tokens.ok()) return report(tokens.error());

  std::vector<const Model*> models = {&*model};
  std::vector<std::string> names = {args.model_args.path};
  for (size_t i = 0; i < also.size(); ++i) {
    models.push_back(&also[i]);
    names.push_back(args.also[i]);
  }
  PerplexityOptions options{args.ctx, args.chunks};
  const bool show_progress = isatty(STDERR_FILENO) != 0;
  auto progress = [&](int done, int total) {
    if (show_progress) std::fprintf(stderr, "\rchunk %d/%d", done, total);
    if (show_progress && done == total) std::fprintf(stderr, "\n");
  };
  auto results = evaluate_perplexity_many(models, reference ? &*reference : nullptr, *tokens, options, pool, progress);
  if (!results.ok()) return report(results.error());

  if (args.json) {  // one JSON object per line, one line per model
    for (size_t m = 0; m < results->size(); ++m) std::printf("%s\n", result_json(names[m], (*results)[m]).dump().c_str());
    return 0;
  }
  std::printf("text tokens %zu, ctx %d, chunks %d, tokens scored %lld\n", tokens->size(), args.ctx,
              results->front().chunks, static_cast<long long>(results->front().tokens_scored));
  for (size_t m = 0; m < results->size(); ++m) {
    if (results->size() > 1) std::printf("%s:\n", names[m].c_str());
    print_result((*results)[m]);
  }
  return 0;
}

}  // namespace

Runner add_perplexity(CLI::App& app) {
  auto args = std::make_shared<PerplexityArgs>();
  auto* sub = app.add_subcommand("perplexity", "Perplexity of a text (llama.cpp's protocol)");
  sub->add_option("-m,--model", args->model_args.path, "Model file or directory")->required();
  sub->add_option("--tokenizer", args->model_args.tokenizer, "Tokenizer file");
  add_recipe_options(sub, args->model_args, "Quantize in memory first: preset, shorthand or JSON file");
  add_execution_options(sub, args->model_args);
  sub->add_option("-f,--file", args->text_path, "Text file")->required();
  sub->add_option("--ctx", args->ctx, "Tokens per chunk")->capture_default_str();
  sub->add_option("--chunks", args->chunks, "Score at most N chunks (0 = all)")->capture_default_str();
  sub->add_option("--kl-ref", args->kl_ref_path, "Reference model for KL divergence");
  sub->add_option("--also", args->also,
                  "Further models (loaded as stored, then --act-int8 if given) scored in the same pass; the reference runs "
                  "once for all")
      ->expected(1, -1);
  sub->add_option("-t,--threads", args->threads, "Threads")->capture_default_str()->check(CLI::Range(1, 1024));
  sub->add_flag("--json", args->json, "Print one JSON object per model, one per line");
  return [args] { return run_perplexity(*args); };
}

}  // namespace nibble::cli
