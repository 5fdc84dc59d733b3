// libFuzzer target: arbitrary bytes as a whole safetensors file. The parser must
// return an Error or a header whose every view lies inside the input; widening each
// tensor to float32 then touches every byte a view claims.
#include <cstddef>
#include <cstdint>
#include <span>

#include "formats/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  auto header = nibble::parse_safetensors(bytes, "fuzz.safetensors");
  if (!header.ok()) return 0;
  for (const nibble::SafetensorView& tensor : header->tensors) {
    if (header->find(tensor.name) != &tensor) __builtin_trap();  // index out of step
    std::vector<float> values = nibble::safetensor_to_f32(tensor);
    if (values.size() != tensor.element_count) __builtin_trap();
  }
  return 0;
}
