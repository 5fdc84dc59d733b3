// The CLI contract (README "CLI"): JSON keys, exit codes and error messages.
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "kernels/kernel_table.h"
#include "support/test_support.h"

namespace nibble {
namespace {

using testing::model_path;
using testing::run_nibble;
using testing::shell_quote;

std::string tiny_llama() { return shell_quote(model_path("tiny-llama-8m/model.bin")); }

TEST(Cli, GenerateJsonHasTheContractKeys) {
  NIBBLE_REQUIRE_MODELS();
  auto run = run_nibble("generate -m " + tiny_llama() + " -p 'The function returns' -n 5 --json -t 1");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  auto json = nlohmann::json::parse(run.out);
  EXPECT_EQ(json["prompt_ids"], nlohmann::json({1, 407, 450, 1057}));
  EXPECT_EQ(json["ids"], nlohmann::json({263, 595, 526, 295, 268}));
  EXPECT_EQ(json["text"], " a class object to the");
  EXPECT_GT(json["decode_tok_s"].get<double>(), 0.0);
}

TEST(Cli, BenchDramReadsBeforeEveryDecodeRunAndAfterTheLast) {
  NIBBLE_REQUIRE_MODELS();
  const std::string args = "bench -m " + tiny_llama() + " -p 4 -n 4 -r 3 -t 2 --json";
  auto with = run_nibble(args + " --dram");
  ASSERT_EQ(with.exit_code, 0) << with.err;
  auto json = nlohmann::json::parse(with.out);
  ASSERT_EQ(json["dram_readings"].size(), 4u);  // one before each of the 3 runs, one after the last
  for (const auto& reading : json["dram_readings"]) EXPECT_GT(reading.get<double>(), 0.0);
  const auto& share = json["decode_dram_share"];
  EXPECT_GT(share["min"].get<double>(), 0.0);
  EXPECT_LE(share["min"].get<double>(), share["median"].get<double>());
  EXPECT_LE(share["median"].get<double>(), share["max"].get<double>());
  // The model's peak, taken before the probe's 1 GiB buffer was allocated.
  EXPECT_GT(json["peak_rss_mb"].get<double>(), 0.0);
  EXPECT_LT(json["peak_rss_mb"].get<double>(), 1024.0);
  auto without = run_nibble(args);
  ASSERT_EQ(without.exit_code, 0) << without.err;
  EXPECT_FALSE(nlohmann::json::parse(without.out).contains("dram_readings"));
  auto no_decode = run_nibble("bench -m " + tiny_llama() + " -p 4 -n 0 --dram");
  EXPECT_NE(no_decode.exit_code, 0);
  EXPECT_NE(no_decode.err.find("-n is 0"), std::string::npos) << no_decode.err;
}

TEST(Cli, BenchCountsTheWeightsAndTheKvCacheADecodedTokenReads) {
  NIBBLE_REQUIRE_MODELS();
  std::ifstream reference(model_path("tiny-llama-8m/reference.json"));
  const auto config = nlohmann::json::parse(reference)["config"];
  const double dim = config["dim"], hidden = config["hidden"], vocab = config["vocab"];
  const double layers = config["n_layers"];
  const double kv_dim = config["n_kv_heads"].get<double>() * dim / config["n_heads"].get<double>();
  // float32 model.bin: per layer q/k/v/o, gate/up/down and two norms; the final norm, the
  // classifier (the tied table, read whole) and the one embedding row a token looks up.
  const double weights =
      4.0 * (layers * (2 * dim * dim + 2 * dim * kv_dim + 3 * dim * hidden + 2 * dim) + dim + vocab * dim + dim);
  const double kv_per_position = 2.0 * layers * kv_dim * 4.0;  // float32 keys and values
  for (int n : {1, 6}) {
    auto run = run_nibble("bench -m " + tiny_llama() + " -p 0 -n " + std::to_string(n) + " -r 1 -t 1 --json");
    ASSERT_EQ(run.exit_code, 0) << run.err;
    auto json = nlohmann::json::parse(run.out);
    EXPECT_EQ(json["weight_bytes_per_decoded_token"].get<double>(), weights);
    // Positions 0..n-1 decoded: the token at position i reads i + 1 cached positions.
    EXPECT_EQ(json["kv_bytes_per_decoded_token"].get<double>(), kv_per_position * (n + 1) / 2.0) << "n " << n;
    const double total = json["bytes_per_decoded_token"];
    EXPECT_EQ(total, weights + kv_per_position * (n + 1) / 2.0);
    EXPECT_DOUBLE_EQ(json["decode_gb_s"].get<double>(), total * json["decode_tok_s"]["median"].get<double>() / 1e9);
  }
}

TEST(Cli, GenerateStopsAtTheEndOfTextToken) {
  NIBBLE_REQUIRE_MODELS();
  // reference.json: the greedy continuation reaches BOS after 8 tokens.
  auto run = run_nibble("generate -m " + tiny_llama() + " -p 'The function returns' -n 30 --json");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(nlohmann::json::parse(run.out)["ids"].size(), 8u);
}

TEST(Cli, SamplingIsReproducibleForASeed) {
  NIBBLE_REQUIRE_MODELS();
  const std::string args = "generate -m " + tiny_llama() + " -p 'The' -n 20 --temp 1 --top-p 0.9 --json --seed ";
  auto a = run_nibble(args + "7");
  auto b = run_nibble(args + "7");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(nlohmann::json::parse(a.out)["ids"], nlohmann::json::parse(b.out)["ids"]);
}

TEST(Cli, PerplexityJsonAndKlAgainstItself) {
  NIBBLE_REQUIRE_MODELS();
  auto run = run_nibble("perplexity -m " + tiny_llama() + " -f " +
                        shell_quote(model_path("text/indomain-valid-a.txt")) + " --ctx 128 --chunks 3 --kl-ref " +
                        shell_quote(model_path("tiny-llama-8m/hf")) + " --json");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  auto json = nlohmann::json::parse(run.out);
  EXPECT_EQ(json["chunks"].get<int>(), 3);
  EXPECT_EQ(json["tokens_scored"].get<int>(), 3 * 63);
  for (const char* key : {"ppl", "ppl_stderr", "nll", "kld", "kld_p99", "same_top", "dppl"})
    EXPECT_TRUE(json.contains(key)) << key;
  // The same weights in two layouts: identical predictions up to float rounding.
  EXPECT_LT(json["kld"].get<double>(), 1e-6);
  EXPECT_EQ(json["same_top"].get<double>(), 1.0);
  EXPECT_NEAR(json["ppl"].get<double>(), std::exp(json["nll"].get<double>()), 1e-9);
}


TEST(Cli, PerplexityScoresFurtherModelsInTheSamePassOneJsonLineEach) {
  NIBBLE_REQUIRE_MODELS();
  const std::string hf = shell_quote(model_path("tiny-llama-8m/hf"));
  auto run = run_nibble("perplexity -m " + tiny_llama() + " --also " + hf + " -f " +
                        shell_quote(model_path("text/indomain-valid-a.txt")) + " --ctx 128 --chunks 3 --kl-ref " +
                        tiny_llama() + " --json");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  std::istringstream lines(run.out);
  std::vector<nlohmann::json> results;
  for (std::string line; std::getline(lines, line);) results.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(results.size(), 2u) << run.out;
  EXPECT_EQ(results[0]["model"], model_path("tiny-llama-8m/model.bin"));
  EXPECT_EQ(results[1]["model"], model_path("tiny-llama-8m/hf"));
  // The first model is its own reference: identical logits, so the KL is exactly 0.
  EXPECT_EQ(results[0]["kld"].get<double>(), 0.0);
  EXPECT_EQ(results[0]["ppl"], results[0]["ref_ppl"]);
  // The second is the same weights in another layout: equal up to float rounding.
  EXPECT_LT(results[1]["kld"].get<double>(), 1e-6);
  EXPECT_EQ(results[1]["ref_ppl"], results[0]["ref_ppl"]);
  EXPECT_EQ(results[1]["tokens_scored"].get<int>(), 3 * 63);
}
// Every preset (and the weight-only ones on int8 activations) decodes the same greedy tokens
// on every ISA this machine has and with 1 or 2 threads (a8 layers are bit-identical across
// ISAs; float ones differ only by rounding, far below the margin between the top two logits
// on this prompt).
TEST(Cli, GreedyTokensAreTheSameOnEveryIsaAndThreadCount) {
  NIBBLE_REQUIRE_MODELS();
  for (const char* preset : {"q4_g32", "q8_g32", "a8w4_g256", "w4_g128_asym", "q4_g32 --act-int8", "q8_g32 --act-int8"}) {
    nlohmann::json first;
    for (Isa isa : supported_isas()) {
      ::setenv("NIBBLE_ISA", isa_name(isa), 1);
      for (int threads : {1, 2}) {
        SCOPED_TRACE(std::string(preset) + " " + isa_name(isa) + " t" + std::to_string(threads));
        auto run = run_nibble("generate -m " + tiny_llama() + " --recipe " + preset +
                              " -p 'The function returns' -n 24 --json -t " + std::to_string(threads));
        ASSERT_EQ(run.exit_code, 0) << run.err;
        const nlohmann::json ids = nlohmann::json::parse(run.out)["ids"];
        if (first.is_null()) first = ids;
        EXPECT_EQ(ids, first);
      }
    }
    ::unsetenv("NIBBLE_ISA");
  }
}

TEST(Cli, InspectListsTensorsAndConfig) {
  NIBBLE_REQUIRE_MODELS();
  auto run = run_nibble("inspect -m " + shell_quote(model_path("tiny-qwen2-7m/hf-bf16-sharded")) + " --json");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  auto json = nlohmann::json::parse(run.out);
  EXPECT_EQ(json["config"]["architecture"], "qwen2");
  EXPECT_EQ(json["config"]["n_kv_heads"], 2);
  EXPECT_EQ(json["config"]["qkv_bias"], true);
  bool saw_bias = false;
  uint64_t total = 0;
  for (const auto& t : json["tensors"]) {
    EXPECT_EQ(t["type"], "BF16") << t["name"];
    total += t["bytes"].get<uint64_t>();
    if (t["name"] == "model.layers.0.self_attn.q_proj.bias") {
      saw_bias = true;
      EXPECT_EQ(t["shape"], nlohmann::json({320}));
    }
  }
  EXPECT_TRUE(saw_bias);
  EXPECT_GT(json["file_bytes"].get<uint64_t>(), total);  // headers count too
}

TEST(Cli, ErrorsAreMessagesWithNonZeroExit) {
  NIBBLE_REQUIRE_MODELS();
  const std::string dir = testing::temp_dir();
  {
    std::ofstream(dir + "/garbage.bin") << "not a model at all";
  }
  struct Case {
    std::string args;
    std::string expected;
  };
  std::string long_prompt;
  for (int i = 0; i < 300; ++i) long_prompt += "word ";
  const Case cases[] = {
      {"generate -m " + shell_quote(dir + "/missing.bin") + " -p hi", "missing.bin"},
      {"generate -m " + shell_quote(dir + "/garbage.bin") + " -p hi", "garbage.bin"},
      {"generate -m " + shell_quote(dir) + " -p hi", "config.json"},
      {"generate -m " + tiny_llama() + " -p " + shell_quote(long_prompt), "context holds 256"},
      {"generate -m " + tiny_llama() + " -p hi --top-p 2", "top-p"},
      {"perplexity -m " + tiny_llama() + " -f " + shell_quote(dir + "/none.txt"), "none.txt"},
      {"perplexity -m " + tiny_llama() + " -f " + shell_quote(model_path("text/indomain-valid-a.txt")) +
           " --ctx 512", "exceeds the model's context of 256"},
      {"perplexity -m " + tiny_llama() + " -f " + shell_quote(model_path("text/indomain-valid-a.txt")) +
           " --kl-ref " + shell_quote(model_path("stories260K/stories260K.bin")), "vocab_size 512"},
      {"quantize -m " + tiny_llama() + " --recipe q4_g32 --algo gtpq", "is not one of rtn, mse, gptq, awq"},
      {"quantize -m " + tiny_llama() + " --recipe q4_g32 --algo gptq --calib none", "--calib none leaves"},
      {"quantize -m " + tiny_llama() + " --recipe q4_g32 --algo mse --calib " + shell_quote(dir + "/no-calib.txt"),
       "no-calib.txt"},
      {"report -m " + tiny_llama() + " -f " + shell_quote(model_path("text/indomain-valid-a.txt")) + " -o " +
           shell_quote(dir + "/r.html") + " --presets q4_g32,q5_bogus", "q5_bogus"},
      {"report -m " + tiny_llama() + " -f " + shell_quote(model_path("text/calibration.txt")) + " --calib " +
           shell_quote(model_path("text/calibration.txt")) + " -o " + shell_quote(dir + "/r.html"),
       "is the calibration text"},
  };
  for (const auto& c : cases) {
    auto run = run_nibble(c.args);
    EXPECT_NE(run.exit_code, 0) << c.args;
    EXPECT_NE(run.err.find(c.expected), std::string::npos) << c.args << "\n" << run.err;
    EXPECT_EQ(run.err.find("Segmentation"), std::string::npos);
  }
}

}  // namespace
}  // namespace nibble
