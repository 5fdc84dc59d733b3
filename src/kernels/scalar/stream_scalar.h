// Plain C++ streaming read: the reference for every ISA's sum_words.
#pragma once

#include <cstddef>
#include <cstdint>

namespace nibble::scalar {

// Sum of the n_words little-endian 64-bit words at `data` (any alignment), modulo 2^64.
uint64_t sum_words(const uint8_t* data, size_t n_words);

}  // namespace nibble::scalar
