// The tokenizer concept: text <-> token ids. Two implementations share it:
// LlamaBinTokenizer (llama2.c `tokenizer.bin`, our own O(n log n) BPE merge) and
// SentencePieceTokenizer (`tokenizer.model`, through Debian's libsentencepiece).
// Both follow SentencePiece's BPE rules, so on the same vocabulary they give the same ids.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace nibble {

// A vocabulary as GGUF's tokenizer.ggml.* keys hold it (model "llama"): what a file
// needs to rebuild the tokenizer, whatever it was loaded from.
struct TokenVocabulary {
  std::vector<std::string> pieces;  // SentencePiece spelling: U+2581 marks a word boundary
  std::vector<float> scores;        // merge priority
  std::vector<int32_t> types;       // kTokenType* below
  int bos_id = -1;
  int eos_id = -1;
  int unk_id = -1;
};

// Token types, numbered as SentencePiece and GGUF number them.
inline constexpr int32_t kTokenTypeNormal = 1;
inline constexpr int32_t kTokenTypeUnknown = 2;
inline constexpr int32_t kTokenTypeControl = 3;
inline constexpr int32_t kTokenTypeUserDefined = 4;
inline constexpr int32_t kTokenTypeUnused = 5;
inline constexpr int32_t kTokenTypeByte = 6;

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Encodes `text` as SentencePiece does (a dummy-prefix space, byte fallback for
  // characters outside the vocabulary), with a leading BOS id when `add_bos`.
  virtual Result<std::vector<int>> encode(std::string_view text, bool add_bos) const = 0;

  // The bytes token `id` stands for, given the token before it: a byte token
  // `<0xXX>` gives that byte, the space that stands for SentencePiece's word
  // boundary is written as ' ', and the dummy-prefix space right after BOS is dropped
  // (llama2.c's rule, so generated text starts where the user's prompt starts).
  virtual Result<std::string> decode_piece(int previous_id, int id) const = 0;

  virtual int vocab_size() const = 0;
  virtual int bos_id() const = 0;
  virtual int eos_id() const = 0;

  // The whole vocabulary, for writing it into a model file.
  virtual TokenVocabulary vocabulary() const = 0;

  // Decodes a whole id sequence by concatenating decode_piece(previous, id).
  // `previous` is the id before ids[0] (bos_id() when ids start a text).
  Result<std::string> decode(const std::vector<int>& ids, int previous) const;
};

// Opens a tokenizer by file type: a llama2.c `tokenizer.bin` (any name ending in
// .bin), the tokenizer.ggml.* vocabulary of a GGUF file (any name ending in .gguf,
// model "llama"; formats/gguf_model.h) or a SentencePiece model (anything else).
// `expected_vocab_size` > 0 requires that many tokens (llama2.c files do not store
// their own count); 0 reads to the end.
Result<std::unique_ptr<Tokenizer>> open_tokenizer(const std::string& path, int expected_vocab_size);

}  // namespace nibble
