#include "model/model.h"

#include <cstring>
#include <fstream>

#include "core/file.h"
#include "formats/gguf_model.h"
#include "formats/hf_model.h"
#include "formats/llama2c.h"
#include "formats/nibble_file.h"

namespace nibble {

namespace {

// True when the file starts with GGUF's magic (nibble files are GGUF containers too).
bool starts_with_gguf_magic(const std::string& path) {
  char magic[4] = {};
  std::ifstream in(path, std::ios::binary);
  return in.read(magic, 4) && std::memcmp(magic, "GGUF", 4) == 0;
}

}  // namespace

Result<Model> load_model(const std::string& path, const LoadOptions& options) {
  if (is_directory(path)) {
    if (!file_exists(path + "/config.json"))
      return make_error("{}: a model directory must hold config.json (Hugging Face format)", path);
    return load_hf_model(path, options);
  }
  if (!file_exists(path)) return make_error("{}: no such model file or directory", path);
  if (starts_with_gguf_magic(path)) {
    // Only the header is parsed here; the tensors stay mapped, not read.
    NIBBLE_ASSIGN_OR_RETURN(MappedGgufFile gguf, open_gguf(path));
    if (is_nibble_file(gguf.gguf)) return load_nibble_model(path, options);
    // Any other GGUF file is a llama.cpp model.
    return load_gguf_model(path, options);
  }
  return load_llama2c_model(path, options);
}

}  // namespace nibble
