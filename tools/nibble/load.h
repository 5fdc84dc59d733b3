// Loading a model for a command: the file, then (with --recipe) in-memory quantization.
#pragma once

#include <string>

#include "core/status.h"
#include "core/thread_pool.h"
#include "model/model.h"
#include "quant/quantize_model.h"

namespace nibble::cli {

struct ModelArgs {
  std::string path;
  std::string tokenizer;
  std::string recipe;  // empty: run the weights as loaded
};

// Loads and, when args.recipe is set, quantizes. `report` (may be null) receives the
// quantization report.
Result<Model> load_for_command(const ModelArgs& args, bool require_tokenizer, ThreadPool& pool,
                               QuantizationReport* report);

}  // namespace nibble::cli
