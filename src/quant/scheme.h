// Quantization schemes: how a float matrix becomes integer codes plus per-group scales.
// The bit layouts are documented in docs/QUANT_LAYOUTS.md and pinned by golden tests.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"

namespace nibble {

// The integer code of one weight.
enum class WeightCodec : uint8_t {
  kInt8Sym,   // c in [-127, 127], w = c * s             (llama.cpp Q8_0 rule)
  kInt4Sym,   // c in [-8, 7],     w = c * s             (llama.cpp Q4_0 rule), stored offset-binary
  kInt4Asym,  // q, z in [0, 15],  w = (q - z) * s       (GPTQ/AWQ convention)
};

enum class ScaleType : uint8_t { kF32, kF16, kBF16 };

// What a linear layer does with its input at run time.
enum class ActivationMode : uint8_t {
  kFloat,      // weight-only (w4/w8): activations stay float32
  kInt8Token,  // a8w4/a8w8: activations quantized per token, asymmetric u8, at run time
};

struct QuantFormat {
  WeightCodec codec = WeightCodec::kInt8Sym;
  int group_size = 32;  // consecutive input elements sharing a scale; 0 = one group per row
  ScaleType scale_type = ScaleType::kF16;

  int bits() const { return codec == WeightCodec::kInt8Sym ? 8 : 4; }
  bool asymmetric() const { return codec == WeightCodec::kInt4Asym; }
  // The group size for a row of `cols` elements (per-channel resolves to cols).
  int effective_group(int cols) const { return group_size == 0 ? cols : group_size; }
};

const char* codec_name(WeightCodec codec);
const char* scale_type_name(ScaleType type);
int scale_type_bytes(ScaleType type);

// Stores `scale` in `type` (round to nearest even) and returns the value stored.
float round_scale(float scale, ScaleType type);
// Writes / reads one scale of `type` at `dst` / `src` (little-endian).
void store_scale(float scale, ScaleType type, uint8_t* dst);
float load_scale(ScaleType type, const uint8_t* src);

}  // namespace nibble
