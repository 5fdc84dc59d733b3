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

#include <fmt/format.h>

#include "tokenizer/llama_bin_tokenizer.h"

namespace {

void append_le32(std::string& out, uint32_t value) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(value >> (8 * i)));
}

// <unk>, BOS, EOS, the 256 byte tokens, then pieces whose merge scores fall with their id.
std::string vocabulary_image() {
  std::vector<std::string> pieces = {"<unk>", "\n<s>\n", "\n</s>\n"};
  for (int byte = 0; byte < 256; ++byte) pieces.push_back(fmt::format("<0x{:02X}>", byte));
  for (const char* piece : {"  ", " t", "th", "he", " the", "the", "in", "ing", " a", "an", "and", " and", "    ",
                            "e", "t", "h", "a", "n", "d", "i", "g", " ", "\xE6\x97\xA5", "<0", "x4", "<0x4", "1>"})
    pieces.push_back(piece);
  std::string out;
  append_le32(out, 16);
  for (size_t id = 0; id < pieces.size(); ++id) {
    const float score = id < 259 ? 0.0f : -static_cast<float>(id);
    uint32_t bits;
    std::memcpy(&bits, &score, 4);
    append_le32(out, bits);
    append_le32(out, static_cast<uint32_t>(pieces[id].size()));
    out += pieces[id];
  }
  return out;
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
