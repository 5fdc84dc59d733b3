// nibble: quantize, save and run Llama-family models on the CPU. See README.md "CLI".
#include <cstdio>
#include <map>
#include <thread>

#include "commands.h"

namespace nibble::cli {

int report(const Error& error) {
  std::fprintf(stderr, "nibble: error: %s\n", error.message.c_str());
  return 1;
}

int default_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

}  // namespace nibble::cli

int main(int argc, char** argv) {
  CLI::App app{"nibble: quantize, save and run Llama-family LLMs on the CPU"};
  app.require_subcommand(1);
  std::map<std::string, nibble::cli::Runner> runners;
  runners["generate"] = nibble::cli::add_generate(app);
  runners["perplexity"] = nibble::cli::add_perplexity(app);
  runners["inspect"] = nibble::cli::add_inspect(app);
  runners["quantize"] = nibble::cli::add_quantize(app);
  runners["export-gguf"] = nibble::cli::add_export_gguf(app);
  runners["synth"] = nibble::cli::add_synth(app);
  runners["bench"] = nibble::cli::add_bench(app);
  runners["report"] = nibble::cli::add_report(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  for (auto* sub : app.get_subcommands()) return runners.at(sub->get_name())();
  return 1;
}
