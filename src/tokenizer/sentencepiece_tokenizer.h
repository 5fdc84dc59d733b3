// A SentencePiece `tokenizer.model`, through Debian's libsentencepiece. It is the
// reference that LlamaBinTokenizer's own encoder is tested against.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace nibble {

class SentencePieceTokenizer final : public Tokenizer {
 public:
  // Loads a serialized ModelProto from `path`.
  static Result<SentencePieceTokenizer> open(const std::string& path);

  // Loads a serialized ModelProto already in memory; `source` names it in errors.
  static Result<SentencePieceTokenizer> from_serialized(std::string_view model_proto, const std::string& source);

  SentencePieceTokenizer(SentencePieceTokenizer&&) noexcept;
  SentencePieceTokenizer& operator=(SentencePieceTokenizer&&) noexcept;
  ~SentencePieceTokenizer() override;

  Result<std::vector<int>> encode(std::string_view text, bool add_bos) const override;
  Result<std::string> decode_piece(int previous_id, int id) const override;

  int vocab_size() const override;
  int bos_id() const override;  // -1 when the model has no BOS piece
  int eos_id() const override;  // -1 when the model has no EOS piece
  TokenVocabulary vocabulary() const override;

 private:
  SentencePieceTokenizer(std::unique_ptr<sentencepiece::SentencePieceProcessor> processor, std::string source);

  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
  std::string source_;  // the file (or name) it was loaded from, for error messages
};

}  // namespace nibble
