// Tokenizer files built in memory from a list of pieces, for tests and fuzz seeds: a
// llama2.c `tokenizer.bin` image and a SentencePiece `tokenizer.model` (a ModelProto with
// the few fields SentencePiece reads, serialized by hand: no protobuf compiler needed).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace nibble::testing {

enum class PieceKind { kUnknown, kControl, kByte, kNormal };

// One vocabulary entry in tokenizer.bin spelling: ' ' for SentencePiece's '▁', control
// tokens as "\n<s>\n" / "\n</s>\n", byte tokens as "<0xAB>".
struct VocabularyEntry {
  std::string piece;
  float score;
  PieceKind kind;
};

// Little-endian appends, for images built field by field.
void append_le32(std::string& out, uint32_t value);
void append_f32(std::string& out, float value);

// max_token_length, then (score, length, bytes) per entry, little-endian.
std::string llama_bin_image(const std::vector<VocabularyEntry>& entries, int32_t max_token_length);

// A BPE ModelProto with byte fallback, unk id 0, the given BOS/EOS ids, no pad, the
// identity normalizer with a dummy prefix.
std::string sentencepiece_model_image(const std::vector<VocabularyEntry>& entries, int bos_id, int eos_id);

// <unk>, BOS, EOS, the 256 byte tokens, then `pieces` with merge scores falling with id.
std::vector<VocabularyEntry> byte_fallback_vocabulary(const std::vector<std::string>& pieces);

}  // namespace nibble::testing
