// Recipes: which scheme each tensor of a model gets. JSON in the spirit of torchchat's
// quantization profiles, CLI shorthands, and named presets:
//
//   {"embedding": {"bits": 4, "group_size": 32},
//    "linear":    {"scheme": "a8w4", "group_size": 256},
//    "lm_head":   {"scheme": "a8w8", "group_size": 32},
//    "overrides": {"layers.0.*": {"scheme": "w8", "group_size": 32}}}
//
// Schemes: f32 (keep float), w8, w4, w4_asym (weight-only), a8w8, a8w4 (dynamic per-token
// int8 activations). Each spec may also set "scale_type" (f32, f16, bf16; default f16).
// Embedding specs take "bits" (4 or 8) with "asym" (bool), or a "scheme" like the others.
// `group_size` 0 means one group per output channel. Overrides match canonical tensor
// names with '*' and '?' globs (first match wins): embed_tokens, lm_head,
// layers.N.self_attn.{q,k,v,o}_proj, layers.N.mlp.{gate,up,down}_proj.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "quant/scheme.h"

namespace nibble {

struct TensorScheme {
  bool quantized = false;  // false: the tensor stays float32
  QuantFormat format;
  ActivationMode activation = ActivationMode::kFloat;

  // "f32", "w8", "w4", "w4_asym", "a8w8", "a8w4".
  std::string name() const;
};

struct Recipe {
  std::string name;  // preset name, file name or "custom"
  TensorScheme embedding;
  TensorScheme linear;
  TensorScheme lm_head;
  std::vector<std::pair<std::string, TensorScheme>> overrides;

  // The scheme for a canonical tensor name (embedding/lm_head/linear, then overrides).
  TensorScheme scheme_for(const std::string& canonical_name) const;
  nlohmann::json to_json() const;
};

// Parses recipe JSON; errors name the field, the value found and the allowed values.
Result<Recipe> parse_recipe_json(std::string_view text, const std::string& source);

// A preset name (q4_g32, q8_g32, a8w4_g256, w4_g128_asym), a JSON file, or a shorthand
// "linear=a8w4:256,embedding=w4:32,lm_head=a8w8:32[:f32]" (part=scheme[:group[:scale]]).
Result<Recipe> resolve_recipe(const std::string& spec);

std::vector<std::string> preset_names();

// '*' matches any run of characters, '?' one character.
bool glob_match(std::string_view pattern, std::string_view text);

}  // namespace nibble
