// libFuzzer target: arbitrary bytes as a llama.cpp GGUF model (formats/gguf_model.h).
// Loading must end in an Error or in a model whose tensors lie inside the input; a model
// that loads must run one forward step.
#include "formats/gguf_model.h"
#include "model_fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto buffer = nibble::fuzzing::aligned_copy(data, size);
  nibble::LoadOptions options;
  options.require_tokenizer = false;
  auto model = nibble::load_gguf_model_from_bytes({buffer.get(), size}, buffer, "fuzz.gguf", options);
  if (model.ok()) nibble::fuzzing::run_one_step(*model);
  return 0;
}
