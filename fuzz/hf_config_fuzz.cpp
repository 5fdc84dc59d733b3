// libFuzzer target: arbitrary bytes as a Hugging Face config.json. The parser must
// return an Error or a ModelConfig that passed validate().
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "formats/hf_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto config = nibble::parse_hf_config(text, "fuzz/config.json");
  if (config.ok() && !config->validate("fuzz").ok()) __builtin_trap();
  return 0;
}
