// The `nibble` CLI: one function per subcommand. Each registers its options on the
// CLI11 app and returns the process exit code when run. The CLI is a thin layer:
// everything it does is a library call plus formatting.
#pragma once

#include <functional>
#include <string>

#include <CLI/CLI.hpp>

#include "core/status.h"

namespace nibble::cli {

using Runner = std::function<int()>;

Runner add_generate(CLI::App& app);
Runner add_perplexity(CLI::App& app);
Runner add_inspect(CLI::App& app);
Runner add_quantize(CLI::App& app);
Runner add_export_gguf(CLI::App& app);
Runner add_synth(CLI::App& app);
Runner add_bench(CLI::App& app);
Runner add_report(CLI::App& app);

// Prints "nibble: error: <message>" to stderr and returns the exit code for failures.
int report(const Error& error);

// The default thread count: the machine's cores.
int default_threads();

}  // namespace nibble::cli
