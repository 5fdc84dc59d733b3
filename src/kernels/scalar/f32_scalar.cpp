#include "kernels/scalar/f32_scalar.h"

namespace nibble::scalar {

float dot_f32(const float* a, const float* b, int n) {
  float sum = 0.0f;
  for (int i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

}  // namespace nibble::scalar
