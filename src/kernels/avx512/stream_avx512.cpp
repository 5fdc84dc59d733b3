#include "kernels/avx512/stream_avx512.h"

#include "kernels/avx512/intrinsics_avx512.h"
#include "kernels/scalar/stream_scalar.h"

namespace nibble::avx512 {

uint64_t sum_words(const uint8_t* data, size_t n_words) {
  __m512i a = _mm512_setzero_si512(), b = a;
  size_t i = 0;
  for (; i + 16 <= n_words; i += 16) {
    const uint8_t* line = data + i * 8;
    _mm_prefetch(reinterpret_cast<const char*>(line + 2048), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(line + 2048 + 64), _MM_HINT_T0);
    a = _mm512_add_epi64(a, _mm512_loadu_si512(line));
    b = _mm512_add_epi64(b, _mm512_loadu_si512(line + 64));
  }
  // The lanes are added as unsigned words: _mm512_reduce_add_epi64 adds them as signed
  // long long, whose wrap-around is undefined behaviour (UBSan reports it).
  alignas(64) uint64_t lanes[8];
  _mm512_store_si512(lanes, _mm512_add_epi64(a, b));
  uint64_t sum = 0;
  for (uint64_t lane : lanes) sum += lane;
  // Integer sums: the order does not change them, so the tail may go to the scalar kernel.
  return sum + scalar::sum_words(data + i * 8, n_words - i);
}

}  // namespace nibble::avx512
