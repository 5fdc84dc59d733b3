// Quantization algorithms: how the codes and scales of a tensor are chosen. Every
// algorithm writes the same stored format (docs/QUANT_LAYOUTS.md), so a file does not
// depend on how it was made; the choice is recorded in the file's recipe metadata.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace nibble {

enum class QuantAlgorithm : uint8_t {
  kRtn,  // round to nearest with the extreme-based scale (llama.cpp's Q4_0/Q8_0 rules)
  kMse,  // per-group scale (and zero point) search, optionally importance-weighted (scale_search.h)
  kGptq,  // GPTQ: column-by-column rounding with Hessian-weighted error feedback (gptq.h)
  kAwq,   // AWQ: activation-aware input-channel scaling folded into the producer (awq.h), then kMse
};

const char* algorithm_name(QuantAlgorithm algorithm);
// "rtn", "mse", "gptq" or "awq"; an error lists the allowed names.
Result<QuantAlgorithm> parse_algorithm(const std::string& name);
std::vector<std::string> algorithm_names();

}  // namespace nibble
