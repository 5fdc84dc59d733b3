#include "kernels/avx512/f32_avx512.h"

// GCC 12's AVX-512 intrinsics initialise their "undefined" pass-through operand from
// itself (GCC bug 105593, fixed in 13), which -Wuninitialized then reports at every use.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

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
