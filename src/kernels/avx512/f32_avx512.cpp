#include "kernels/avx512/f32_avx512.h"

#include "kernels/avx512/intrinsics_avx512.h"
#include "kernels/avx512/lanes_avx512.h"

namespace nibble::avx512 {

float dot_f32(const float* a, const float* b, int n) {
  DotLanes lanes;
  int i = 0;
  for (; i + 32 <= n; i += 32)
    lanes.block(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), _mm512_loadu_ps(a + i + 16),
                _mm512_loadu_ps(b + i + 16));
  if (i < n) lanes.tail(a + i, b + i, n - i);
  return lanes.sum();
}

}  // namespace nibble::avx512
