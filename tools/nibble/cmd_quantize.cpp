#include <cstdio>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "formats/nibble_file.h"
#include "load.h"

namespace nibble::cli {

namespace {

struct QuantizeArgs {
  ModelArgs model_args;
  std::string output;
  int threads = default_threads();
  bool json = false;
};

nlohmann::json report_json(const QuantizationReport& report) {
  nlohmann::json tensors = nlohmann::json::array();
  for (const auto& t : report.tensors)
    tensors.push_back({{"name", t.name}, {"scheme", t.scheme}, {"bits", t.bits}, {"group", t.group},
                       {"ragged", t.ragged}, {"rel_rms_error", t.rel_rms_error}, {"weights", t.weights},
                       {"bytes", t.bytes}, {"note", t.note}});
  nlohmann::json out = {{"recipe", report.recipe},        {"algorithm", report.algorithm},
                        {"tensors", tensors},              {"total_weights", report.total_weights},
                        {"total_bytes", report.total_bytes}, {"bits_per_weight", report.bits_per_weight()}};
  if (!report.awq_pairs.empty()) {
    nlohmann::json pairs = nlohmann::json::array();
    for (const AwqPair& p : report.awq_pairs)
      pairs.push_back({{"producer", p.producer}, {"layers", p.layers}, {"alpha", p.alpha},
                       {"error_before", p.error_before}, {"error_after", p.error_after}, {"skipped", p.skipped}});
    out["awq"] = pairs;
  }
  return out;
}

void print_table(const QuantizationReport& report) {
  std::printf("%-32s %-8s %4s %6s %-6s %12s %12s\n", "tensor", "scheme", "bits", "group", "ragged",
              "rel.rms.err", "bytes");
  for (const auto& t : report.tensors) {
    std::printf("%-32s %-8s %4d %6d %-6s %12.6f %12llu%s%s\n", t.name.c_str(), t.scheme.c_str(), t.bits,
                t.group, t.ragged ? "yes" : "no", t.rel_rms_error, static_cast<unsigned long long>(t.bytes),
                t.note.empty() ? "" : "  ", t.note.c_str());
  }
  std::printf("total: %lld weights in %llu bytes = %.3f bits per weight (recipe %s)\n",
              static_cast<long long>(report.total_weights), static_cast<unsigned long long>(report.total_bytes),
              report.bits_per_weight(), report.recipe.c_str());
  std::printf("algorithm: %s\n", report.algorithm.c_str());
  for (const AwqPair& p : report.awq_pairs) {
    std::string layers;
    for (const std::string& l : p.layers) layers += (layers.empty() ? "" : ", ") + l;
    if (!p.skipped.empty()) {
      std::printf("awq: %s -> %s skipped: %s\n", p.producer.c_str(), layers.c_str(), p.skipped.c_str());
    } else {
      std::printf("awq: %s -> %s alpha %.2f, output error %.6g -> %.6g\n", p.producer.c_str(), layers.c_str(),
                  p.alpha, p.error_before, p.error_after);
    }
  }
}

int run_quantize(const QuantizeArgs& args) {
  ThreadPool pool(args.threads);
  LoadOptions options;
  options.tokenizer_path = args.model_args.tokenizer;
  // A saved model carries its tokenizer, so -o needs one; the report alone does not.
  options.require_tokenizer = !args.output.empty() || needs_calibration(args.model_args);
  options.pool = &pool;
  auto model = load_model(args.model_args.path, options);
  if (!model.ok()) return report(model.error());
  auto result = quantize_for_command(*model, args.model_args, pool, progress_bar("tensors"));
  if (!result.ok()) return report(result.error());
  if (args.json) {
    std::printf("%s\n", report_json(*result).dump().c_str());
  } else {
    print_table(*result);
  }
  if (!args.output.empty()) {
    if (auto saved = save_nibble_model(*model, args.output); !saved.ok()) return report(saved.error());
    if (!args.json) std::printf("wrote %s\n", args.output.c_str());
  }
  return 0;
}

}  // namespace

Runner add_quantize(CLI::App& app) {
  auto args = std::make_shared<QuantizeArgs>();
  auto* sub = app.add_subcommand("quantize", "Quantize a model with a recipe and report the error per tensor");
  sub->add_option("-m,--model", args->model_args.path, "Model file or directory")->required();
  sub->add_option("--tokenizer", args->model_args.tokenizer, "Tokenizer file (default: found next to the model)");
  sub->add_option("-o,--output", args->output, "Write the quantized model to this nibble file (docs/FORMAT.md)");
  add_recipe_options(sub, args->model_args,
                     "Preset (q4_g32, q8_g32, a8w4_g256, w4_g128_asym), shorthand "
                     "'linear=a8w4:256,embedding=w4:32,lm_head=a8w8:32' or JSON file");
  sub->get_option("--recipe")->required();
  sub->add_option("-t,--threads", args->threads, "Threads")->capture_default_str()->check(CLI::Range(1, 1024));
  sub->add_flag("--json", args->json, "Print the report as JSON");
  return [args] { return run_quantize(*args); };
}

}  // namespace nibble::cli
