// Model: everything a loaded checkpoint provides — config, weights, tokenizer and the
// inventory of the file it came from. load_model() detects the format from the path.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "model/config.h"
#include "model/weights.h"
#include "tokenizer/tokenizer.h"

namespace nibble {

class ThreadPool;

struct LoadOptions {
  std::string tokenizer_path;  // overrides the tokenizer found next to the model
  bool require_tokenizer = true;
  // Threads that build a8 layers' derived data (code sums, panels) while loading a nibble
  // file; null: the calling thread. The same bytes either way.
  ThreadPool* pool = nullptr;
};

struct Model {
  ModelConfig config;
  ModelWeights weights;
  std::unique_ptr<Tokenizer> tokenizer;  // null only when LoadOptions::require_tokenizer is false
  std::vector<TensorInfo> tensors;       // as stored in the file(s)
  uint64_t file_bytes = 0;               // total bytes of the weight file(s)
  std::string format;                    // "llama2c", "hf-safetensors", "gguf" or "nibble"
  // The quantization recipe the weights were made with, as JSON (Recipe::to_json);
  // empty for float weights. Saved in nibble files so a loaded model says how it was made.
  std::string recipe_json;
  std::string path;
};

// Detects the format from `path`: a directory with config.json is a Hugging Face
// checkpoint; a file starting with "GGUF" is a nibble model file (nibble.format_version)
// or a llama.cpp GGUF model; any other file is a llama2.c checkpoint.
Result<Model> load_model(const std::string& path, const LoadOptions& options);

}  // namespace nibble
