// Shared by the fuzz targets that load whole models (nibble_file_fuzz, gguf_model_fuzz).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "core/thread_pool.h"
#include "support/aligned_bytes.h"
#include "model/model.h"
#include "model/transformer.h"

namespace nibble::fuzzing {

using testing::aligned_copy;

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
