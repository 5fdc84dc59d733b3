// config.json -> ModelConfig: fields, HF defaults, and refusals of keys that change
// the math, each with a message naming the key and the value found.
#include "formats/hf_config.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace nibble {
namespace {

using nlohmann::json;

json llama_config() {
  return json{{"architectures", {"LlamaForCausalLM"}},
              {"model_type", "llama"},
              {"hidden_size", 64},
              {"intermediate_size", 160},
              {"num_hidden_layers", 2},
              {"num_attention_heads", 4},
              {"num_key_value_heads", 2},
              {"vocab_size", 100},
              {"max_position_embeddings", 128},
              {"rms_norm_eps", 1e-5},
              {"rope_theta", 10000.0},
              {"tie_word_embeddings", true},
              {"hidden_act", "silu"},
              {"bos_token_id", 1},
              {"eos_token_id", 2}};
}

json qwen2_config() {
  json j = llama_config();
  j["architectures"] = {"Qwen2ForCausalLM"};
  j["model_type"] = "qwen2";
  j["rope_theta"] = 1000000.0;
  j["use_sliding_window"] = false;
  j["sliding_window"] = 4096;
  return j;
}

Result<ModelConfig> parse(const json& j) { return parse_hf_config(j.dump(), "config.json"); }

void expect_error(const json& j, const std::vector<std::string>& parts) {
  auto result = parse(j);
  ASSERT_FALSE(result.ok()) << "expected an error for " << j.dump();
  for (const std::string& part : parts)
    EXPECT_NE(result.error().message.find(part), std::string::npos)
        << "message: " << result.error().message << "\nmissing: " << part;
}

TEST(HfConfig, ReadsLlama) {
  auto config = parse(llama_config());
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->architecture, Architecture::kLlama);
  EXPECT_EQ(config->dim, 64);
  EXPECT_EQ(config->hidden_dim, 160);
  EXPECT_EQ(config->n_layers, 2);
  EXPECT_EQ(config->n_heads, 4);
  EXPECT_EQ(config->n_kv_heads, 2);
  EXPECT_EQ(config->head_dim, 16);
  EXPECT_EQ(config->vocab_size, 100);
  EXPECT_EQ(config->max_seq_len, 128);
  EXPECT_EQ(config->rms_norm_eps, 1e-5f);
  EXPECT_EQ(config->rope_theta, 10000.0f);
  EXPECT_TRUE(config->tied_embeddings);
  EXPECT_FALSE(config->qkv_bias);
  EXPECT_EQ(config->rope_style, RopeStyle::kHalves);
  EXPECT_EQ(config->bos_id, 1);
  EXPECT_EQ(config->eos_id, 2);
}

TEST(HfConfig, ReadsQwen2WithItsBiases) {
  json j = qwen2_config();
  j["attention_bias"] = false;  // not a Qwen2 key: HF's Qwen2 always has q/k/v bias
  auto config = parse(j);
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->architecture, Architecture::kQwen2);
  EXPECT_TRUE(config->qkv_bias);
  EXPECT_EQ(config->rope_theta, 1e6f);
}

TEST(HfConfig, AppliesHfDefaults) {
  json j = llama_config();
  for (const char* key : {"num_key_value_heads", "rope_theta", "rms_norm_eps",
                          "tie_word_embeddings", "max_position_embeddings", "bos_token_id",
                          "eos_token_id", "hidden_act", "model_type"})
    j.erase(key);
  auto config = parse(j);
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->n_kv_heads, 4);
  EXPECT_EQ(config->rope_theta, 10000.0f);
  EXPECT_EQ(config->rms_norm_eps, 1e-6f);
  EXPECT_FALSE(config->tied_embeddings);
  EXPECT_EQ(config->max_seq_len, 2048);
  EXPECT_EQ(config->bos_id, 1);
  EXPECT_EQ(config->eos_id, 2);

  json q = qwen2_config();
  q.erase("max_position_embeddings");
  auto qwen = parse(q);
  ASSERT_TRUE(qwen.ok()) << qwen.error().message;
  EXPECT_EQ(qwen->max_seq_len, 32768);
}

