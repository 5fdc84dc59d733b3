// stories260K (Karpathy's llama2.c model): greedy text equals llama2.c's `run`, and
// perplexity equals llama.cpp's figure for the same model and text.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/file.h"
#include "support/test_support.h"

namespace nibble {
namespace {

std::string model_args() {
  return "-m " + testing::shell_quote(testing::model_path("stories260K/stories260K.bin")) +
         " --tokenizer " + testing::shell_quote(testing::model_path("stories260K/tok512.bin"));
}

// The ```text block of stories260K/README.md: llama2.c's output for the same run.
std::string llama2c_reference_text() {
  auto readme = read_text_file(testing::model_path("stories260K/README.md"));
  if (!readme.ok()) return "";
  const std::string open = "```text\n";
  size_t begin = readme->find(open);
  size_t end = readme->find("\n```", begin + open.size());
  if (begin == std::string::npos || end == std::string::npos) return "";
  return readme->substr(begin + open.size(), end - begin - open.size());
}

TEST(ModelSmoke, Stories260kGreedyTextEqualsLlama2c) {
  NIBBLE_REQUIRE_MODELS();
  const std::string reference = llama2c_reference_text();
  ASSERT_FALSE(reference.empty());
  // llama2.c's `-n 200` runs positions 0 (BOS) to 199 and prints the token after each:
  // the prompt tokens after BOS, then new ones. nibble's -n counts new tokens only, so
  // first find the prompt's length.
  auto json_run = testing::run_nibble("generate " + model_args() + " -p 'Once upon a time' -n 1 --json");
  ASSERT_EQ(json_run.exit_code, 0) << json_run.err;
  const auto prompt_ids = nlohmann::json::parse(json_run.out)["prompt_ids"].get<std::vector<int>>();
  const int n_new = 200 - (static_cast<int>(prompt_ids.size()) - 1);

  auto run = testing::run_nibble("generate " + model_args() + " -p 'Once upon a time' --temp 0 -n " +
                                 std::to_string(n_new));
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, reference + "\n");
  EXPECT_NE(run.err.find("tokens/s"), std::string::npos) << run.err;
}

TEST(Stories260kPerplexity, MatchesLlamaCppOnTinyStories) {
  NIBBLE_REQUIRE_MODELS();
  auto run = testing::run_nibble("perplexity " + model_args() + " -f " +
                                 testing::shell_quote(testing::model_path("text/tinystories-valid-1000.txt")) +
                                 " --ctx 512 --json");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  auto json = nlohmann::json::parse(run.out);
  EXPECT_EQ(json["chunks"].get<int>(), 767);
  EXPECT_EQ(json["tokens_scored"].get<int64_t>(), 195585);
  // llama.cpp prints 4.9744 +/- 0.0243 (4 and 4 decimals): agree to its printed precision.
  EXPECT_NEAR(json["ppl"].get<double>(), 4.9744, 0.00005);
  EXPECT_NEAR(json["ppl_stderr"].get<double>(), 0.0243, 0.00005);
}

}  // namespace
}  // namespace nibble
