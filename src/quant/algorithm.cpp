#include "quant/algorithm.h"

namespace nibble {

const char* algorithm_name(QuantAlgorithm algorithm) {
  switch (algorithm) {
    case QuantAlgorithm::kRtn: return "rtn";
    case QuantAlgorithm::kMse: return "mse";
    case QuantAlgorithm::kGptq: return "gptq";
    case QuantAlgorithm::kAwq: return "awq";
  }
  return "unknown";
}

std::vector<std::string> algorithm_names() { return {"rtn", "mse", "gptq", "awq"}; }

Result<QuantAlgorithm> parse_algorithm(const std::string& name) {
  if (name == "rtn") return QuantAlgorithm::kRtn;
  if (name == "mse") return QuantAlgorithm::kMse;
  if (name == "gptq") return QuantAlgorithm::kGptq;
  if (name == "awq") return QuantAlgorithm::kAwq;
  return make_error("algorithm '{}' is not one of rtn, mse, gptq, awq", name);
}

}  // namespace nibble
