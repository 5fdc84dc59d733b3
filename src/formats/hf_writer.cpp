// write_hf_model (declared in hf_model.h): a Model back to an HF checkpoint directory.
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/file.h"
#include "formats/hf_layout.h"
#include "formats/hf_model.h"
#include "formats/safetensors.h"

namespace nibble {

namespace {

// The float's shortest decimal form, as a double: 1e-6f is written "1e-06", not
// "9.999999974752427e-07", and still reads back as the same float.
double shortest_decimal(float value) {
  return std::strtod(fmt::format("{}", value).c_str(), nullptr);
}

nlohmann::ordered_json config_json(const ModelConfig& c, bool tied) {
  bool qwen2 = c.architecture == Architecture::kQwen2;
  nlohmann::ordered_json j;
  j["architectures"] = {qwen2 ? "Qwen2ForCausalLM" : "LlamaForCausalLM"};
  j["model_type"] = qwen2 ? "qwen2" : "llama";
  j["hidden_size"] = c.dim;
  j["intermediate_size"] = c.hidden_dim;
  j["num_hidden_layers"] = c.n_layers;
  j["num_attention_heads"] = c.n_heads;
  j["num_key_value_heads"] = c.n_kv_heads;
  j["head_dim"] = c.head_dim;
  j["vocab_size"] = c.vocab_size;
  j["max_position_embeddings"] = c.max_seq_len;
  j["rms_norm_eps"] = shortest_decimal(c.rms_norm_eps);
  j["rope_theta"] = shortest_decimal(c.rope_theta);
  j["tie_word_embeddings"] = tied;
  j["hidden_act"] = "silu";
  j["torch_dtype"] = "float32";
  j["bos_token_id"] = c.bos_id;
  j["eos_token_id"] = c.eos_id;
  // Qwen2 always has q/k/v biases (HF ignores this key for it); Llama has none.
  j["attention_bias"] = qwen2;
  return j;
}

// HF's converter permutes q/k rows so that rotating halves (x[i], x[i + d/2]) equals
// llama2.c's rotation of interleaved pairs (x[2i], x[2i+1]): within each head, output
// row j*(d/2) + i is input row 2i + j. `cols` is 1 for a bias.
std::vector<float> interleaved_to_halves(std::span<const float> in, int heads, int head_dim,
                                         int cols) {
  std::vector<float> out(in.size());
  const size_t row_bytes = static_cast<size_t>(cols) * sizeof(float);
  const int half = head_dim / 2;
  for (int h = 0; h < heads; ++h)
    for (int i = 0; i < half; ++i)
      for (int j = 0; j < 2; ++j) {
        size_t from = static_cast<size_t>(h * head_dim + 2 * i + j) * cols;
        size_t to = static_cast<size_t>(h * head_dim + j * half + i) * cols;
        std::memcpy(out.data() + to, in.data() + from, row_bytes);
      }
  return out;
}

std::span<const std::byte> as_bytes(std::span<const float> data) {
  return std::as_bytes(data);
}

// Visitor for for_each_hf_tensor: checks each tensor against the config and lists it
// for the safetensors writer, permuting q/k to halves order when needed.
class TensorLister {
 public:
  explicit TensorLister(const ModelConfig& config) : config_(config) {}

  Status matrix(const std::string& name, const DenseMatrix& m, int rows, int cols) {
    if (m.rows != rows || m.cols != cols || m.data.size() != static_cast<size_t>(rows) * cols)
      return make_error("write_hf_model: tensor '{}' is {}x{} with {} values but the config "
                        "needs {}x{}",
                        name, m.rows, m.cols, m.data.size(), rows, cols);
    return add(name, {rows, cols}, m.data.span(), cols);
  }

  Status vector(const std::string& name, const std::vector<float>& v, int size) {
    if (v.size() != static_cast<size_t>(size))
      return make_error("write_hf_model: tensor '{}' has {} values but the config needs {}", name,
                        v.size(), size);
    return add(name, {size}, v, 1);
  }

  const std::vector<SafetensorsWriteEntry>& entries() const { return entries_; }

 private:
  Status add(const std::string& name, std::vector<int64_t> shape, std::span<const float> data,
             int cols) {
    std::span<const float> source = data;
    int heads = rope_heads(name);
    if (config_.rope_style == RopeStyle::kInterleavedPairs && heads > 0) {
      permuted_.push_back(interleaved_to_halves(data, heads, config_.head_dim, cols));
      source = permuted_.back();  // a deque keeps earlier elements in place
    }
    entries_.push_back({name, SafetensorsDtype::kF32, std::move(shape), as_bytes(source)});
    return {};
  }

  // Heads of a tensor whose rows RoPE rotates (q/k weights and biases), else 0.
  int rope_heads(const std::string& name) const {
    auto ends_with = [&](const char* suffix) {
      std::string s(suffix);
      return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
    };
    if (ends_with("q_proj.weight") || ends_with("q_proj.bias")) return config_.n_heads;
    if (ends_with("k_proj.weight") || ends_with("k_proj.bias")) return config_.n_kv_heads;
    return 0;
  }

  const ModelConfig& config_;
  std::vector<SafetensorsWriteEntry> entries_;
  std::deque<std::vector<float>> permuted_;
};

}  // namespace

Status write_hf_model(const Model& model, const std::string& dir, bool untie) {
  const ModelConfig& config = model.config;
  NIBBLE_CHECK_OK(config.validate("write_hf_model"));
  if (config.architecture == Architecture::kLlama && config.qkv_bias)
    return make_error("write_hf_model: a Llama model with q/k/v biases has no HF equivalent "
                      "(LlamaForCausalLM's attention_bias also adds an o_proj bias)");
  if (model.weights.layers.size() != static_cast<size_t>(config.n_layers))
    return make_error("write_hf_model: the model has {} layers but the config says {}",
                      model.weights.layers.size(), config.n_layers);

  TensorLister lister(config);
  NIBBLE_CHECK_OK(for_each_hf_tensor(config, model.weights, lister));
  // An untied model stores its classifier; a tied one does too when asked to untie,
  // as a copy of the embedding (classifier_matrix() is the embedding then).
  bool tied = config.tied_embeddings && !untie;
  if (!tied) {
    const DenseMatrix& classifier =
        config.tied_embeddings ? model.weights.token_embedding : model.weights.classifier_matrix();
    NIBBLE_CHECK_OK(lister.matrix(kHfLmHeadName, classifier, config.vocab_size, config.dim));
  }
  NIBBLE_ASSIGN_OR_RETURN(std::vector<std::byte> file, encode_safetensors(lister.entries()));

  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return make_error("{}: cannot create directory: {}", dir, ec.message());
  // Weights first: config.json is what makes the directory look like a checkpoint.
  NIBBLE_CHECK_OK(write_file_atomic(dir + "/model.safetensors", file));
  std::string config_text = config_json(config, tied).dump(2) + "\n";
  return write_file_atomic(dir + "/config.json", std::as_bytes(std::span(config_text)));
}

}  // namespace nibble
