// nibble report: quantize one float model with every preset x algorithm asked for,
// measure each against the float model on a text, and write the HTML quality report.
#include <chrono>
#include <filesystem>
#include <cstdio>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "core/atomic_file.h"
#include "core/file.h"
#include "core/stopwatch.h"
#include "eval/perplexity.h"
#include "eval/quality_report.h"
#include "load.h"

namespace nibble::cli {

namespace {

struct ReportArgs {
  ModelArgs model_args;
  std::string text_path;
  std::string presets = "q4_g32,q8_g32";
  std::string algorithms = "rtn,mse,gptq";
  std::string output;
  int ctx = 256;
  int chunks = 0;
  int threads = default_threads();
  bool json = false;
};

std::vector<std::string> split_list(const std::string& list) {
  std::vector<std::string> items;
  std::stringstream stream(list);
  for (std::string item; std::getline(stream, item, ',');)
    if (!item.empty()) items.push_back(item);
  return items;
}

Result<QualityReport> build_report(const ReportArgs& args, ThreadPool& pool) {
  const std::vector<std::string> presets = split_list(args.presets), algorithms = split_list(args.algorithms);
  if (presets.empty() || algorithms.empty())
    return make_error("--presets and --algos each need at least one name, got '{}' and '{}'", args.presets,
                      args.algorithms);
  bool wants_hessians = false, wants_calibration = false;
  for (const std::string& a : algorithms) {
    NIBBLE_ASSIGN_OR_RETURN(QuantAlgorithm algorithm, parse_algorithm(a));
    wants_hessians |= algorithm == QuantAlgorithm::kGptq || algorithm == QuantAlgorithm::kAwq;
    wants_calibration |= algorithm != QuantAlgorithm::kRtn;
  }
  for (const std::string& p : presets) NIBBLE_CHECK_OK(resolve_recipe(p));  // a typo fails before any work

  LoadOptions load;
  load.tokenizer_path = args.model_args.tokenizer;
  load.require_tokenizer = true;
  NIBBLE_ASSIGN_OR_RETURN(Model reference, load_model(args.model_args.path, load));
  NIBBLE_ASSIGN_OR_RETURN(std::string text, read_text_file(args.text_path));
  NIBBLE_ASSIGN_OR_RETURN(std::vector<int> tokens, reference.tokenizer->encode(text, /*add_bos=*/true));

  // One calibration pass serves every configuration (with Hessians for gptq and awq).
  ModelArgs calibration_args = args.model_args;
  calibration_args.recipe = presets.front();
  calibration_args.algorithm = wants_hessians ? "gptq" : wants_calibration ? "mse" : "rtn";
  std::string calibration_file = "none";
  if (needs_calibration(calibration_args)) {
    NIBBLE_ASSIGN_OR_RETURN(calibration_file, calibration_path(calibration_args));
    std::error_code same_error;
    if (std::filesystem::equivalent(args.text_path, calibration_file, same_error))
      return make_error("the evaluation text {} is the calibration text; measure on text the algorithms did not see",
                        args.text_path);
  }
  NIBBLE_ASSIGN_OR_RETURN(std::optional<CalibrationStats> stats,
                          calibrate_for_command(reference, calibration_args, pool));

  QualityReport report;
  report.model = args.model_args.path;
  report.text = args.text_path;
  report.ctx = args.ctx;
  report.calibration = stats ? fmt::format("{} tokens of {}", stats->tokens, calibration_file) : "none";
  // Quantize every configuration first, then score them all in one pass over the text:
  // the float reference runs once per chunk instead of once per configuration (every
  // quantized model is held in memory meanwhile).
  const int total = static_cast<int>(presets.size() * algorithms.size());
  std::vector<Model> models;
  for (const std::string& preset : presets) {
    NIBBLE_ASSIGN_OR_RETURN(Recipe recipe, resolve_recipe(preset));
    for (const std::string& a : algorithms) {
      LoadOptions fresh;
      fresh.tokenizer_path = args.model_args.tokenizer;
      fresh.require_tokenizer = false;  // the reference's tokenizer made the token stream
      NIBBLE_ASSIGN_OR_RETURN(Model model, load_model(args.model_args.path, fresh));
      QuantizeModelOptions options;
      NIBBLE_ASSIGN_OR_RETURN(options.algorithm, parse_algorithm(a));
      options.gptq = args.model_args.gptq;
      if (options.algorithm != QuantAlgorithm::kRtn && stats) options.calibration = &*stats;
      const auto start = std::chrono::steady_clock::now();
      NIBBLE_ASSIGN_OR_RETURN(QuantizationReport quantized, quantize_model(model, recipe, pool, {}, options));
      ConfigQuality config;
      config.preset = preset;
      config.algorithm = a;
      config.bits_per_weight = quantized.bits_per_weight();
      config.quantize_seconds = seconds_since(start);
      for (const TensorReport& t : quantized.tensors) config.layers.push_back({t.name, t.scheme, t.rel_rms_error});
      std::fprintf(stderr, "[%d/%d] %s %s: %.3f bits/weight, quantized in %.2f s\n",
                   static_cast<int>(models.size()) + 1, total, preset.c_str(), a.c_str(), config.bits_per_weight,
                   config.quantize_seconds);
      report.configs.push_back(std::move(config));
      models.push_back(std::move(model));
    }
  }
  std::vector<const Model*> scored;
  for (const Model& model : models) scored.push_back(&model);
  NIBBLE_ASSIGN_OR_RETURN(std::vector<PerplexityResult> measured,
                          evaluate_perplexity_many(scored, &reference, tokens, PerplexityOptions{args.ctx, args.chunks},
                                                   pool, {}));
  for (size_t i = 0; i < measured.size(); ++i) {
    ConfigQuality& config = report.configs[i];
    config.ppl = measured[i].ppl;
    config.ppl_stderr = measured[i].ppl_stderr;
    config.kld = measured[i].kl->kld_mean;
    config.kld_p99 = measured[i].kl->kld_p99;
    config.same_top = measured[i].kl->same_top;
    std::fprintf(stderr, "%s %s: ppl %.4f, KL %.6f, same top %.2f%%\n", config.preset.c_str(),
                 config.algorithm.c_str(), config.ppl, config.kld, 100.0 * config.same_top);
  }
  report.float_ppl = measured.front().kl->ref_ppl;
  report.chunks = measured.front().chunks;
  report.tokens_scored = measured.front().tokens_scored;
  return report;
}

int run_report(const ReportArgs& args) {
  ThreadPool pool(args.threads);
  auto report = build_report(args, pool);
  if (!report.ok()) return cli::report(report.error());
  const std::string html = render_quality_report_html(*report);
  const auto* bytes = reinterpret_cast<const std::byte*>(html.data());
  if (auto written = write_file_atomic(args.output, {bytes, html.size()}); !written.ok())
    return cli::report(written.error());
  if (args.json) {
    std::printf("%s\n", quality_report_json(*report).dump().c_str());
  } else {
    std::printf("wrote %s\n", args.output.c_str());
  }
  return 0;
}

}  // namespace

Runner add_report(CLI::App& app) {
  auto args = std::make_shared<ReportArgs>();
  auto* sub = app.add_subcommand("report", "Quantize with each preset x algorithm and write an HTML quality report");
  sub->add_option("-m,--model", args->model_args.path, "Float model file or directory")->required();
  sub->add_option("--tokenizer", args->model_args.tokenizer, "Tokenizer file (default: found next to the model)");
  sub->add_option("-f,--file", args->text_path, "Evaluation text (never the calibration text)")->required();
  sub->add_option("-o,--output", args->output, "HTML file to write")->required();
  sub->add_option("--presets", args->presets, "Comma-separated recipes (every configuration is held in memory while the text is scored)")->capture_default_str();
  sub->add_option("--algos", args->algorithms, "Comma-separated algorithms (rtn, mse, gptq, awq)")->capture_default_str();
  sub->add_option("--ctx", args->ctx, "Tokens per evaluation chunk")->capture_default_str()->check(CLI::Range(4, 1 << 20));
  sub->add_option("--chunks", args->chunks, "Evaluate only the first N chunks (0 = all)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  add_calibration_options(sub, args->model_args);
  sub->add_option("-t,--threads", args->threads, "Threads")->capture_default_str()->check(CLI::Range(1, 1024));
  sub->add_flag("--json", args->json, "Also print the report's numbers as JSON");
  return [args] { return run_report(*args); };
}

}  // namespace nibble::cli
