#include "kernels/scalar/stream_scalar.h"

#include <cstring>

namespace nibble::scalar {

uint64_t sum_words(const uint8_t* data, size_t n_words) {
  // Four independent sums, so the loads are not serialized behind one chain of adds.
  uint64_t sums[4] = {0, 0, 0, 0};
  size_t i = 0;
  for (; i + 4 <= n_words; i += 4) {
    __builtin_prefetch(data + i * 8 + 2048);
    for (size_t j = 0; j < 4; ++j) {
      uint64_t word;
      std::memcpy(&word, data + (i + j) * 8, 8);
      sums[j] += word;
    }
  }
  for (; i < n_words; ++i) {
    uint64_t word;
    std::memcpy(&word, data + i * 8, 8);
    sums[0] += word;
  }
  return sums[0] + sums[1] + sums[2] + sums[3];
}

}  // namespace nibble::scalar
