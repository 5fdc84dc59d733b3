// AVX-512 float32 kernels. Only callable when cpu_supports(Isa::kAvx512).
#pragma once

namespace nibble::avx512 {

// Sum of a[i] * b[i] in DotLanes' order (kernels/avx512/lanes_avx512.h).
float dot_f32(const float* a, const float* b, int n);

}  // namespace nibble::avx512
