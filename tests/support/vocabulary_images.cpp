#include "support/vocabulary_images.h"

#include <cstring>

#include <fmt/format.h>

namespace nibble::testing {
void append_le32(std::string& out, uint32_t value) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(value >> (8 * i)));
}

void append_f32(std::string& out, float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  append_le32(out, bits);
}

namespace {

void put_varint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>(value | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

void put_int(std::string& out, int field, int64_t value) {
  put_varint(out, static_cast<uint64_t>(field) << 3);  // wire type 0: varint
  put_varint(out, static_cast<uint64_t>(value));       // negative int32 take 10 bytes
}

void put_bytes(std::string& out, int field, const std::string& bytes) {
  put_varint(out, static_cast<uint64_t>(field) << 3 | 2);  // wire type 2: length-delimited
  put_varint(out, bytes.size());
  out += bytes;
}

void put_float(std::string& out, int field, float value) {
  put_varint(out, static_cast<uint64_t>(field) << 3 | 5);  // wire type 5: 32-bit
  append_f32(out, value);
}

}  // namespace

std::string llama_bin_image(const std::vector<VocabularyEntry>& entries, int32_t max_token_length) {
  std::string out;
  append_le32(out, static_cast<uint32_t>(max_token_length));
  for (const auto& entry : entries) {
    append_f32(out, entry.score);
    append_le32(out, static_cast<uint32_t>(entry.piece.size()));
    out += entry.piece;
  }
  return out;
}

std::string sentencepiece_model_image(const std::vector<VocabularyEntry>& entries, int bos_id, int eos_id) {
  // Field numbers from sentencepiece_model.proto.
  std::string model;
  for (const auto& entry : entries) {
    std::string piece = entry.piece;
    if (entry.kind == PieceKind::kControl) piece = piece == "\n<s>\n" ? "<s>" : "</s>";
    for (size_t at; (at = piece.find(' ')) != std::string::npos;) piece.replace(at, 1, "\xE2\x96\x81");
    // SentencePiece piece types: NORMAL 1, UNKNOWN 2, CONTROL 3, BYTE 6.
    const int type = entry.kind == PieceKind::kNormal    ? 1
                     : entry.kind == PieceKind::kUnknown ? 2
                     : entry.kind == PieceKind::kControl ? 3
                                                         : 6;
    std::string message;
    put_bytes(message, 1, piece);
    put_float(message, 2, entry.score);
    put_int(message, 3, type);
    put_bytes(model, 1, message);  // ModelProto.pieces
  }
  std::string trainer;
  put_int(trainer, 3, 2);  // model_type: BPE
  put_int(trainer, 4, static_cast<int64_t>(entries.size()));  // vocab_size
  put_int(trainer, 35, 1);  // byte_fallback
  put_int(trainer, 40, 0);  // unk_id
  put_int(trainer, 41, bos_id);
  put_int(trainer, 42, eos_id);
  put_int(trainer, 43, -1);  // pad_id: none
  put_bytes(model, 2, trainer);
  std::string normalizer;
  put_bytes(normalizer, 1, "identity");
  put_int(normalizer, 3, 1);  // add_dummy_prefix
  put_int(normalizer, 4, 0);  // remove_extra_whitespaces off
  put_int(normalizer, 5, 1);  // escape_whitespaces
  put_bytes(model, 3, normalizer);
  return model;
}

std::vector<VocabularyEntry> byte_fallback_vocabulary(const std::vector<std::string>& pieces) {
  std::vector<VocabularyEntry> entries = {
      {"<unk>", 0, PieceKind::kUnknown}, {"\n<s>\n", 0, PieceKind::kControl}, {"\n</s>\n", 0, PieceKind::kControl}};
  for (int byte = 0; byte < 256; ++byte) entries.push_back({fmt::format("<0x{:02X}>", byte), 0, PieceKind::kByte});
  for (const auto& piece : pieces)
    entries.push_back({piece, -static_cast<float>(entries.size()), PieceKind::kNormal});
  return entries;
}

}  // namespace nibble::testing
