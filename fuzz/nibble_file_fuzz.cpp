// libFuzzer target: arbitrary bytes as a nibble model file. Loading must end in an Error
// or in a model whose every borrowed tensor lies inside the input; a model that loads
// must then run one forward step without touching memory outside its tensors.
#include "formats/nibble_file.h"
#include "model_fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto buffer = nibble::fuzzing::aligned_copy(data, size);
  nibble::LoadOptions options;
  options.require_tokenizer = false;
  auto model = nibble::load_nibble_model_from_bytes({buffer.get(), size}, buffer, "fuzz.gguf", options);
  if (model.ok()) nibble::fuzzing::run_one_step(*model);
  return 0;
}
