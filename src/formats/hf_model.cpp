#include "formats/hf_model.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "core/file.h"
#include "formats/hf_config.h"
#include "formats/hf_layout.h"
#include "formats/safetensors.h"
#include "formats/strict_json.h"

namespace nibble {

using nlohmann::json;

namespace {

constexpr const char* kSingleFileName = "model.safetensors";
constexpr const char* kIndexFileName = "model.safetensors.index.json";

std::string join_path(const std::string& dir, const std::string& name) {
  return dir.empty() || dir.back() == '/' ? dir + name : dir + "/" + name;
}

// Shard names come from a file we do not trust: only a plain name inside the
// directory is allowed, so an index cannot make us open "../../etc/passwd".
bool is_plain_file_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." &&
         name.find_first_of(std::string("/\\\0", 3)) == std::string::npos;
}

// All weight tensors of a checkpoint, across its shard files.
struct Checkpoint {
  std::vector<SafetensorsFile> shards;  // in file-name order
  struct Located {
    const SafetensorView* view;
    const std::string* path;  // the shard's path, for messages
  };
  std::unordered_map<std::string, Located> tensors;
};

// Reads the index: tensor name -> shard file name, every shard name checked.
Result<std::map<std::string, std::string>> read_index(const std::string& path) {
  NIBBLE_ASSIGN_OR_RETURN(std::string text, read_text_file(path));
  NIBBLE_ASSIGN_OR_RETURN(json root, parse_strict_json(text, path));
  auto weight_map = root.is_object() ? root.find("weight_map") : root.end();
  if (!root.is_object() || weight_map == root.end() || !weight_map->is_object())
    return make_error("{}: expected an object with a \"weight_map\" object of tensor name -> "
                      "file name, found {}",
                      path, json_excerpt(root));
  std::map<std::string, std::string> result;
  for (auto it = weight_map->begin(); it != weight_map->end(); ++it) {
    if (!it->is_string() || !is_plain_file_name(it->get<std::string>()))
      return make_error("{}: weight_map entry '{}' must name a file inside the directory "
                        "(no '/' or '..'), found {}",
                        path, it.key(), json_excerpt(*it));
    result.emplace(it.key(), it->get<std::string>());
  }
  if (result.empty()) return make_error("{}: weight_map lists no tensors", path);
  return result;
}

// Checks that the index and the shards agree tensor by tensor.
Status check_index(const Checkpoint& checkpoint, const std::map<std::string, std::string>& index,
                   const std::string& dir, const std::string& index_path) {
  for (const auto& [name, file] : index) {
    const std::string path = join_path(dir, file);
    auto it = checkpoint.tensors.find(name);
    if (it == checkpoint.tensors.end() || *it->second.path != path)
      return make_error("{}: lists tensor '{}' in {} but that file has no such tensor",
                        index_path, name, file);
  }
  return {};
}

// Opens every shard once and builds the name -> tensor map. With an index, each shard
// tensor must be listed there under its own shard; that also rejects a tensor stored
// in two shards.
Result<Checkpoint> open_checkpoint(const std::string& dir) {
  const std::string single = join_path(dir, kSingleFileName);
  const std::string index_path = join_path(dir, kIndexFileName);
  std::optional<std::map<std::string, std::string>> index;
  std::vector<std::string> files;
  if (file_exists(single)) {
    files.push_back(kSingleFileName);
  } else if (file_exists(index_path)) {
    NIBBLE_ASSIGN_OR_RETURN(index, read_index(index_path));
    std::set<std::string> unique;
    for (const auto& entry : *index) unique.insert(entry.second);
    files.assign(unique.begin(), unique.end());
  } else {
    return make_error("{}: no weights found: expected {} or {}", dir, kSingleFileName,
                      kIndexFileName);
  }

  Checkpoint checkpoint;
  for (const std::string& file : files) {
    NIBBLE_ASSIGN_OR_RETURN(SafetensorsFile shard, open_safetensors(join_path(dir, file)));
    checkpoint.shards.push_back(std::move(shard));
  }
  // Views are taken only now: the shards vector no longer reallocates.
  for (const SafetensorsFile& shard : checkpoint.shards) {
    for (const SafetensorView& view : shard.header.tensors) {
      if (index) {
        auto listed = index->find(view.name);
        if (listed == index->end())
          return make_error("{}: tensor '{}' is not listed in {}", shard.file.path(), view.name,
                            kIndexFileName);
        if (join_path(dir, listed->second) != shard.file.path())
          return make_error("{}: tensor '{}' is listed in {} under {}, not this file",
                            shard.file.path(), view.name, kIndexFileName, listed->second);
      }
      if (!checkpoint.tensors.emplace(view.name, Checkpoint::Located{&view, &shard.file.path()})
               .second)
        return make_error("{}: tensor '{}' is stored twice", shard.file.path(), view.name);
    }
  }
  if (index) NIBBLE_CHECK_OK(check_index(checkpoint, *index, dir, index_path));
  return checkpoint;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

// Visitor for for_each_hf_tensor: moves each tensor, shape-checked and widened to
// float32, into ModelWeights, and remembers which tensors were used.
class TensorTaker {
 public:
  TensorTaker(const Checkpoint& checkpoint, const std::string& dir)
      : checkpoint_(checkpoint), dir_(dir) {}

  Status matrix(const std::string& name, DenseMatrix& out, int rows, int cols) {
    NIBBLE_ASSIGN_OR_RETURN(out.data, take(name, {rows, cols}));
    out.rows = rows;
    out.cols = cols;
    return {};
  }

  Status vector(const std::string& name, std::vector<float>& out, int size) {
    NIBBLE_ASSIGN_OR_RETURN(out, take(name, {size}));
    return {};
  }

  bool used(const std::string& name) const { return used_.count(name) != 0; }

 private:
  Result<std::vector<float>> take(const std::string& name, std::vector<int64_t> shape) {
    auto it = checkpoint_.tensors.find(name);
    if (it == checkpoint_.tensors.end())
      return make_error("{}: tensor '{}' is missing (the config needs shape {})", dir_, name,
                        shape_text(shape));
    const SafetensorView& view = *it->second.view;
    if (view.shape != shape)
      return make_error("{}: tensor '{}' has shape {} but config.json needs {}",
                        *it->second.path, name, shape_text(view.shape), shape_text(shape));
    used_.insert(name);
    return safetensor_to_f32(view);
  }

  const Checkpoint& checkpoint_;
  const std::string& dir_;
  std::unordered_set<std::string> used_;
};

// Tensors that may be stored but carry nothing nibble needs (see hf_model.h).
bool is_ignorable(const std::string& name, const ModelConfig& config) {
  static const std::string kInvFreqSuffix = ".self_attn.rotary_emb.inv_freq";
  if (name.size() > kInvFreqSuffix.size() && name.rfind("model.layers.", 0) == 0 &&
      name.compare(name.size() - kInvFreqSuffix.size(), kInvFreqSuffix.size(),
                   kInvFreqSuffix) == 0)
    return true;
  return config.tied_embeddings && name == kHfLmHeadName;
}

Result<ModelWeights> read_weights(const Checkpoint& checkpoint, const ModelConfig& config,
                                  const std::string& dir) {
  ModelWeights weights;
  weights.layers.resize(static_cast<size_t>(config.n_layers));
  TensorTaker taker(checkpoint, dir);
  NIBBLE_CHECK_OK(for_each_hf_tensor(config, weights, taker));
  if (!config.tied_embeddings)
    NIBBLE_CHECK_OK(taker.matrix(kHfLmHeadName, weights.classifier.weight, config.vocab_size,
                                 config.dim));
  for (const SafetensorsFile& shard : checkpoint.shards)
    for (const SafetensorView& view : shard.header.tensors)
      if (!taker.used(view.name) && !is_ignorable(view.name, config))
        return make_error("{}: unexpected tensor '{}' (shape {}): nibble does not implement the "
                          "weights it belongs to, and ignoring it would change the results",
                          shard.file.path(), view.name, shape_text(view.shape));
  return weights;
}

Result<std::unique_ptr<Tokenizer>> find_tokenizer(const std::string& dir, const ModelConfig& config,
                                                  const LoadOptions& options) {
  if (!options.tokenizer_path.empty())
    return open_tokenizer(options.tokenizer_path, config.vocab_size);
  const std::string path = join_path(dir, "tokenizer.model");
  if (file_exists(path)) return open_tokenizer(path, config.vocab_size);
  if (options.require_tokenizer)
    return make_error("{}: no tokenizer found (looked for {}); use --tokenizer FILE to name one",
                      dir, path);
  return std::unique_ptr<Tokenizer>();
}

}  // namespace

Result<Model> load_hf_model(const std::string& dir, const LoadOptions& options) {
  Model model;
  model.path = dir;
  model.format = "hf-safetensors";
  NIBBLE_ASSIGN_OR_RETURN(model.config, load_hf_config(join_path(dir, "config.json")));
  NIBBLE_ASSIGN_OR_RETURN(Checkpoint checkpoint, open_checkpoint(dir));
  NIBBLE_ASSIGN_OR_RETURN(model.weights, read_weights(checkpoint, model.config, dir));
  for (const SafetensorsFile& shard : checkpoint.shards) {
    model.file_bytes += shard.file.size();
    for (const SafetensorView& view : shard.header.tensors)
      model.tensors.push_back(TensorInfo{view.name, view.shape,
                                         safetensors_dtype_name(view.dtype), view.data.size()});
  }
  NIBBLE_ASSIGN_OR_RETURN(model.tokenizer, find_tokenizer(dir, model.config, options));
  return model;
}

}  // namespace nibble
