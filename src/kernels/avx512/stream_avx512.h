// AVX-512 streaming read. Only callable when cpu_supports(Isa::kAvx512).
#pragma once

#include <cstddef>
#include <cstdint>

namespace nibble::avx512 {

// scalar::sum_words with 64-byte loads, two lines per step, each prefetched 2 KiB ahead.
uint64_t sum_words(const uint8_t* data, size_t n_words);

}  // namespace nibble::avx512
