// Plain C++ float32 kernels: the reference every SIMD kernel is tested against.
#pragma once

namespace nibble::scalar {

// Products added strictly left to right, as llama2.c's matmul does.
float dot_f32(const float* a, const float* b, int n);

}  // namespace nibble::scalar
