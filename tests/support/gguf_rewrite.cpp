#include "support/gguf_rewrite.h"

#include "formats/gguf.h"
#include "formats/gguf_writer.h"

namespace nibble::testing {

Status rewrite_gguf(const std::string& in, const std::string& out, const GgufEdit& edit) {
  NIBBLE_ASSIGN_OR_RETURN(MappedGgufFile file, open_gguf(in));
  GgufWriter writer(file.gguf.alignment);
  for (const auto& entry : file.gguf.metadata.entries()) {
    if (entry.key == "general.alignment") continue;  // the writer sets it
    if (auto it = edit.set_u32.find(entry.key); it != edit.set_u32.end()) {
      writer.set_u32(entry.key, it->second);
    } else if (auto it2 = edit.set_u32s.find(entry.key); it2 != edit.set_u32s.end()) {
      writer.set_u32s(entry.key, it2->second);
    } else if (auto it3 = edit.set_strings.find(entry.key); it3 != edit.set_strings.end()) {
      writer.set_strings(entry.key, it3->second);
    } else if (auto it4 = edit.set_values.find(entry.key); it4 != edit.set_values.end()) {
      writer.set(entry.key, it4->second);
    } else {
      writer.set(entry.key, entry.value);
    }
  }
  for (const auto& [key, value] : edit.set_values)
    if (!file.gguf.metadata.contains(key)) writer.set(key, value);
  for (const auto& t : file.gguf.tensors) {
    if (edit.drop_tensors.count(t.name)) continue;
    auto shape = edit.reshape.find(t.name);
    auto type = edit.retype.find(t.name);
    NIBBLE_CHECK_OK(writer.add_tensor(t.name,
                                      type == edit.retype.end() ? static_cast<GgmlType>(t.type_id) : type->second,
                                      shape == edit.reshape.end() ? t.ne : shape->second, t.data));
  }
  for (const auto& [name, values] : edit.add_f32)
    NIBBLE_CHECK_OK(writer.add_tensor(name, GgmlType::kF32, {static_cast<int64_t>(values.size())},
                                      std::as_bytes(std::span<const float>(values))));
  return writer.write(out);
}

}  // namespace nibble::testing
