#include "quant/recipe.h"

#include <map>

#include "core/file.h"

namespace nibble {

namespace {

TensorScheme make_scheme(WeightCodec codec, int group, ActivationMode activation,
                         ScaleType scale = ScaleType::kF16) {
  TensorScheme s;
  s.quantized = true;
  s.format = QuantFormat{codec, group, scale};
  s.activation = activation;
  return s;
}

const std::map<std::string, std::pair<WeightCodec, ActivationMode>>& scheme_table() {
  static const std::map<std::string, std::pair<WeightCodec, ActivationMode>> table = {
      {"w8", {WeightCodec::kInt8Sym, ActivationMode::kFloat}},
      {"w4", {WeightCodec::kInt4Sym, ActivationMode::kFloat}},
      {"w4_asym", {WeightCodec::kInt4Asym, ActivationMode::kFloat}},
      {"a8w8", {WeightCodec::kInt8Sym, ActivationMode::kInt8Token}},
      {"a8w4", {WeightCodec::kInt4Sym, ActivationMode::kInt8Token}},
  };
  return table;
}

Result<ScaleType> parse_scale_type(const std::string& value, const std::string& where) {
  if (value == "f16") return ScaleType::kF16;
  if (value == "bf16") return ScaleType::kBF16;
  if (value == "f32") return ScaleType::kF32;
  return make_error("{}: scale_type '{}' is not one of f16, bf16, f32", where, value);
}

Result<TensorScheme> scheme_by_name(const std::string& name, int group, ScaleType scale,
                                    const std::string& where) {
  if (name == "f32") return TensorScheme{};
  auto it = scheme_table().find(name);
  if (it == scheme_table().end())
    return make_error("{}: scheme '{}' is not one of f32, w8, w4, w4_asym, a8w8, a8w4", where, name);
  if (group < 0 || group > 65536)
    return make_error("{}: group_size must be 0 (per channel) or in [1, 65536], got {}", where, group);
  return make_scheme(it->second.first, group, it->second.second, scale);
}

Result<TensorScheme> parse_spec(const nlohmann::json& spec, const std::string& where, bool embedding) {
  if (!spec.is_object()) return make_error("{}: expected an object, got {}", where, spec.dump());
  const char* allowed = embedding ? "scheme, bits, asym, group_size, scale_type" : "scheme, group_size, scale_type";
  for (const auto& [key, value] : spec.items()) {
    const bool known = key == "scheme" || key == "group_size" || key == "scale_type" ||
                       (embedding && (key == "bits" || key == "asym"));
    if (!known) return make_error("{}: unknown field '{}'; allowed: {}", where, key, allowed);
  }
  int group = 32;
  if (spec.contains("group_size")) {
    if (!spec["group_size"].is_number_integer())
      return make_error("{}.group_size: expected an integer, got {}", where, spec["group_size"].dump());
    group = spec["group_size"].get<int>();
  }
  ScaleType scale = ScaleType::kF16;
  if (spec.contains("scale_type")) {
    if (!spec["scale_type"].is_string())
      return make_error("{}.scale_type: expected a string (f16, bf16, f32), got {}", where, spec["scale_type"].dump());
    NIBBLE_ASSIGN_OR_RETURN(scale, parse_scale_type(spec["scale_type"].get<std::string>(), where + ".scale_type"));
  }
  if (spec.contains("scheme")) {
    if (!spec["scheme"].is_string())
      return make_error("{}.scheme: expected a string, got {}", where, spec["scheme"].dump());
    if (spec.contains("bits")) return make_error("{}: give either 'scheme' or 'bits', not both", where);
    return scheme_by_name(spec["scheme"].get<std::string>(), group, scale, where + ".scheme");
  }
  if (!embedding || !spec.contains("bits")) return make_error("{}: missing field 'scheme'", where);
  if (!spec["bits"].is_number_integer() || (spec["bits"] != 4 && spec["bits"] != 8))
    return make_error("{}.bits: expected 4 or 8, got {}", where, spec["bits"].dump());
  bool asym = false;
  if (spec.contains("asym")) {
    if (!spec["asym"].is_boolean()) return make_error("{}.asym: expected true or false, got {}", where, spec["asym"].dump());
    asym = spec["asym"].get<bool>();
  }
  if (asym && spec["bits"] == 8) return make_error("{}: 8-bit embeddings are symmetric only (asym: true given)", where);
  const std::string name = spec["bits"] == 8 ? "w8" : (asym ? "w4_asym" : "w4");
  return scheme_by_name(name, group, scale, where);
}

nlohmann::json spec_json(const TensorScheme& s) {
  if (!s.quantized) return {{"scheme", "f32"}};
  return {{"scheme", s.name()}, {"group_size", s.format.group_size},
          {"scale_type", scale_type_name(s.format.scale_type)}};
}

Recipe preset(const std::string& name) {
  Recipe r;
  r.name = name;
  if (name == "q4_g32") {  // = llama.cpp Q4_0 for every matrix (llama-quantize --pure)
    r.embedding = r.linear = r.lm_head = make_scheme(WeightCodec::kInt4Sym, 32, ActivationMode::kFloat);
  } else if (name == "q8_g32") {  // = llama.cpp Q8_0 for every matrix
    r.embedding = r.linear = r.lm_head = make_scheme(WeightCodec::kInt8Sym, 32, ActivationMode::kFloat);
  } else if (name == "a8w4_g256") {  // torchchat's mobile profile: 4-bit g32 embedding, a8w4 g256 linears
    r.embedding = make_scheme(WeightCodec::kInt4Sym, 32, ActivationMode::kFloat);
    r.linear = r.lm_head = make_scheme(WeightCodec::kInt4Sym, 256, ActivationMode::kInt8Token);
  } else if (name == "w4_g128_asym") {  // GPTQ/AWQ-style asymmetric 4-bit, group 128
    r.embedding = r.linear = r.lm_head = make_scheme(WeightCodec::kInt4Asym, 128, ActivationMode::kFloat);
  }
  return r;
}

// "part=scheme[:group[:scale]]" comma-separated.
Result<Recipe> parse_shorthand(const std::string& spec) {
  Recipe r;
  r.name = spec;
  size_t start = 0;
  while (start <= spec.size()) {
    size_t comma = spec.find(',', start);
    std::string item = spec.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    size_t eq = item.find('=');
    if (eq == std::string::npos)
      return make_error("recipe '{}': item '{}' is not part=scheme[:group[:scale_type]]", spec, item);
    std::string part = item.substr(0, eq);
    std::vector<std::string> fields;
    size_t f = eq + 1;
    while (true) {
      size_t colon = item.find(':', f);
      fields.push_back(item.substr(f, colon == std::string::npos ? std::string::npos : colon - f));
      if (colon == std::string::npos) break;
      f = colon + 1;
    }
    int group = 32;
    if (fields.size() > 1) {
      try {
        size_t used = 0;
        group = std::stoi(fields[1], &used);
        if (used != fields[1].size()) throw std::invalid_argument("trailing");
      } catch (const std::exception&) {
        return make_error("recipe '{}': group size '{}' of {} is not an integer", spec, fields[1], part);
      }
    }
    ScaleType scale = ScaleType::kF16;
    if (fields.size() > 2) {
      NIBBLE_ASSIGN_OR_RETURN(scale, parse_scale_type(fields[2], "recipe " + part));
    }
    if (fields.size() > 3) return make_error("recipe '{}': too many ':' fields in '{}'", spec, item);
    NIBBLE_ASSIGN_OR_RETURN(TensorScheme scheme, scheme_by_name(fields[0], group, scale, "recipe " + part));
    if (part == "linear") r.linear = scheme;
    else if (part == "embedding") r.embedding = scheme;
    else if (part == "lm_head") r.lm_head = scheme;
    else return make_error("recipe '{}': part '{}' is not one of linear, embedding, lm_head", spec, part);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return r;
}

}  // namespace

std::string TensorScheme::name() const {
  if (!quantized) return "f32";
  for (const auto& [name, entry] : scheme_table())
    if (entry.first == format.codec && entry.second == activation) return name;
  return "unknown";
}

TensorScheme Recipe::scheme_for(const std::string& canonical_name) const {
  for (const auto& [pattern, scheme] : overrides)
    if (glob_match(pattern, canonical_name)) return scheme;
  if (canonical_name == "embed_tokens") return embedding;
  if (canonical_name == "lm_head") return lm_head;
  return linear;
}

nlohmann::json Recipe::to_json() const {
  nlohmann::json out = {{"embedding", spec_json(embedding)}, {"linear", spec_json(linear)},
                        {"lm_head", spec_json(lm_head)}};
  nlohmann::json over = nlohmann::json::object();
  for (const auto& [pattern, scheme] : overrides) over[pattern] = spec_json(scheme);
  if (!overrides.empty()) out["overrides"] = over;
  return out;
}

Result<Recipe> parse_recipe_json(std::string_view text, const std::string& source) {
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    return make_error("{}: not valid JSON: {}", source, e.what());
  }
  if (!json.is_object()) return make_error("{}: a recipe must be a JSON object", source);
  Recipe r;
  r.name = source;
  for (const auto& [key, value] : json.items()) {
    if (key == "embedding") {
      NIBBLE_ASSIGN_OR_RETURN(r.embedding, parse_spec(value, source + ": embedding", true));
    } else if (key == "linear") {
      NIBBLE_ASSIGN_OR_RETURN(r.linear, parse_spec(value, source + ": linear", false));
    } else if (key == "lm_head") {
      NIBBLE_ASSIGN_OR_RETURN(r.lm_head, parse_spec(value, source + ": lm_head", false));
    } else if (key == "overrides") {
      if (!value.is_object()) return make_error("{}: overrides must be an object of glob: spec", source);
      for (const auto& [pattern, spec] : value.items()) {
        NIBBLE_ASSIGN_OR_RETURN(TensorScheme s, parse_spec(spec, source + ": overrides." + pattern,
                                                           pattern == "embed_tokens"));
        r.overrides.emplace_back(pattern, s);
      }
    } else {
      return make_error("{}: unknown field '{}'; allowed: embedding, linear, lm_head, overrides", source, key);
    }
  }
  return r;
}

std::vector<std::string> preset_names() { return {"q4_g32", "q8_g32", "a8w4_g256", "w4_g128_asym"}; }

Result<Recipe> resolve_recipe(const std::string& spec) {
  for (const auto& name : preset_names())
    if (spec == name) return preset(name);
  if (spec.find('=') != std::string::npos) return parse_shorthand(spec);
  if (file_exists(spec)) {
    NIBBLE_ASSIGN_OR_RETURN(std::string text, read_text_file(spec));
    return parse_recipe_json(text, spec);
  }
  return make_error("recipe '{}' is not a preset (q4_g32, q8_g32, a8w4_g256, w4_g128_asym), a "
                    "part=scheme[:group] shorthand, or an existing JSON file", spec);
}

bool glob_match(std::string_view pattern, std::string_view text) {
  size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace nibble