TEST(HfConfig, ReadsOptionalForms) {
  json j = llama_config();
  j["head_dim"] = 32;  // explicit head_dim wider than hidden_size / heads
  j["eos_token_id"] = {7, 8};
  j["bos_token_id"] = nullptr;
  j["rope_scaling"] = nullptr;
  j["pretraining_tp"] = 4;  // math-neutral
  j["torch_dtype"] = "bfloat16";
  j["some_future_key"] = {{"a", 1}};
  auto config = parse(j);
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->head_dim, 32);
  EXPECT_EQ(config->q_dim(), 128);
  EXPECT_EQ(config->eos_id, 7);
  EXPECT_EQ(config->bos_id, 1);

  j["rope_scaling"] = {{"rope_type", "default"}};
  EXPECT_TRUE(parse(j).ok());
  j.erase("rope_theta");
  j["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 500000.0}};
  auto v5 = parse(j);
  ASSERT_TRUE(v5.ok()) << v5.error().message;
  EXPECT_EQ(v5->rope_theta, 500000.0f);
}

TEST(HfConfig, RefusesUnsupportedArchitectures) {
  json j = llama_config();
  j["architectures"] = {"MistralForCausalLM"};
  expect_error(j, {"architectures", "MistralForCausalLM", "LlamaForCausalLM", "Qwen2ForCausalLM"});
  j["architectures"] = {"LlamaForCausalLM", "Qwen2ForCausalLM"};
  expect_error(j, {"architectures", "not supported"});
  j.erase("architectures");
  expect_error(j, {"architectures", "missing"});
  j = llama_config();
  j["model_type"] = "mistral";
  expect_error(j, {"model_type", "mistral", "llama"});
}

TEST(HfConfig, RefusesKeysThatChangeTheMath) {
  json j = llama_config();
  j["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
  expect_error(j, {"rope_scaling", "linear", "not supported"});
  j["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}};
  expect_error(j, {"rope_scaling", "llama3"});

  j = llama_config();
  j["rope_parameters"] = {{"rope_type", "yarn"}, {"rope_theta", 10000.0}};
  expect_error(j, {"rope_parameters", "yarn"});

  j = llama_config();
  j["hidden_act"] = "gelu";
  expect_error(j, {"hidden_act", "gelu", "silu"});

  j = llama_config();
  j["attention_bias"] = true;
  expect_error(j, {"attention_bias", "Llama"});

  j = llama_config();
  j["mlp_bias"] = true;
  expect_error(j, {"mlp_bias"});

  j = qwen2_config();
  j["use_sliding_window"] = true;
  expect_error(j, {"use_sliding_window"});
}

TEST(HfConfig, NamesKeyExpectedTypeAndValueOnTypeErrors) {
  json j = llama_config();
  j["hidden_size"] = "64";
  expect_error(j, {"'hidden_size'", "an integer", "\"64\""});
  j = llama_config();
  j["num_hidden_layers"] = 2.5;
  expect_error(j, {"'num_hidden_layers'", "an integer", "2.5"});
  j = llama_config();
  j["tie_word_embeddings"] = "yes";
  expect_error(j, {"'tie_word_embeddings'", "true or false", "\"yes\""});
  j = llama_config();
  j["rms_norm_eps"] = {1};
  expect_error(j, {"'rms_norm_eps'", "a number", "[1]"});
  j = llama_config();
  j["rope_theta"] = 1e300;
  expect_error(j, {"'rope_theta'", "float"});
  j = llama_config();
  j["vocab_size"] = 1ll << 40;
  expect_error(j, {"'vocab_size'", "out of range"});
  j = llama_config();
  j["eos_token_id"] = json::array();
  expect_error(j, {"'eos_token_id'"});
  j = llama_config();
  j.erase("intermediate_size");
  expect_error(j, {"'intermediate_size'", "missing"});
}

TEST(HfConfig, ValidatesTheResult) {
  json j = llama_config();
  j["num_key_value_heads"] = 3;  // 4 heads are not a multiple of 3
  expect_error(j, {"n_kv_heads"});
  j = llama_config();
  j["hidden_size"] = 66;  // not a multiple of 4 heads, no head_dim
  expect_error(j, {"hidden_size 66", "num_attention_heads 4"});
  j = llama_config();
  j["num_attention_heads"] = 0;
  expect_error(j, {"n_heads"});
  j = llama_config();
  j["eos_token_id"] = 100;
  expect_error(j, {"eos_id"});
}

TEST(HfConfig, RefusesMalformedJson) {
  auto result = parse_hf_config("{\"hidden_size\": ", "config.json");
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error().message.find("config.json: invalid JSON"), std::string::npos);
  result = parse_hf_config("[]", "config.json");
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error().message.find("JSON object"), std::string::npos);
  result = parse_hf_config(R"({"hidden_size": 1, "hidden_size": 2})", "config.json");
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error().message.find("'hidden_size' appears twice"), std::string::npos);
}

}  // namespace
}  // namespace nibble
