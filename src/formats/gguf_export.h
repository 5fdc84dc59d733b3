// `nibble export-gguf`: writes a model as a llama.cpp GGUF file (architectures `llama`
// and `qwen2`), so the very same weights can be run and measured in llama.cpp.
//
// Tensor types: float matrices as F32 (or F16 when asked), quantized ones only where
// llama.cpp has the identical rule: int4_sym/int8_sym, group 32, f16 scales, float
// activations -> Q4_0 / Q8_0 (the bytes are a repacking; no value changes). Anything
// else (other groups, asymmetric codes, bf16/f32 scales, dynamic int8 activations,
// in_features % 32 != 0) is refused with the reason. q/k rows are permuted to the RoPE
// order llama.cpp expects for the architecture (interleaved pairs for `llama`, halves
// for `qwen2`).
#pragma once

#include <string>

#include "core/status.h"
#include "model/model.h"

namespace nibble {

enum class GgufFloatType { kF32, kF16 };

struct GgufExportOptions {
  GgufFloatType float_type = GgufFloatType::kF32;  // for float matrices (norms/biases stay F32)
};

Status export_gguf(const Model& model, const std::string& path, const GgufExportOptions& options);

}  // namespace nibble
