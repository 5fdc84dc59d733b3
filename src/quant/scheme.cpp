#include "quant/scheme.h"

#include <cstring>

#include "core/half.h"

namespace nibble {

const char* codec_name(WeightCodec codec) {
  switch (codec) {
    case WeightCodec::kInt8Sym: return "int8_sym";
    case WeightCodec::kInt4Sym: return "int4_sym";
    case WeightCodec::kInt4Asym: return "int4_asym";
  }
  return "unknown";
}

const char* scale_type_name(ScaleType type) {
  switch (type) {
    case ScaleType::kF32: return "f32";
    case ScaleType::kF16: return "f16";
    case ScaleType::kBF16: return "bf16";
  }
  return "unknown";
}

int scale_type_bytes(ScaleType type) { return type == ScaleType::kF32 ? 4 : 2; }

float round_scale(float scale, ScaleType type) {
  switch (type) {
    case ScaleType::kF32: return scale;
    case ScaleType::kF16: return f16_to_f32(f32_to_f16(scale));
    case ScaleType::kBF16: return bf16_to_f32(f32_to_bf16(scale));
  }
  return scale;
}

void store_scale(float scale, ScaleType type, uint8_t* dst) {
  switch (type) {
    case ScaleType::kF32: std::memcpy(dst, &scale, 4); return;
    case ScaleType::kF16: {
      uint16_t h = f32_to_f16(scale);
      std::memcpy(dst, &h, 2);
      return;
    }
    case ScaleType::kBF16: {
      uint16_t b = f32_to_bf16(scale);
      std::memcpy(dst, &b, 2);
      return;
    }
  }
}

float load_scale(ScaleType type, const uint8_t* src) {
  switch (type) {
    case ScaleType::kF32: {
      float f;
      std::memcpy(&f, src, 4);
      return f;
    }
    case ScaleType::kF16: {
      uint16_t h;
      std::memcpy(&h, src, 2);
      return f16_to_f32(h);
    }
    case ScaleType::kBF16: {
      uint16_t b;
      std::memcpy(&b, src, 2);
      return bf16_to_f32(b);
    }
  }
  return 0.0f;
}

}  // namespace nibble
