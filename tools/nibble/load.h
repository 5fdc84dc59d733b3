// Loading a model for a command: the file, then (with --recipe) in-memory quantization,
// calibrated on text first when the algorithm weighs error by channel importance.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "core/status.h"
#include "core/thread_pool.h"
#include "model/model.h"
#include "quant/quantize_model.h"

namespace nibble::cli {

struct ModelArgs {
  std::string path;
  std::string tokenizer;
  std::string recipe;           // empty: run the weights as loaded
  std::string algorithm = "rtn";
  std::string calib;            // empty: $NIBBLE_MODELS/text/calibration.txt; "none": unweighted
  int64_t calib_tokens = 8192;
  int calib_ctx = 256;
  GptqOptions gptq;             // --damp, --act-order
  bool int8_activations = false;  // --act-int8
};

// A progress callback drawing "[====    ] done/total what" on stderr when it is a
// terminal; empty otherwise.
std::function<void(int, int)> progress_bar(std::string what);

// Registers --calib, --calib-tokens, --calib-ctx, --damp and --act-order.
void add_calibration_options(CLI::App* sub, ModelArgs& args);
// Registers --recipe (with `recipe_help`), --algo and the calibration options.
void add_recipe_options(CLI::App* sub, ModelArgs& args, const std::string& recipe_help);

// Registers --act-int8 (run weight-only layers on int8 activations).
void add_execution_options(CLI::App* sub, ModelArgs& args);
// Applies the execution options to a loaded (and quantized) model; prints what changed.
void apply_execution_options(Model& model, const ModelArgs& args, ThreadPool& pool);

// Quantizes `model` (float) with args.recipe and args.algorithm; for mse and gptq, the
// calibration text is tokenized with the model's tokenizer and run through the float model
// first.
Result<QuantizationReport> quantize_for_command(Model& model, const ModelArgs& args, ThreadPool& pool,
                                                const std::function<void(int, int)>& on_tensor);

// The calibration text args names: --calib, else $NIBBLE_MODELS/text/calibration.txt
// (an error when neither is set).
Result<std::string> calibration_path(const ModelArgs& args);

// The calibration statistics args.algorithm needs (Hessians for gptq), from args.calib on
// `model` (float); empty for rtn and for mse with --calib none.
Result<std::optional<CalibrationStats>> calibrate_for_command(const Model& model, const ModelArgs& args,
                                                              ThreadPool& pool);

// Loads, quantizes when args.recipe is set, then applies the execution options. `report`
// (may be null) receives the quantization report.
Result<Model> load_for_command(const ModelArgs& args, bool require_tokenizer, ThreadPool& pool,
                               QuantizationReport* report);

// Whether quantizing with `args` reads calibration text (and so needs the tokenizer).
bool needs_calibration(const ModelArgs& args);

}  // namespace nibble::cli
