// Hugging Face checkpoint directories (LlamaForCausalLM, Qwen2ForCausalLM):
//
//   dir/config.json                      hyperparameters (see hf_config.h)
//   dir/model.safetensors                all weights in one file, or
//   dir/model.safetensors.index.json     {"weight_map": {tensor name: shard file name}}
//       + the shard files it names       (plain names inside dir)
//   dir/tokenizer.model                  SentencePiece tokenizer (optional)
//
// When both model.safetensors and an index exist, model.safetensors wins, as in HF's
// from_pretrained.
//
// Tensor rules (loading):
// - Every tensor the config implies must be present with exactly the implied shape;
//   F32, F16 and BF16 are widened to float32 exactly.
// - Tied embeddings (tie_word_embeddings true): the classifier is the token embedding.
//   An lm_head.weight stored anyway is ignored, because HF ties it to the embedding on
//   load and the embedding is what HF computes with.
// - model.layers.N.self_attn.rotary_emb.inv_freq (a buffer older transformers saved) is
//   ignored: nibble computes the RoPE frequencies from rope_theta.
// - Any other tensor is an Error. An unknown tensor means the checkpoint holds weights
//   nibble does not implement (an o_proj bias, q/k norms, ...), and ignoring it would
//   silently compute different logits.
// - With an index, every tensor it lists must be in its named shard, and every tensor in
//   a shard must be listed there (a tensor stored twice is an Error).
#pragma once

#include <string>

#include "core/status.h"
#include "model/model.h"

namespace nibble {

// Loads config, weights (as float32) and tokenizer from an HF checkpoint directory.
// Tokenizer: options.tokenizer_path if set, else dir/tokenizer.model when present.
// Model::tensors lists the stored tensors shard by shard (shards in name order), each
// shard in data-offset order.
Result<Model> load_hf_model(const std::string& dir, const LoadOptions& options);

// Writes `model` as an HF checkpoint directory (created if missing): config.json and one
// model.safetensors holding F32 tensors. With `untie`, a tied model is written untied: an
// explicit lm_head.weight (a copy of the embedding) and tie_word_embeddings false; an
// untied model is always written untied. Weights in llama2.c's interleaved-pairs RoPE
// order are permuted to HF's halves order (the permutation HF's converter applies), so the
// written directory computes the same logits. The tokenizer is not written: copy
// tokenizer.model next to it or name one with LoadOptions::tokenizer_path.
// Files are written atomically (temp file + rename).
Status write_hf_model(const Model& model, const std::string& dir, bool untie);

}  // namespace nibble
