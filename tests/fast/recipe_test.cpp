#include "quant/recipe.h"

#include <gtest/gtest.h>

namespace nibble {
namespace {

TEST(Recipe, PresetsArePinned) {
  auto q4 = resolve_recipe("q4_g32");
  ASSERT_TRUE(q4.ok());
  EXPECT_EQ(q4->linear.name(), "w4");
  EXPECT_EQ(q4->linear.format.group_size, 32);
  EXPECT_EQ(q4->linear.format.scale_type, ScaleType::kF16);
  EXPECT_EQ(q4->embedding.name(), "w4");
  auto a8 = resolve_recipe("a8w4_g256");
  ASSERT_TRUE(a8.ok());
  EXPECT_EQ(a8->linear.name(), "a8w4");
  EXPECT_EQ(a8->linear.format.group_size, 256);
  EXPECT_EQ(a8->embedding.format.group_size, 32);
  EXPECT_EQ(resolve_recipe("w4_g128_asym")->linear.name(), "w4_asym");
  EXPECT_EQ(resolve_recipe("q8_g32")->lm_head.name(), "w8");
}

TEST(Recipe, JsonWithOverrides) {
  auto r = parse_recipe_json(R"({"embedding":{"bits":4,"group_size":32},
      "linear":{"scheme":"a8w4","group_size":256},
      "lm_head":{"scheme":"a8w8","group_size":32,"scale_type":"bf16"},
      "overrides":{"layers.0.*":{"scheme":"w8","group_size":64},"layers.*.mlp.down_proj":{"scheme":"f32"}}})",
                             "r.json");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->scheme_for("embed_tokens").name(), "w4");
  EXPECT_EQ(r->scheme_for("lm_head").format.scale_type, ScaleType::kBF16);
  EXPECT_EQ(r->scheme_for("layers.0.self_attn.q_proj").name(), "w8");
  EXPECT_EQ(r->scheme_for("layers.0.self_attn.q_proj").format.group_size, 64);
  EXPECT_EQ(r->scheme_for("layers.3.mlp.down_proj").name(), "f32");
  EXPECT_EQ(r->scheme_for("layers.3.mlp.up_proj").name(), "a8w4");
  // The JSON form parses back to the same recipe.
  auto again = parse_recipe_json(r->to_json().dump(), "again");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->to_json(), r->to_json());
}

TEST(Recipe, Shorthand) {
  auto r = resolve_recipe("linear=a8w4:256,embedding=w4:32,lm_head=a8w8:32:f32");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->linear.name(), "a8w4");
  EXPECT_EQ(r->lm_head.format.scale_type, ScaleType::kF32);
}

TEST(Recipe, ErrorsNameTheFieldAndTheAllowedValues) {
  struct Case {
    const char* json;
    const char* expected;
  };
  const Case cases[] = {
      {R"({"linear":{"scheme":"a4w4"}})", "a8w4"},
      {R"({"linear":{"scheme":"w4","group":32}})", "unknown field 'group'"},
      {R"({"linear":{"scheme":"w4","group_size":"32"}})", "group_size"},
      {R"({"linear":{"scheme":"w4","group_size":-1}})", "-1"},
      {R"({"embedding":{"bits":3}})", "expected 4 or 8"},
      {R"({"linear":{"scheme":"w4","scale_type":"f8"}})", "f8"},
      {R"({"lienar":{"scheme":"w4"}})", "unknown field 'lienar'"},
      {R"([1,2])", "JSON object"},
      {R"({"linear":)", "not valid JSON"},
  };
  for (const auto& c : cases) {
    auto r = parse_recipe_json(c.json, "bad.json");
    ASSERT_FALSE(r.ok()) << c.json;
    EXPECT_NE(r.error().message.find(c.expected), std::string::npos) << c.json << " -> " << r.error().message;
  }
  auto unknown = resolve_recipe("q3_g7");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("q4_g32"), std::string::npos);
  EXPECT_FALSE(resolve_recipe("linear=w4:abc").ok());
  EXPECT_FALSE(resolve_recipe("head=w4:32").ok());
}

TEST(Recipe, Glob) {
  EXPECT_TRUE(glob_match("layers.*.mlp.*", "layers.12.mlp.up_proj"));
  EXPECT_TRUE(glob_match("layers.?.self_attn.q_proj", "layers.3.self_attn.q_proj"));
  EXPECT_FALSE(glob_match("layers.?.self_attn.q_proj", "layers.13.self_attn.q_proj"));
  EXPECT_FALSE(glob_match("lm_head", "lm_head2"));
  EXPECT_TRUE(glob_match("*", ""));
}

}  // namespace
}  // namespace nibble
