// libFuzzer target: arbitrary bytes as a llama.cpp GGUF model (formats/gguf_model.h).
// Loading must end in an Error or in a model whose tensors lie inside the input; a model
// that loads must run one forward step. The input is copied to a 64-byte aligned buffer,
// as a mapping would be.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "core/thread_pool.h"
#include "formats/gguf_model.h"
#include "model/transformer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const size_t padded = (size + 63) / 64 * 64 + 64;
  std::shared_ptr<std::byte> buffer(static_cast<std::byte*>(std::aligned_alloc(64, padded)), std::free);
  if (size > 0) std::memcpy(buffer.get(), data, size);
  nibble::LoadOptions options;
  options.require_tokenizer = false;
  auto model = nibble::load_gguf_model_from_bytes({buffer.get(), size}, buffer, "fuzz.gguf", options);
  if (!model.ok()) return 0;
  const nibble::ModelConfig& c = model->config;
  if (static_cast<int64_t>(c.dim) * c.hidden_dim * c.n_layers > (1 << 22) || c.vocab_size > (1 << 16)) return 0;
  nibble::ThreadPool pool(1);
  auto transformer = nibble::Transformer::create(c, model->weights, 2, 2, pool);
  if (!transformer.ok()) return 0;
  std::vector<float> logits(static_cast<size_t>(c.vocab_size));
  (void)transformer->forward(std::vector<int>{0}, 0, 1, logits.data());
  return 0;
}
