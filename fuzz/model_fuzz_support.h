// Shared by the fuzz targets that load whole models (nibble_file_fuzz, gguf_model_fuzz).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "core/thread_pool.h"
#include "model/model.h"
#include "model/transformer.h"

namespace nibble::fuzzing {

// The input copied to a 64-byte aligned buffer, as a mapping would be, so the fuzzer
// reaches the checks after the alignment check.
inline std::shared_ptr<std::byte> aligned_copy(const uint8_t* data, size_t size) {
  const size_t padded = (size + 63) / 64 * 64 + 64;
  std::shared_ptr<std::byte> buffer(static_cast<std::byte*>(std::aligned_alloc(64, padded)), std::free);
  if (size > 0) std::memcpy(buffer.get(), data, size);
  return buffer;
}

// One forward step of a model that loaded: it must not touch memory outside its tensors.
// Large shapes are skipped: the point is the loader, not large matmuls.
inline void run_one_step(const Model& model) {
  const ModelConfig& c = model.config;
  if (static_cast<int64_t>(c.dim) * c.hidden_dim * c.n_layers > (1 << 22) || c.vocab_size > (1 << 16)) return;
  static ThreadPool pool(1);  // one worker for the whole run: no thread start per input
  auto transformer = Transformer::create(c, model.weights, 2, 2, pool);
  if (!transformer.ok()) return;
  std::vector<float> logits(static_cast<size_t>(c.vocab_size));
  (void)transformer->forward(std::vector<int>{0}, 0, 1, logits.data());
}

}  // namespace nibble::fuzzing
