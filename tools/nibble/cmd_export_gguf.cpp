// nibble export-gguf: the same weights as a llama.cpp GGUF file (formats/gguf_export.h).
#include <cstdio>

#include "commands.h"
#include "formats/gguf_export.h"
#include "load.h"

namespace nibble::cli {

namespace {

struct ExportArgs {
  ModelArgs model_args;
  std::string output;
  std::string float_type = "f32";
  int threads = default_threads();
};

int run_export(const ExportArgs& args) {
  ThreadPool pool(args.threads);
  auto model = load_for_command(args.model_args, /*require_tokenizer=*/true, pool, nullptr);
  if (!model.ok()) return report(model.error());
  GgufExportOptions options;
  options.float_type = args.float_type == "f16" ? GgufFloatType::kF16 : GgufFloatType::kF32;
  if (auto status = export_gguf(*model, args.output, options); !status.ok()) return report(status.error());
  std::printf("wrote %s\n", args.output.c_str());
  return 0;
}

}  // namespace

Runner add_export_gguf(CLI::App& app) {
  auto args = std::make_shared<ExportArgs>();
  auto* sub = app.add_subcommand("export-gguf", "Write a model as a llama.cpp GGUF file (F32/F16, Q4_0, Q8_0)");
  sub->add_option("-m,--model", args->model_args.path, "Model file or directory")->required();
  sub->add_option("--tokenizer", args->model_args.tokenizer, "Tokenizer file (default: found next to the model)");
  add_recipe_options(sub, args->model_args, "Quantize first (q4_g32 -> Q4_0, q8_g32 -> Q8_0)");
  sub->add_option("-o,--output", args->output, "Output .gguf file")->required();
  sub->add_option("--float-type", args->float_type, "Type of float matrices")
      ->check(CLI::IsMember({"f32", "f16"}))
      ->capture_default_str();
  sub->add_option("-t,--threads", args->threads, "Threads")->capture_default_str()->check(CLI::Range(1, 1024));
  return [args] { return run_export(*args); };
}

}  // namespace nibble::cli
