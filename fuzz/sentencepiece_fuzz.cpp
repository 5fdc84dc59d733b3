// libFuzzer target: arbitrary bytes as a SentencePiece `tokenizer.model` (parsed by
// libsentencepiece behind nibble's wrapper). A model that loads must encode and decode.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tokenizer/sentencepiece_tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto tokenizer = nibble::SentencePieceTokenizer::from_serialized(bytes, "fuzz.model");
  if (!tokenizer.ok()) return 0;
  auto ids = tokenizer->encode("The function returns a value.", true);
  if (ids.ok()) (void)tokenizer->decode(*ids, tokenizer->bos_id());
  return 0;
}
