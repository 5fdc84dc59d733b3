#include "load.h"

namespace nibble::cli {

Result<Model> load_for_command(const ModelArgs& args, bool require_tokenizer, ThreadPool& pool,
                               QuantizationReport* report) {
  LoadOptions options;
  options.tokenizer_path = args.tokenizer;
  options.require_tokenizer = require_tokenizer;
  NIBBLE_ASSIGN_OR_RETURN(Model model, load_model(args.path, options));
  if (args.recipe.empty()) return model;
  NIBBLE_ASSIGN_OR_RETURN(Recipe recipe, resolve_recipe(args.recipe));
  NIBBLE_ASSIGN_OR_RETURN(QuantizationReport r, quantize_model(model, recipe, pool, {}));
  if (report != nullptr) *report = std::move(r);
  return model;
}

}  // namespace nibble::cli
