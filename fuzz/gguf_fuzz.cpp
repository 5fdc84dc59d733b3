// libFuzzer target: arbitrary bytes as a whole GGUF file. The parser must return an
// Error or a file whose every tensor lies inside the input; decoding each tensor of a
// decodable type then touches every byte its span claims. Tensors over 1M elements are
// skipped so a valid-but-large shape does not trip the fuzzer's memory limit.
#include <cstddef>
#include <cstdint>
#include <span>

#include "formats/gguf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  auto file = nibble::parse_gguf(bytes, "fuzz.gguf");
  if (!file.ok()) return 0;
  for (const nibble::GgufTensor& tensor : file->tensors) {
    if (file->find_tensor(tensor.name) != &tensor) __builtin_trap();  // index out of step
    if (tensor.data.data() < bytes.data() ||
        tensor.data.data() + tensor.data.size() > bytes.data() + bytes.size())
      __builtin_trap();  // a span outside the input
    if (tensor.element_count > (1u << 20) || !tensor.traits->to_float) continue;
    auto values = nibble::gguf_tensor_to_f32(tensor);
    if (!values.ok() || values->size() != tensor.element_count) __builtin_trap();
  }
  // Typed accessors on every key must answer without crashing, whatever the type.
  for (const auto& entry : file->metadata.entries()) {
    (void)file->metadata.get_string(entry.key);
    (void)file->metadata.get_u32(entry.key);
    (void)file->metadata.get_array_of_strings(entry.key);
    (void)file->metadata.get_array_of_f32(entry.key);
  }
  return 0;
}
