// libFuzzer target: arbitrary bytes as a recipe, both as JSON and as a CLI shorthand
// ("linear=a8w4:256,..."). A recipe that parses must serialize to JSON that parses back to
// the same recipe, and must answer scheme_for() on every canonical tensor name.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "quant/recipe.h"

namespace {

void check(const nibble::Recipe& recipe) {
  const std::string json = recipe.to_json().dump();
  auto again = nibble::parse_recipe_json(json, "fuzz round trip");
  if (!again.ok() || again->to_json().dump() != json) __builtin_trap();  // lossy serialization
  for (const char* name : {"embed_tokens", "lm_head", "layers.0.self_attn.q_proj", "layers.12.mlp.down_proj",
                           "layers.3.self_attn.o_proj"})
    (void)recipe.scheme_for(name);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  if (auto recipe = nibble::parse_recipe_json(text, "fuzz.json"); recipe.ok()) check(*recipe);
  // resolve_recipe also opens JSON files by name; only shorthands reach it here.
  if (text.find('=') != std::string::npos)
    if (auto recipe = nibble::resolve_recipe(text); recipe.ok()) check(*recipe);
  return 0;
}
