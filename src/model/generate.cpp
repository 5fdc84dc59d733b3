#include "model/generate.h"

#include <algorithm>
#include <chrono>

#include "core/stopwatch.h"

namespace nibble {

Result<GenerateResult> generate(const Model& model, Transformer& transformer,
                                const std::vector<int>& prompt_ids, const GenerateOptions& options,
                                const std::function<void(int)>& on_token) {
  const int vocab = model.config.vocab_size;
  const int n_prompt = static_cast<int>(prompt_ids.size());
  if (n_prompt == 0) return make_error("the prompt is empty: it needs at least the BOS token");
  if (n_prompt >= transformer.context_len())
    return make_error("the prompt has {} tokens but the context holds {}: at most {} prompt tokens "
                      "leave room for one new token", n_prompt, transformer.context_len(),
                      transformer.context_len() - 1);
  if (options.max_new_tokens < 0)
    return make_error("the number of new tokens must be >= 0, got {}", options.max_new_tokens);
  NIBBLE_ASSIGN_OR_RETURN(Sampler sampler, Sampler::create(options.sampler));

  GenerateResult result;
  result.prompt_ids = prompt_ids;
  std::vector<float> logits(static_cast<size_t>(vocab));

  auto start = std::chrono::steady_clock::now();
  for (int pos = 0; pos < n_prompt; pos += transformer.max_batch()) {
    const int n = std::min(transformer.max_batch(), n_prompt - pos);
    const bool last = pos + n == n_prompt;
    NIBBLE_CHECK_OK(transformer.forward(std::span<const int>(prompt_ids).subspan(pos, n), pos,
                                        last ? 1 : 0, logits.data()));
  }
  result.prefill_seconds = seconds_since(start);

  start = std::chrono::steady_clock::now();
  int pos = n_prompt;
  while (static_cast<int>(result.new_ids.size()) < options.max_new_tokens) {
    const int next = sampler.sample(logits.data(), vocab);
    if (next == model.config.eos_id || next == model.config.bos_id) {
      result.stopped_at_end_token = true;
      break;
    }
    result.new_ids.push_back(next);
    if (on_token) on_token(next);
    if (static_cast<int>(result.new_ids.size()) == options.max_new_tokens) break;
    if (pos >= transformer.context_len()) {
      result.stopped_at_context_end = true;
      break;
    }
    NIBBLE_CHECK_OK(transformer.forward(std::span<const int>(&next, 1), pos, 1, logits.data()));
    ++pos;
    ++result.decode_steps;
  }
  result.decode_seconds = seconds_since(start);
  return result;
}

}  // namespace nibble
