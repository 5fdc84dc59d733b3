// Shared helpers for the test suites: where the shared models live, and a loud
// failure under CI when they are missing (a silently skipped model test proves nothing).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace nibble::testing {

// $NIBBLE_MODELS, or ../shared/models relative to the source tree.
std::string models_dir();

// Path of a file under models_dir().
std::string model_path(const std::string& relative);

// True when the shared models are present. Under CI=true a missing directory is a
// test failure (reported by the caller through GTEST_FAIL); locally the test is skipped.
bool require_models();

// A fresh, empty temporary directory for the current test.
std::string temp_dir();

// Loads a little-endian float32 .npy file (C order) into `data` with its shape.
bool load_npy_f32(const std::string& path, std::vector<float>* data, std::vector<int64_t>* shape,
                  std::string* error);

}  // namespace nibble::testing

// Use at the top of every model test.
#define NIBBLE_REQUIRE_MODELS()                                                        \
  do {                                                                                 \
    if (!::nibble::testing::require_models()) {                                        \
      if (std::getenv("CI") != nullptr && std::string(std::getenv("CI")) == "true")   \
        GTEST_FAIL() << "CI=true but NIBBLE_MODELS is missing: "                      \
                     << ::nibble::testing::models_dir();                               \
      GTEST_SKIP() << "models not found at " << ::nibble::testing::models_dir();       \
    }                                                                                  \
  } while (0)

namespace nibble::testing {

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Asserts that `message` contains every one of `parts` (errors must name what broke).
void expect_mentions(const std::string& message, const std::vector<std::string>& parts);

// Runs the built `nibble` binary with `args` (a shell-quoted string).
CommandResult run_nibble(const std::string& args);

// Quotes one argument for the shell.
std::string shell_quote(const std::string& arg);

}  // namespace nibble::testing
