#include "model/config.h"

namespace nibble {

const char* architecture_name(Architecture arch) {
  switch (arch) {
    case Architecture::kLlama: return "llama";
    case Architecture::kQwen2: return "qwen2";
  }
  return "unknown";
}

const char* rope_style_name(RopeStyle style) {
  return style == RopeStyle::kInterleavedPairs ? "interleaved-pairs" : "halves";
}

Status ModelConfig::validate(const std::string& source) const {
  // Upper bounds keep a lying header from requesting absurd allocations.
  constexpr int kMaxDim = 1 << 16;
  constexpr int kMaxLayers = 1024;
  constexpr int kMaxVocab = 1 << 22;
  constexpr int kMaxSeq = 1 << 20;
  auto in_range = [&](const char* name, int value, int lo, int hi) -> Status {
    if (value < lo || value > hi)
      return make_error("{}: config {} = {} is outside the supported range [{}, {}]", source, name,
                        value, lo, hi);
    return {};
  };
  NIBBLE_CHECK_OK(in_range("dim", dim, 1, kMaxDim));
  NIBBLE_CHECK_OK(in_range("hidden_dim", hidden_dim, 1, 8 * kMaxDim));
  NIBBLE_CHECK_OK(in_range("n_layers", n_layers, 1, kMaxLayers));
  NIBBLE_CHECK_OK(in_range("n_heads", n_heads, 1, kMaxDim));
  NIBBLE_CHECK_OK(in_range("n_kv_heads", n_kv_heads, 1, n_heads));
  NIBBLE_CHECK_OK(in_range("head_dim", head_dim, 2, kMaxDim));
  NIBBLE_CHECK_OK(in_range("vocab_size", vocab_size, 3, kMaxVocab));
  NIBBLE_CHECK_OK(in_range("max_seq_len", max_seq_len, 1, kMaxSeq));
  if (n_heads % n_kv_heads != 0)
    return make_error("{}: n_heads ({}) must be a multiple of n_kv_heads ({})", source, n_heads,
                      n_kv_heads);
  if (head_dim % 2 != 0)
    return make_error("{}: head_dim must be even for RoPE, got {}", source, head_dim);
  if (!(rope_theta > 0.0f)) return make_error("{}: rope_theta must be > 0, got {}", source, rope_theta);
  if (!(rms_norm_eps > 0.0f))
    return make_error("{}: rms_norm_eps must be > 0, got {}", source, rms_norm_eps);
  if (bos_id < 0 || bos_id >= vocab_size || eos_id < 0 || eos_id >= vocab_size)
    return make_error("{}: bos_id {} / eos_id {} must be token ids below vocab_size {}", source,
                      bos_id, eos_id, vocab_size);
  return {};
}

}  // namespace nibble
