#include "formats/hf_config.h"

#include <cmath>
#include <limits>
#include <optional>

#include <nlohmann/json.hpp>

#include "core/file.h"
#include "formats/strict_json.h"

namespace nibble {

using nlohmann::json;

namespace {

// Typed access to the top-level keys of one config.json; every type error names the
// key, the expected type and the value found.
class ConfigReader {
 public:
  ConfigReader(const json& root, const std::string& source) : root_(root), source_(source) {}

  // The value of `key`, or null when absent or JSON null (HF treats both as "unset").
  const json* find(const char* key) const {
    auto it = root_.find(key);
    return it == root_.end() || it->is_null() ? nullptr : &*it;
  }

  Error wrong_type(const char* key, const char* expected, const json& found) const {
    return make_error("{}: config key '{}' must be {}, found {}", source_, key, expected,
                      json_excerpt(found));
  }

  Result<std::optional<int>> optional_int(const char* key) const {
    const json* value = find(key);
    if (!value) return std::optional<int>();
    NIBBLE_ASSIGN_OR_RETURN(int result, as_int(key, *value));
    return std::optional<int>(result);
  }

  Result<int> required_int(const char* key) const {
    const json* value = find(key);
    if (!value) return make_error("{}: config key '{}' is missing", source_, key);
    return as_int(key, *value);
  }

  Result<int> as_int(const char* key, const json& value) const {
    // Accept only JSON integers (288, not 288.0 or "288"), within int range; validate()
    // applies the real ranges afterwards.
    if (!value.is_number_integer()) return wrong_type(key, "an integer", value);
    bool in_range = value.is_number_unsigned()
                        ? value.get<uint64_t>() <= std::numeric_limits<int>::max()
                        : value.get<int64_t>() >= std::numeric_limits<int>::min() &&
                              value.get<int64_t>() <= std::numeric_limits<int>::max();
    if (!in_range)
      return make_error("{}: config key '{}' = {} is out of range", source_, key,
                        json_excerpt(value));
    return static_cast<int>(value.get<int64_t>());
  }

  Result<float> number(const char* key, float fallback) const {
    const json* value = find(key);
    if (!value) return fallback;
    return as_float(key, *value);
  }

  Result<float> as_float(const char* key, const json& value) const {
    if (!value.is_number()) return wrong_type(key, "a number", value);
    double d = value.get<double>();
    // Checked before narrowing: casting an out-of-range double to float is undefined.
    if (!(std::fabs(d) <= std::numeric_limits<float>::max()))
      return make_error("{}: config key '{}' = {} does not fit in a float", source_, key,
                        json_excerpt(value));
    return static_cast<float>(d);
  }

  Result<bool> boolean(const char* key, bool fallback) const {
    const json* value = find(key);
    if (!value) return fallback;
    if (!value->is_boolean()) return wrong_type(key, "true or false", *value);
    return value->get<bool>();
  }

  Result<std::optional<std::string>> string(const char* key) const {
    const json* value = find(key);
    if (!value) return std::optional<std::string>();
    if (!value->is_string()) return wrong_type(key, "a string", *value);
    return std::optional<std::string>(value->get<std::string>());
  }

  const std::string& source() const { return source_; }

