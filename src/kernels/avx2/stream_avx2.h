// AVX2 streaming read. Only callable when cpu_supports(Isa::kAvx2).
#pragma once

#include <cstddef>
#include <cstdint>

namespace nibble::avx2 {

// scalar::sum_words with 32-byte loads, two per 64-byte line, a prefetch 2 KiB ahead.
uint64_t sum_words(const uint8_t* data, size_t n_words);

}  // namespace nibble::avx2
