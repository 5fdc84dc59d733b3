#include "tokenizer/tokenizer.h"

#include "formats/gguf_model.h"
#include "tokenizer/llama_bin_tokenizer.h"
#include "tokenizer/sentencepiece_tokenizer.h"

namespace nibble {

Result<std::string> Tokenizer::decode(const std::vector<int>& ids, int previous) const {
  std::string text;
  for (const int id : ids) {
    NIBBLE_ASSIGN_OR_RETURN(const std::string piece, decode_piece(previous, id));
    text += piece;
    previous = id;
  }
  return text;
}

Result<std::unique_ptr<Tokenizer>> open_tokenizer(const std::string& path, int expected_vocab_size) {
  if (expected_vocab_size < 0)
    return make_error("{}: the expected vocab size must be > 0, or 0 for any; got {}", path, expected_vocab_size);
  if (std::string_view(path).ends_with(".bin")) {
    NIBBLE_ASSIGN_OR_RETURN(LlamaBinTokenizer tokenizer, LlamaBinTokenizer::open(path, expected_vocab_size));
    return std::unique_ptr<Tokenizer>(std::make_unique<LlamaBinTokenizer>(std::move(tokenizer)));
  }
  if (std::string_view(path).ends_with(".gguf")) {
    NIBBLE_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer, load_gguf_tokenizer(path));
    if (expected_vocab_size > 0 && tokenizer->vocab_size() != expected_vocab_size)
      return make_error("{}: tokenizer.ggml.tokens has {} entries but the model's vocab_size is {}", path,
                        tokenizer->vocab_size(), expected_vocab_size);
    return tokenizer;
  }
  NIBBLE_ASSIGN_OR_RETURN(SentencePieceTokenizer tokenizer, SentencePieceTokenizer::open(path));
  if (expected_vocab_size > 0 && tokenizer.vocab_size() != expected_vocab_size)
    return make_error("{}: the SentencePiece model has {} pieces but the model's vocab_size is {}", path,
                      tokenizer.vocab_size(), expected_vocab_size);
  return std::unique_ptr<Tokenizer>(std::make_unique<SentencePieceTokenizer>(std::move(tokenizer)));
}

}  // namespace nibble
