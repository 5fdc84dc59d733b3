// Hugging Face `config.json` -> ModelConfig, for LlamaForCausalLM and Qwen2ForCausalLM.
//
// Keys read (HF name -> ModelConfig field), with the default used when a key is absent:
//   hidden_size -> dim, intermediate_size -> hidden_dim, num_hidden_layers -> n_layers,
//   num_attention_heads -> n_heads, vocab_size               (required, no default)
//   num_key_value_heads -> n_kv_heads                        (default num_attention_heads)
//   head_dim                                                 (default hidden_size / heads)
//   max_position_embeddings -> max_seq_len                   (default 2048 llama, 32768 qwen2)
//   rms_norm_eps                                             (default 1e-6, as HF)
//   rope_theta                                               (default 10000, as HF)
//   tie_word_embeddings -> tied_embeddings                   (default false: both
//       LlamaConfig and Qwen2Config pass tie_word_embeddings=False to PretrainedConfig)
//   bos_token_id / eos_token_id                              (default 1 / 2; null keeps the
//       default; a list of eos ids uses the first)
// rope_style is always kHalves: HF checkpoints rotate halves.
// qkv_bias is true for Qwen2 (its attention always has q/k/v bias and no o bias, whatever
// `attention_bias` says, as in HF's modeling_qwen2) and false for Llama.
//
// Keys that change the math and that nibble does not implement are refused with an
// Error naming the key and value, never ignored: rope_scaling (non-null), Qwen2
// use_sliding_window (true), hidden_act (other than "silu"), Llama attention_bias
// (true: q/k/v/o bias), mlp_bias (true), and rope_parameters with a rope_type other
// than "default". pretraining_tp only changes how HF splits matmuls (math-neutral)
// and torch_dtype is informational; both are ignored, as are unknown keys.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"
#include "model/config.h"

namespace nibble {

// Parses config.json text. `source` names the file in messages. The result has passed
// ModelConfig::validate.
Result<ModelConfig> parse_hf_config(std::string_view json_text, const std::string& source);

// Reads and parses the file at `path`.
Result<ModelConfig> load_hf_config(const std::string& path);

}  // namespace nibble