 private:
  const json& root_;
  const std::string& source_;
};

struct ArchitectureInfo {
  const char* class_name;
  const char* model_type;
  Architecture architecture;
  int default_max_positions;  // HF's default max_position_embeddings for the class
};

constexpr ArchitectureInfo kArchitectures[] = {
    {"LlamaForCausalLM", "llama", Architecture::kLlama, 2048},
    {"Qwen2ForCausalLM", "qwen2", Architecture::kQwen2, 32768},
};

Result<const ArchitectureInfo*> read_architecture(const ConfigReader& reader) {
  const json* value = reader.find("architectures");
  if (!value)
    return make_error(
        "{}: config key 'architectures' is missing (supported: [\"LlamaForCausalLM\"], "
        "[\"Qwen2ForCausalLM\"])",
        reader.source());
  if (value->is_array() && value->size() == 1 && (*value)[0].is_string()) {
    const std::string& name = (*value)[0].get_ref<const std::string&>();
    for (const ArchitectureInfo& info : kArchitectures)
      if (name == info.class_name) return &info;
  }
  return make_error(
      "{}: config key 'architectures' = {} is not supported (supported: "
      "[\"LlamaForCausalLM\"], [\"Qwen2ForCausalLM\"])",
      reader.source(), json_excerpt(*value));
}

// rope_scaling (transformers < 5) and rope_parameters (transformers >= 5) describe the
// RoPE variant. nibble implements plain RoPE only: rope_type "default" (or absent).
Status check_rope_type(const ConfigReader& reader, const char* key, const json& value) {
  if (!value.is_object()) return reader.wrong_type(key, "an object or null", value);
  for (const char* type_key : {"rope_type", "type"}) {
    auto it = value.find(type_key);
    if (it != value.end() && !(it->is_string() && it->get<std::string>() == "default"))
      return make_error(
          "{}: config key '{}' = {} is not supported: nibble implements plain RoPE only "
          "(rope_type \"default\"), not scaled or partial variants",
          reader.source(), key, json_excerpt(value));
  }
  auto factor = value.find("partial_rotary_factor");
  if (factor != value.end() && !(factor->is_number() && factor->get<double>() == 1.0))
    return make_error("{}: config key '{}' = {} is not supported: partial rotary embeddings",
                      reader.source(), key, json_excerpt(value));
  return {};
}

Result<float> read_rope_theta(const ConfigReader& reader) {
  NIBBLE_ASSIGN_OR_RETURN(float theta, reader.number("rope_theta", 10000.0f));
  if (const json* scaling = reader.find("rope_scaling"))
    NIBBLE_CHECK_OK(check_rope_type(reader, "rope_scaling", *scaling));
  if (const json* params = reader.find("rope_parameters")) {
    NIBBLE_CHECK_OK(check_rope_type(reader, "rope_parameters", *params));
    auto it = params->find("rope_theta");
    if (it != params->end()) {
      NIBBLE_ASSIGN_OR_RETURN(theta, reader.as_float("rope_parameters.rope_theta", *it));
    }
  }
  return theta;
}

// Refuses keys whose values change the math in ways nibble does not implement.
Status check_unsupported(const ConfigReader& reader, Architecture arch) {
  NIBBLE_ASSIGN_OR_RETURN(auto act, reader.string("hidden_act"));
  if (act && *act != "silu")
    return make_error(
        "{}: config key 'hidden_act' = \"{}\" is not supported (nibble implements \"silu\")",
        reader.source(), *act);
  NIBBLE_ASSIGN_OR_RETURN(bool mlp_bias, reader.boolean("mlp_bias", false));
  if (mlp_bias)
    return make_error("{}: config key 'mlp_bias' = true is not supported (no MLP biases)",
                      reader.source());
  if (arch == Architecture::kLlama) {
    NIBBLE_ASSIGN_OR_RETURN(bool attention_bias, reader.boolean("attention_bias", false));
    if (attention_bias)
      return make_error(
          "{}: config key 'attention_bias' = true is not supported for Llama (q/k/v/o biases)",
          reader.source());
  }
  if (arch == Architecture::kQwen2) {
    NIBBLE_ASSIGN_OR_RETURN(bool sliding, reader.boolean("use_sliding_window", false));
    if (sliding)
      return make_error(
          "{}: config key 'use_sliding_window' = true is not supported (full attention only)",
          reader.source());
  }
  return {};
}

// bos/eos: an integer, null (keep the default) or, for eos, a list whose first id is used.
Status read_token_id(const ConfigReader& reader, const char* key, int* id) {
  const json* value = reader.find(key);
  if (!value) return {};
  const json* first = value;
  if (value->is_array()) {
    if (value->empty()) return reader.wrong_type(key, "an integer or a non-empty list", *value);
    first = &(*value)[0];
  }
  NIBBLE_ASSIGN_OR_RETURN(*id, reader.as_int(key, *first));
  return {};
}

}  // namespace

Result<ModelConfig> parse_hf_config(std::string_view json_text, const std::string& source) {
  NIBBLE_ASSIGN_OR_RETURN(json root, parse_strict_json(json_text, source));
  if (!root.is_object())
    return make_error("{}: config must be a JSON object, found {}", source, json_excerpt(root));
  ConfigReader reader(root, source);

  NIBBLE_ASSIGN_OR_RETURN(const ArchitectureInfo* arch, read_architecture(reader));
  NIBBLE_ASSIGN_OR_RETURN(auto model_type, reader.string("model_type"));
  if (model_type && *model_type != arch->model_type)
    return make_error("{}: config key 'model_type' = \"{}\" does not match architecture {} "
                      "(expected \"{}\")",
                      source, *model_type, arch->class_name, arch->model_type);
  NIBBLE_CHECK_OK(check_unsupported(reader, arch->architecture));

  ModelConfig config;
  config.architecture = arch->architecture;
  config.rope_style = RopeStyle::kHalves;
  config.qkv_bias = arch->architecture == Architecture::kQwen2;
  NIBBLE_ASSIGN_OR_RETURN(config.dim, reader.required_int("hidden_size"));
  NIBBLE_ASSIGN_OR_RETURN(config.hidden_dim, reader.required_int("intermediate_size"));
  NIBBLE_ASSIGN_OR_RETURN(config.n_layers, reader.required_int("num_hidden_layers"));
  NIBBLE_ASSIGN_OR_RETURN(config.n_heads, reader.required_int("num_attention_heads"));
  NIBBLE_ASSIGN_OR_RETURN(config.vocab_size, reader.required_int("vocab_size"));
  NIBBLE_ASSIGN_OR_RETURN(auto kv_heads, reader.optional_int("num_key_value_heads"));
  config.n_kv_heads = kv_heads.value_or(config.n_heads);
  NIBBLE_ASSIGN_OR_RETURN(auto head_dim, reader.optional_int("head_dim"));
  if (head_dim) {
    config.head_dim = *head_dim;
  } else if (config.n_heads > 0) {  // n_heads <= 0 is reported by validate() below
    if (config.dim % config.n_heads != 0)
      return make_error("{}: hidden_size {} is not a multiple of num_attention_heads {} and "
                        "no head_dim is given",
                        source, config.dim, config.n_heads);
    config.head_dim = config.dim / config.n_heads;
  }
  NIBBLE_ASSIGN_OR_RETURN(auto max_positions, reader.optional_int("max_position_embeddings"));
  config.max_seq_len = max_positions.value_or(arch->default_max_positions);
  NIBBLE_ASSIGN_OR_RETURN(config.rms_norm_eps, reader.number("rms_norm_eps", 1e-6f));
  NIBBLE_ASSIGN_OR_RETURN(config.rope_theta, read_rope_theta(reader));
  NIBBLE_ASSIGN_OR_RETURN(config.tied_embeddings, reader.boolean("tie_word_embeddings", false));
  config.bos_id = 1;
  config.eos_id = 2;
  NIBBLE_CHECK_OK(read_token_id(reader, "bos_token_id", &config.bos_id));
  NIBBLE_CHECK_OK(read_token_id(reader, "eos_token_id", &config.eos_id));

  NIBBLE_CHECK_OK(config.validate(source));
  return config;
}

Result<ModelConfig> load_hf_config(const std::string& path) {
  NIBBLE_ASSIGN_OR_RETURN(std::string text, read_text_file(path));
  return parse_hf_config(text, path);
}

}  // namespace nibble
