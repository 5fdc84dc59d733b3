// llama.cpp GGUF models (architectures `llama` and `qwen2`) and GGUF vocabularies.
//
// Config (keys under the architecture's name, e.g. `llama.embedding_length`):
//   embedding_length -> dim, feed_forward_length -> hidden_dim, block_count -> n_layers,
//   attention.head_count -> n_heads, attention.head_count_kv -> n_kv_heads (default
//   n_heads), attention.key_length -> head_dim (default dim / n_heads; value_length must
//   equal it), context_length -> max_seq_len, rope.freq_base -> rope_theta (default
//   10000), attention.layer_norm_rms_epsilon -> rms_norm_eps. vocab_size is the row count
//   of token_embd.weight (`<arch>.vocab_size`, when present, must agree). RoPE must rotate
//   the whole head (rope.dimension_count, when present, equals head_dim) and must not be
//   scaled (rope.scaling.type absent or "none"). bos/eos ids come from
//   tokenizer.ggml.{bos,eos}_token_id when present.
//
// Conventions by architecture: llama.cpp stores `llama` q/k rows in interleaved-pair
// RoPE order (its HF converter permutes them; its llama2.c converter keeps llama2.c's)
// and `qwen2` rows in halves order (NeoX RoPE, no permutation), so the model records
// RopeStyle::kInterleavedPairs or kHalves and uses the rows as stored. `qwen2` layers
// carry q/k/v biases (`blk.N.attn_q.bias`, ...); a `llama` file may too (all or none).
//
// Tensors: token_embd.weight, blk.N.{attn_norm, attn_q, attn_k, attn_v, attn_output,
// ffn_norm, ffn_gate, ffn_up, ffn_down}.weight, output_norm.weight, and output.weight
// unless the model is tied (absent: the classifier is the embedding). ne[0] is
// in_features, ne[1] out_features. Any other tensor is an Error: it would be a weight
// nibble does not implement, and ignoring it would silently change the results. Every
// shape and type is checked against the config before any tensor data is read.
//
// Tensor types:
//   Q4_0 -> QuantizedMatrix int4_sym, group 32, f16 scales, float activations; Q8_0 ->
//           int8_sym with the same grouping. These are the formats of the q4_g32 and
//           q8_g32 presets, and the blocks are repacked without changing a value: a Q4_0
//           block's qs bytes are nibble's int4 bytes of a full 32-element block (offset
//           binary c + 8, element j low nibble, j + 16 high), a Q8_0 block's qs are the
//           int8 codes, and d is the f16 scale. (Q8_0 code -128, which llama.cpp never
//           writes, is accepted: weight-only layers dequantize it exactly.)
//   F32 -> borrowed from the mapped file when 4-byte aligned (copy-free), else copied.
//   F16, BF16, Q4_1, Q5_0, Q5_1 (every type with a reference decoder) -> float32.
//   Anything else (K-quants, integer types) -> Error naming the tensor and its type.
//
// Tokenizer: LoadOptions::tokenizer_path when given; else the file's tokenizer.ggml.*
// metadata when tokenizer.ggml.model is "llama" (SentencePiece BPE with byte fallback,
// built as LlamaBinTokenizer). Other tokenizer models ("gpt2", ...) are an Error unless
// a tokenizer path is given or LoadOptions::require_tokenizer is false.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>

#include "core/status.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace nibble {

// Loads a llama.cpp GGUF model. Errors name the file, the key or tensor, and the
// expected and found values.
Result<Model> load_gguf_model(const std::string& path, const LoadOptions& options);

// The same for a GGUF image in memory (e.g. a fuzzer's input); `keep_alive` owns
// `bytes` and is shared by the tensors borrowed from them. `source` names them in errors.
Result<Model> load_gguf_model_from_bytes(std::span<const std::byte> bytes, std::shared_ptr<const void> keep_alive,
                                         const std::string& source, const LoadOptions& options);

// The tokenizer of any GGUF file with tokenizer.ggml.* metadata of model "llama",
// including llama.cpp's vocabulary-only files (no tensors).
Result<std::unique_ptr<Tokenizer>> load_gguf_tokenizer(const std::string& path);

}  // namespace nibble
