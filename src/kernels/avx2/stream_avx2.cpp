#include "kernels/avx2/stream_avx2.h"

#include <immintrin.h>

#include "kernels/scalar/stream_scalar.h"

namespace nibble::avx2 {

uint64_t sum_words(const uint8_t* data, size_t n_words) {
  __m256i a = _mm256_setzero_si256(), b = a;
  size_t i = 0;
  for (; i + 8 <= n_words; i += 8) {
    const uint8_t* line = data + i * 8;
    _mm_prefetch(reinterpret_cast<const char*>(line + 2048), _MM_HINT_T0);
    a = _mm256_add_epi64(a, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(line)));
    b = _mm256_add_epi64(b, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(line + 32)));
  }
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), _mm256_add_epi64(a, b));
  // Integer sums: the order does not change them, so the tail may go to the scalar kernel.
  return lanes[0] + lanes[1] + lanes[2] + lanes[3] + scalar::sum_words(data + i * 8, n_words - i);
}

}  // namespace nibble::avx2
