// libFuzzer target: arbitrary bytes as a llama2.c checkpoint. A parse that succeeds
// must give a model whose forward pass runs on a token (validated shapes are usable).
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/thread_pool.h"
#include "formats/llama2c.h"
#include "model/transformer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto bytes = std::span(reinterpret_cast<const std::byte*>(data), size);
  auto model = nibble::parse_llama2c_checkpoint(bytes, "fuzz.bin");
  if (!model.ok()) return 0;
  nibble::ThreadPool pool(1);
  const int context = std::min(model->config.max_seq_len, 4);
  auto transformer = nibble::Transformer::create(model->config, model->weights, context, 1, pool);
  if (!transformer.ok()) return 0;
  std::vector<float> logits(static_cast<size_t>(model->config.vocab_size));
  const int token = 0;
  (void)transformer->forward(std::span<const int>(&token, 1), 0, 1, logits.data());
  return 0;
}
