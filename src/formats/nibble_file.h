// nibble's model file: one self-describing file per model (docs/FORMAT.md). The
// container is GGUF v3: the config, recipe, tokenizer and the scheme of every quantized
// matrix are typed metadata under `nibble.*` and `tokenizer.ggml.*`; every tensor is a
// plain GGUF array (F32, F16, BF16 or I8) with its real shape, 64-byte aligned, in the
// very layout the kernels read, so loading maps the file and borrows the tensors in place.
//
// Loading always validates the structure (version, counts, shapes against the config
// and each tensor's scheme, types, offsets and sizes). Data checksums (XXH3-64 per
// tensor) are checked by verify_nibble_file(), i.e. `nibble inspect --verify`.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "formats/gguf.h"
#include "model/model.h"

namespace nibble {

inline constexpr uint32_t kNibbleFormatVersion = 1;
inline constexpr uint32_t kNibbleAlignment = 64;
inline constexpr const char* kNibbleVersionKey = "nibble.format_version";

// True when a parsed GGUF file is a nibble model file (it carries nibble.format_version).
bool is_nibble_file(const GgufFile& gguf);

// Writes `model` (float or quantized weights, with its tokenizer) atomically. The bytes
// are a pure function of the model: saving a loaded file again gives the same bytes.
Status save_nibble_model(const Model& model, const std::string& path);

// Loads a nibble file; its tensors borrow from the mapping (copy-free). Errors name the
// file, the tensor, and the expected and found values.
Result<Model> load_nibble_model(const std::string& path, const LoadOptions& options);

// Loads a nibble file held in `bytes` (e.g. a fuzzer's input); `keep_alive` owns them
// and is shared by the borrowed tensors. `source` names the bytes in errors.
Result<Model> load_nibble_model_from_bytes(std::span<const std::byte> bytes, std::shared_ptr<const void> keep_alive,
                                           const std::string& source, const LoadOptions& options);

struct TensorChecksum {
  std::string name;
  uint64_t expected = 0;
  uint64_t found = 0;
  bool ok() const { return expected == found; }
};

// Recomputes every tensor's XXH3-64 and compares it with the stored one. Returns the
// per-tensor results, or an Error naming the first tensor that differs.
Result<std::vector<TensorChecksum>> verify_nibble_file(const std::string& path);

}  // namespace nibble
