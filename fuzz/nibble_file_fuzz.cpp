// libFuzzer target: arbitrary bytes as a nibble model file. Loading must end in an Error
// or in a model whose every borrowed tensor lies inside the input; a model that loads
// must then run one forward step without touching memory outside its tensors.
// The input is copied to a 64-byte aligned buffer, as a mapping would be, so the fuzzer
// reaches the scheme checks rather than stopping at the alignment check.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "core/thread_pool.h"
#include "formats/nibble_file.h"
#include "model/transformer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const size_t padded = (size + 63) / 64 * 64 + 64;
  std::shared_ptr<std::byte> buffer(static_cast<std::byte*>(std::aligned_alloc(64, padded)), std::free);
  if (size > 0) std::memcpy(buffer.get(), data, size);
  nibble::LoadOptions options;
  options.require_tokenizer = false;
  auto model = nibble::load_nibble_model_from_bytes({buffer.get(), size}, buffer, "fuzz.gguf", options);
  if (!model.ok()) return 0;
  const nibble::ModelConfig& c = model->config;
  // Keep a forward step cheap: the fuzzer's point is the loader, not large matmuls.
  if (static_cast<int64_t>(c.dim) * c.hidden_dim * c.n_layers > (1 << 22) || c.vocab_size > (1 << 16)) return 0;
  nibble::ThreadPool pool(1);
  auto transformer = nibble::Transformer::create(c, model->weights, 2, 2, pool);
  if (!transformer.ok()) return 0;
  std::vector<float> logits(static_cast<size_t>(c.vocab_size));
  (void)transformer->forward(std::vector<int>{c.bos_id >= 0 && c.bos_id < c.vocab_size ? c.bos_id : 0}, 0, 1,
                             logits.data());
  return 0;
}
