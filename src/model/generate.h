// Text generation: prefill the prompt, then sample one token at a time until EOS/BOS,
// the requested count, or the end of the context.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/status.h"
#include "model/model.h"
#include "model/sampler.h"
#include "model/transformer.h"

namespace nibble {

struct GenerateOptions {
  int max_new_tokens = 64;
  SamplerOptions sampler;
};

struct GenerateResult {
  std::vector<int> prompt_ids;  // BOS first
  std::vector<int> new_ids;     // generated ids; the stop token (EOS/BOS) is not included
  bool stopped_at_end_token = false;
  bool stopped_at_context_end = false;
  double prefill_seconds = 0.0;
  double decode_seconds = 0.0;  // time of the single-token forward passes
  int decode_steps = 0;         // number of single-token forward passes
};

// Stop rule: generation ends when the model emits EOS or BOS (both mark a document
// boundary in the training text; llama2.c stops at BOS the same way), after
// max_new_tokens new tokens, or when the context is full. `on_token` (may be empty) is
// called with each new id as it is produced.
Result<GenerateResult> generate(const Model& model, Transformer& transformer,
                                const std::vector<int>& prompt_ids, const GenerateOptions& options,
                                const std::function<void(int)>& on_token);

}  // namespace nibble
