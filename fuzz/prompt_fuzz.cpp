// libFuzzer target: arbitrary bytes as a prompt, encoded with a small synthetic
// vocabulary (byte fallback, a few merges, pieces with spaces). Every id must lie inside
// the vocabulary and decode, and an ASCII prompt must decode back to itself.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "support/vocabulary_images.h"
#include "tokenizer/llama_bin_tokenizer.h"

namespace {

// <unk>, BOS, EOS, the 256 byte tokens, then pieces whose merge scores fall with their id.
std::string vocabulary_image() {
  const auto entries = nibble::testing::byte_fallback_vocabulary(
      {"  ", " t", "th", "he", " the", "the", "in", "ing", " a", "an", "and", " and", "    ", "e", "t", "h", "a",
       "n", "d", "i", "g", " ", "\xE6\x97\xA5", "<0", "x4", "<0x4", "1>"});
  return nibble::testing::llama_bin_image(entries, 16);
}

const nibble::LlamaBinTokenizer& tokenizer() {
  static const nibble::LlamaBinTokenizer instance = [] {
    const std::string image = vocabulary_image();
    auto parsed = nibble::LlamaBinTokenizer::from_bytes(std::as_bytes(std::span(image.data(), image.size())),
                                                        "prompt_fuzz vocabulary", 0);
    if (!parsed.ok()) __builtin_trap();  // the harness's own vocabulary must be valid
    return std::move(parsed).value();
  }();
  return instance;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view prompt(reinterpret_cast<const char*>(data), size);
  const auto& vocab = tokenizer();
  auto ids = vocab.encode(prompt, true);
  if (!ids.ok()) __builtin_trap();  // fuzz inputs are far below the size limit
  for (const int id : *ids)
    if (id < 0 || id >= vocab.vocab_size()) __builtin_trap();
  auto text = vocab.decode(std::vector<int>(ids->begin() + 1, ids->end()), vocab.bos_id());
  if (!text.ok()) __builtin_trap();

  // Round trip for ASCII: no invalid UTF-8 to replace and no literal '▁' to turn into a
  // space, so decoding (which drops the dummy-prefix space after BOS) gives the prompt.
  bool ascii = true;
  for (const char c : prompt) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
  if (ascii && *text != prompt) __builtin_trap();
  return 0;
}
