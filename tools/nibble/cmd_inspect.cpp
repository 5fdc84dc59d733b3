#include <cstdio>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "formats/nibble_file.h"
#include "model/model.h"

namespace nibble::cli {

namespace {

struct InspectArgs {
  std::string model_path;
  std::string tokenizer_path;
  bool json = false;
  bool verify = false;
};

nlohmann::json config_json(const ModelConfig& c) {
  return {{"architecture", architecture_name(c.architecture)},
          {"dim", c.dim},
          {"hidden_dim", c.hidden_dim},
          {"n_layers", c.n_layers},
          {"n_heads", c.n_heads},
          {"n_kv_heads", c.n_kv_heads},
          {"head_dim", c.head_dim},
          {"vocab_size", c.vocab_size},
          {"max_seq_len", c.max_seq_len},
          {"rope_theta", c.rope_theta},
          {"rope_style", rope_style_name(c.rope_style)},
          {"rms_norm_eps", c.rms_norm_eps},
          {"tied_embeddings", c.tied_embeddings},
          {"qkv_bias", c.qkv_bias},
          {"bos_id", c.bos_id},
          {"eos_id", c.eos_id}};
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

int run_inspect(const InspectArgs& args) {
  LoadOptions load;
  load.tokenizer_path = args.tokenizer_path;
  load.require_tokenizer = false;  // inspecting weights needs no tokenizer
  auto model = load_model(args.model_path, load);
  if (!model.ok()) return report(model.error());
  nlohmann::json config = config_json(model->config);
  config["format"] = model->format;
  if (!model->recipe_json.empty()) config["recipe"] = nlohmann::json::parse(model->recipe_json, nullptr, false);
  nlohmann::json verified;
  if (args.verify) {
    if (model->format != "nibble")
      return report(Error{args.model_path + ": --verify checks the per-tensor checksums of nibble files; this is a " +
                          model->format + " model, which has none"});
    auto sums = verify_nibble_file(args.model_path);
    if (!sums.ok()) return report(sums.error());
    verified = {{"tensors", sums->size()}, {"algorithm", "xxh3_64"}, {"ok", true}};
  }
  if (args.json) {
    nlohmann::json tensors = nlohmann::json::array();
    for (const auto& t : model->tensors)
      tensors.push_back({{"name", t.name}, {"shape", t.shape}, {"type", t.type}, {"bytes", t.bytes}});
    nlohmann::json out = {{"config", config}, {"tensors", tensors}, {"file_bytes", model->file_bytes}};
    if (args.verify) out["verify"] = verified;
    std::printf("%s\n", out.dump().c_str());
    return 0;
  }
  std::printf("%s (%s)\n", model->path.c_str(), model->format.c_str());
  for (const auto& [key, value] : config.items())
    std::printf("  %-16s %s\n", key.c_str(), value.dump().c_str());
  std::printf("%-48s %-20s %-6s %12s\n", "tensor", "shape", "type", "bytes");
  for (const auto& t : model->tensors)
    std::printf("%-48s %-20s %-6s %12llu\n", t.name.c_str(), shape_string(t.shape).c_str(),
                t.type.c_str(), static_cast<unsigned long long>(t.bytes));
  std::printf("%zu tensors, file bytes %llu\n", model->tensors.size(),
              static_cast<unsigned long long>(model->file_bytes));
  if (args.verify) std::printf("verify: %zu tensors, every XXH3-64 checksum matches\n", model->tensors.size());
  return 0;
}

}  // namespace

Runner add_inspect(CLI::App& app) {
  auto args = std::make_shared<InspectArgs>();
  auto* sub = app.add_subcommand("inspect", "Show a model's config and tensors");
  sub->add_option("-m,--model", args->model_path, "Model file or directory")->required();
  sub->add_option("--tokenizer", args->tokenizer_path, "Tokenizer file");
  sub->add_flag("--json", args->json, "Print one JSON object");
  sub->add_flag("--verify", args->verify, "Check every tensor's checksum (nibble files)");
  return [args] { return run_inspect(*args); };
}

}  // namespace nibble::cli
