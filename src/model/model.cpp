#include "model/model.h"

#include "core/file.h"
#include "formats/hf_model.h"
#include "formats/llama2c.h"

namespace nibble {

Result<Model> load_model(const std::string& path, const LoadOptions& options) {
  if (is_directory(path)) {
    if (!file_exists(path + "/config.json"))
      return make_error("{}: a model directory must hold config.json (Hugging Face format)", path);
    return load_hf_model(path, options);
  }
  if (!file_exists(path)) return make_error("{}: no such model file or directory", path);
  return load_llama2c_model(path, options);
}

}  // namespace nibble
