// The llama2.c `tokenizer.bin` vocabulary and a SentencePiece-exact BPE encoder over it.
//
// File layout (little-endian, no magic, no count):
//   int32 max_token_length
//   then per token, in id order: float32 score, int32 length, `length` bytes of UTF-8.
// llama2.c's export wrote SentencePiece's pieces with '▁' (U+2581) replaced by ' ', BOS as
// "\n<s>\n", EOS as "\n</s>\n", and kept byte-fallback pieces as "<0xXX>". It stores no
// piece types and no normalizer settings, so this reader fixes them by convention:
//   - ids 0, 1, 2 are <unk>, BOS and EOS (llama2.c's run.c hard-codes BOS 1 and EOS 2);
//   - a piece spelled exactly "<0xXX>" (two upper-case hex digits) is the byte token XX;
//   - the normalizer is SentencePiece "identity" with add_dummy_prefix on and
//     remove_extra_whitespaces off (the settings of every llama2.c-family tokenizer.model).
// Pieces of any other spelling are normal pieces and the only ones BPE may merge into.
#pragma once

#include <array>
#include <bitset>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace nibble {

class LlamaBinTokenizer final : public Tokenizer {
 public:
  // Reads `path`. `expected_vocab_size` > 0 requires exactly that many tokens and no
  // bytes after them (extra bytes mean the file belongs to a larger vocabulary, i.e. a
  // tokenizer/model mismatch); 0 reads tokens until the end of the file.
  static Result<LlamaBinTokenizer> open(const std::string& path, int expected_vocab_size);

  // Parses a tokenizer.bin image already in memory; `source` names it in errors.
  static Result<LlamaBinTokenizer> from_bytes(std::span<const std::byte> bytes, const std::string& source,
                                              int expected_vocab_size);

  // Builds the tokenizer from a vocabulary (e.g. GGUF tokenizer.ggml.* metadata, read by
  // formats/tokenizer_metadata.h). Needs <unk>, BOS and EOS at ids 0, 1 and 2.
  static Result<LlamaBinTokenizer> from_vocabulary(const TokenVocabulary& vocabulary, const std::string& source);

  // Move-only: a vocabulary is large and copying one is never what the caller meant.
  LlamaBinTokenizer(LlamaBinTokenizer&&) = default;
  LlamaBinTokenizer& operator=(LlamaBinTokenizer&&) = default;
  LlamaBinTokenizer(const LlamaBinTokenizer&) = delete;
  LlamaBinTokenizer& operator=(const LlamaBinTokenizer&) = delete;

  Result<std::vector<int>> encode(std::string_view text, bool add_bos) const override;
  Result<std::string> decode_piece(int previous_id, int id) const override;

  int vocab_size() const override { return static_cast<int>(pieces_.size()); }
  int bos_id() const override { return kBosId; }
  int eos_id() const override { return kEosId; }
  int unk_id() const { return kUnkId; }
  TokenVocabulary vocabulary() const override;

  // The piece as stored in the file (' ' for SentencePiece's '▁') and its merge score.
  const std::string& piece(int id) const { return pieces_[static_cast<size_t>(id)]; }
  float score(int id) const { return scores_[static_cast<size_t>(id)]; }
  int max_token_length() const { return max_token_length_; }

 private:
  static constexpr int kUnkId = 0;
  static constexpr int kBosId = 1;
  static constexpr int kEosId = 2;

  // Hash and equality that accept std::string_view keys, so lookups of substrings of the
  // text being encoded allocate nothing.
  struct PieceHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  LlamaBinTokenizer() = default;
  Status index_pieces(const std::string& source);

  // Id of the normal piece spelled `text`, or -1.
  int find_normal_piece(std::string_view text) const;
  // Appends the ids for a symbol outside the vocabulary: its UTF-8 bytes as byte tokens
  // when the vocabulary has them (SentencePiece byte fallback), else one <unk>.
  void append_unknown(std::string_view symbol, std::vector<int>& ids) const;

  int max_token_length_ = 0;
  std::vector<std::string> pieces_;   // (vocab_size) piece bytes, ' ' standing for '▁'
  std::vector<float> scores_;         // (vocab_size) merge priority: higher merges first
  std::vector<int16_t> byte_value_;   // (vocab_size) the byte a "<0xXX>" token stands for, else -1
  std::array<int, 256> byte_token_{};  // id of the "<0xXX>" token for each byte, or -1
  bool has_byte_tokens_ = false;      // any "<0xXX>" token present: byte fallback is on
  std::unordered_map<std::string, int, PieceHash, std::equal_to<>> normal_pieces_;
  size_t longest_normal_piece_ = 0;   // bytes; longer candidates need no lookup
  // Bit (a << 8 | b) is set when the byte pair "ab" occurs inside some normal piece. Where
  // two neighbouring characters meet at a pair that occurs in no piece, no merge can ever
  // span them, which lets the encoder work on such independent stretches one at a time.
  std::bitset<65536> joinable_bytes_;
};

}  // namespace nibble
