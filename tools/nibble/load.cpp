#include "load.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "core/file.h"
#include "quant/calibration.h"
#include "quant/int8_activations.h"

namespace nibble::cli {

std::function<void(int, int)> progress_bar(std::string what) {
  if (isatty(STDERR_FILENO) == 0) return {};
  return [what = std::move(what)](int done, int total) {
    const int width = 30;
    const int filled = total > 0 ? width * done / total : width;
    std::fprintf(stderr, "\r[%.*s%*s] %d/%d %s", filled, "==============================", width - filled, "", done,
                 total, what.c_str());
    if (done == total) std::fprintf(stderr, "\n");
  };
}

Result<std::string> calibration_path(const ModelArgs& args) {
  if (!args.calib.empty()) return args.calib;
  const char* models = std::getenv("NIBBLE_MODELS");
  if (models == nullptr || *models == '\0')
    return make_error("--algo {} weighs error by calibration activations: give --calib FILE{}, or set "
                      "NIBBLE_MODELS to use its text/calibration.txt",
                      args.algorithm, args.algorithm == "mse" ? " (or --calib none to weigh every channel alike)" : "");
  return std::string(models) + "/text/calibration.txt";
}

void add_calibration_options(CLI::App* sub, ModelArgs& args) {
  sub->add_option("--calib", args.calib,
                  "Calibration text for --algo mse|gptq|awq (default $NIBBLE_MODELS/text/calibration.txt; 'none': "
                  "unweighted mse)");
  sub->add_option("--calib-tokens", args.calib_tokens, "Calibration tokens used (0 = the whole text)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  sub->add_option("--calib-ctx", args.calib_ctx, "Tokens per calibration chunk")
      ->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("--damp", args.gptq.damp, "GPTQ damping: fraction of the mean Hessian diagonal added to it")
      ->capture_default_str()->check(CLI::Range(1e-6, 1.0));
  sub->add_flag("--act-order", args.gptq.act_order, "GPTQ: visit columns by decreasing Hessian diagonal");
}

void add_recipe_options(CLI::App* sub, ModelArgs& args, const std::string& recipe_help) {
  sub->add_option("--recipe", args.recipe, recipe_help);
  sub->add_option("--algo", args.algorithm,
                  "Quantization algorithm: rtn (round to nearest), mse (scale search), gptq or awq")
      ->capture_default_str();
  add_calibration_options(sub, args);
}

void add_execution_options(CLI::App* sub, ModelArgs& args) {
  sub->add_flag("--act-int8", args.int8_activations,
                "Run weight-only layers with symmetric codes (w4, w8) on per-token int8 activations, as a8 layers "
                "(integer kernels, as llama.cpp runs Q4_0/Q8_0): faster, with the activation rounding's error; the "
                "file is not changed");
}

void apply_execution_options(Model& model, const ModelArgs& args, ThreadPool& pool) {
  if (!args.int8_activations) return;
  const int switched = use_int8_activations(model.weights, pool);
  std::fprintf(stderr, "%s: %d weight-only layers run on int8 activations (--act-int8)\n", model.path.c_str(),
               switched);
}

bool needs_calibration(const ModelArgs& args) {
  return !args.recipe.empty() &&
         (args.algorithm == "gptq" || args.algorithm == "awq" || (args.algorithm == "mse" && args.calib != "none"));
}

Result<std::optional<CalibrationStats>> calibrate_for_command(const Model& model, const ModelArgs& args,
                                                              ThreadPool& pool) {
  NIBBLE_ASSIGN_OR_RETURN(QuantAlgorithm algorithm, parse_algorithm(args.algorithm));
  const bool hessians = algorithm == QuantAlgorithm::kGptq || algorithm == QuantAlgorithm::kAwq;
  if (hessians && args.calib == "none")
    return make_error("--algo {} is driven by calibration activations; --calib none leaves it nothing to use",
                      args.algorithm);
  if (!needs_calibration(args)) return std::optional<CalibrationStats>();
  if (!model.tokenizer) return make_error("{}: calibration needs the model's tokenizer; give --tokenizer", model.path);
  NIBBLE_ASSIGN_OR_RETURN(std::string path, calibration_path(args));
  NIBBLE_ASSIGN_OR_RETURN(std::string text, read_text_file(path));
  NIBBLE_ASSIGN_OR_RETURN(std::vector<int> tokens, model.tokenizer->encode(text, /*add_bos=*/true));
  CalibrationOptions calibration;
  calibration.ctx = args.calib_ctx;
  calibration.max_tokens = args.calib_tokens;
  calibration.hessians = hessians;
  auto collected = collect_calibration(model, tokens, calibration, pool, progress_bar("calibration chunks"));
  if (!collected.ok()) return make_error("calibration on {}: {}", path, collected.error().message);
  return std::optional<CalibrationStats>(std::move(*collected));
}

Result<QuantizationReport> quantize_for_command(Model& model, const ModelArgs& args, ThreadPool& pool,
                                                const std::function<void(int, int)>& on_tensor) {
  NIBBLE_ASSIGN_OR_RETURN(Recipe recipe, resolve_recipe(args.recipe));
  QuantizeModelOptions options;
  NIBBLE_ASSIGN_OR_RETURN(options.algorithm, parse_algorithm(args.algorithm));
  options.gptq = args.gptq;
  NIBBLE_ASSIGN_OR_RETURN(std::optional<CalibrationStats> stats, calibrate_for_command(model, args, pool));
  if (stats) options.calibration = &*stats;
  return quantize_model(model, recipe, pool, on_tensor, options);
}

Result<Model> load_for_command(const ModelArgs& args, bool require_tokenizer, ThreadPool& pool,
                               QuantizationReport* report) {
  LoadOptions options;
  options.tokenizer_path = args.tokenizer;
  options.require_tokenizer = require_tokenizer || needs_calibration(args);
  options.pool = &pool;
  NIBBLE_ASSIGN_OR_RETURN(Model model, load_model(args.path, options));
  if (!args.recipe.empty()) {
    NIBBLE_ASSIGN_OR_RETURN(QuantizationReport r, quantize_for_command(model, args, pool, {}));
    if (report != nullptr) *report = std::move(r);
  }
  apply_execution_options(model, args, pool);
  return model;
}

}  // namespace nibble::cli
