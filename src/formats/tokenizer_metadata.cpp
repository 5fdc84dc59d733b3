#include "formats/tokenizer_metadata.h"

#include "tokenizer/llama_bin_tokenizer.h"

namespace nibble {

namespace {
constexpr const char* kModelKey = "tokenizer.ggml.model";
}  // namespace

Status write_tokenizer_metadata(const Tokenizer& tokenizer, GgufWriter& gguf) {
  const TokenVocabulary v = tokenizer.vocabulary();
  if (v.pieces.size() != v.scores.size() || v.pieces.size() != v.types.size())
    return make_error("tokenizer: {} pieces, {} scores and {} types must be equally many", v.pieces.size(),
                      v.scores.size(), v.types.size());
  gguf.set_string("tokenizer.ggml.model", "llama");
  gguf.set_strings("tokenizer.ggml.tokens", v.pieces);
  gguf.set_f32s("tokenizer.ggml.scores", v.scores);
  gguf.set_i32s("tokenizer.ggml.token_type", v.types);
  // Absent ids (-1) are left out rather than written as a huge u32.
  if (v.bos_id >= 0) gguf.set_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(v.bos_id));
  if (v.eos_id >= 0) gguf.set_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(v.eos_id));
  if (v.unk_id >= 0) gguf.set_u32("tokenizer.ggml.unknown_token_id", static_cast<uint32_t>(v.unk_id));
  gguf.set_bool("tokenizer.ggml.add_bos_token", true);
  gguf.set_bool("tokenizer.ggml.add_eos_token", false);
  return {};
}

Result<TokenVocabulary> read_tokenizer_metadata(const GgufMetadata& metadata, const std::string& source) {
  NIBBLE_ASSIGN_OR_RETURN(std::string model, metadata.get_string("tokenizer.ggml.model"));
  if (model != "llama")
    return make_error("{}: tokenizer.ggml.model is '{}'; nibble reads SentencePiece vocabularies ('llama') only; "
                      "pass --tokenizer with a tokenizer.model or tokenizer.bin",
                      source, model);
  TokenVocabulary v;
  NIBBLE_ASSIGN_OR_RETURN(v.pieces, metadata.get_array_of_strings("tokenizer.ggml.tokens"));
  NIBBLE_ASSIGN_OR_RETURN(v.scores, metadata.get_array_of_f32("tokenizer.ggml.scores"));
  NIBBLE_ASSIGN_OR_RETURN(v.types, metadata.get_array_of_i32("tokenizer.ggml.token_type"));
  if (v.scores.size() != v.pieces.size() || v.types.size() != v.pieces.size())
    return make_error("{}: tokenizer.ggml.tokens has {} entries but scores has {} and token_type {}", source,
                      v.pieces.size(), v.scores.size(), v.types.size());
  auto id = [&](const char* key, int fallback) -> Result<int> {
    if (!metadata.contains(key)) return fallback;
    NIBBLE_ASSIGN_OR_RETURN(uint32_t value, metadata.get_u32(key));
    if (value >= v.pieces.size())
      return make_error("{}: {} = {} is not a token id (the vocabulary has {} tokens)", source, key, value,
                        v.pieces.size());
    return static_cast<int>(value);
  };
  // SentencePiece's defaults, which llama.cpp also assumes when a key is absent.
  NIBBLE_ASSIGN_OR_RETURN(v.unk_id, id("tokenizer.ggml.unknown_token_id", 0));
  NIBBLE_ASSIGN_OR_RETURN(v.bos_id, id("tokenizer.ggml.bos_token_id", 1));
  NIBBLE_ASSIGN_OR_RETURN(v.eos_id, id("tokenizer.ggml.eos_token_id", 2));
  return v;
}

Result<std::unique_ptr<Tokenizer>> tokenizer_from_gguf_metadata(const GgufMetadata& metadata,
                                                               const std::string& source) {
  NIBBLE_ASSIGN_OR_RETURN(TokenVocabulary v, read_tokenizer_metadata(metadata, source));
  NIBBLE_ASSIGN_OR_RETURN(LlamaBinTokenizer t, LlamaBinTokenizer::from_vocabulary(v, source));
  return std::unique_ptr<Tokenizer>(std::make_unique<LlamaBinTokenizer>(std::move(t)));
}

Result<std::unique_ptr<Tokenizer>> tokenizer_for_model(const GgufMetadata& m, int vocab_size,
                                                       const std::string& source, const LoadOptions& options) {
  if (!options.tokenizer_path.empty()) return open_tokenizer(options.tokenizer_path, vocab_size);
  if (!m.contains(kModelKey)) {
    if (!options.require_tokenizer) return std::unique_ptr<Tokenizer>();
    return make_error("{}: the file holds no tokenizer (no {} key); pass --tokenizer FILE", source,
                      kModelKey);
  }
  NIBBLE_ASSIGN_OR_RETURN(std::string model, m.get_string(kModelKey));
  if (model != "llama") {
    if (!options.require_tokenizer) return std::unique_ptr<Tokenizer>();
    return make_error("{}: {} is '{}', expected 'llama' (SentencePiece BPE, the GGUF vocabulary nibble reads); "
                      "pass --tokenizer FILE with a tokenizer.model, tokenizer.bin or vocabulary GGUF",
                      source, kModelKey, model);
  }
  NIBBLE_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer, tokenizer_from_gguf_metadata(m, source));
  if (tokenizer->vocab_size() != vocab_size)
    return make_error("{}: tokenizer.ggml.tokens has {} entries but the model's embedding has {} rows", source,
                      tokenizer->vocab_size(), vocab_size);
  return tokenizer;
}

}  // namespace nibble
