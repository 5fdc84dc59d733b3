// libFuzzer target: arbitrary bytes as a llama2.c tokenizer.bin. The parser must return
// an Error or a vocabulary that encodes any text, including the input bytes themselves,
// into ids inside the vocabulary that all decode.
//
// Random bytes rarely get past the header and the three special tokens, so each input is
// also parsed after a valid prefix (max_token_length and <unk>, BOS, EOS): the fuzzer then
// spends its time on the token list and on the encoder over the vocabularies it builds.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include "support/vocabulary_images.h"
#include "tokenizer/llama_bin_tokenizer.h"

namespace {

std::string valid_prefix() {
  using nibble::testing::PieceKind;
  return nibble::testing::llama_bin_image(
      {{"<unk>", 0, PieceKind::kUnknown}, {"\n<s>\n", 0, PieceKind::kControl}, {"\n</s>\n", 0, PieceKind::kControl}},
      16);  // max_token_length
}

// Encodes `text` and checks the ids; traps on a broken invariant so libFuzzer reports it.
void check_encoding(const nibble::LlamaBinTokenizer& tokenizer, std::string_view text) {
  auto ids = tokenizer.encode(text, true);
  if (!ids.ok()) return;  // only an over-long text may fail, and these are short
  if (ids->empty() || ids->front() != tokenizer.bos_id()) __builtin_trap();
  for (const int id : *ids)
    if (id < 0 || id >= tokenizer.vocab_size()) __builtin_trap();
  if (!tokenizer.decode(*ids, -1).ok()) __builtin_trap();
}

void parse_and_encode(std::span<const std::byte> bytes, std::string_view input_text) {
  auto tokenizer = nibble::LlamaBinTokenizer::from_bytes(bytes, "fuzz/tokenizer.bin", 0);
  if (!tokenizer.ok()) return;
  check_encoding(*tokenizer, "Once upon a time, \xE6\x97\xA5 \xFF <0x41> \n<s>\n caf\xC3\xA9");
  check_encoding(*tokenizer, input_text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  parse_and_encode(std::as_bytes(std::span(data, size)), input);

  static const std::string prefix = valid_prefix();
  std::string prefixed = prefix;
  prefixed.append(input);
  parse_and_encode(std::as_bytes(std::span(prefixed.data(), prefixed.size())), input);
  return 0;
}
