// llama2.c legacy checkpoints: a header of 7 int32 (dim, hidden_dim, n_layers, n_heads,
// n_kv_heads, vocab_size, seq_len) followed by float32 tensors in a fixed order. A
// negative vocab_size means a separate classifier is stored after the RoPE tables.
#pragma once

#include <span>
#include <string>

#include "core/status.h"
#include "model/model.h"

namespace nibble {

// Parses a whole checkpoint held in memory (`source` names it in messages). The
// tokenizer is not opened here; load_llama2c_model() does that.
Result<Model> parse_llama2c_checkpoint(std::span<const std::byte> bytes, const std::string& source);

// Loads `path` and its tokenizer: options.tokenizer_path, else tokenizer.bin or
// tok<vocab_size>.bin next to the checkpoint.
Result<Model> load_llama2c_model(const std::string& path, const LoadOptions& options);

// Writes `model` as a llama2.c legacy checkpoint (float32; shared classifier when the
// model is tied, unless `untie` asks for an explicit copy). The model must use the
// interleaved-pair RoPE convention, as llama2.c does.
Status write_llama2c_checkpoint(const Model& model, const std::string& path, bool untie);

}  // namespace nibble
