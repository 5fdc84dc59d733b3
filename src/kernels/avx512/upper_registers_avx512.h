// Leaving AVX-512 code cleanly. Include only from src/kernels/avx512/ and src/kernels/amx/
// (AVX-512 flags; internal linkage keeps it out of baseline objects).
#pragma once

namespace nibble::avx512 {
namespace {

// vzeroupper (which the compiler emits) clears the upper halves of ZMM0-15 only; the
// compiler also allocates ZMM16-31, and while their upper bits are set the core stays in
// the dirty-upper state, where the baseline SSE code that runs next (the transformer's
// norms, softmax, SiLU) pays a transition penalty on every instruction: measured, prefill
// ran at less than half speed. Writing each XMM16-31 zeroes its upper bits.
inline void clear_upper_registers() {
  __asm__ volatile(
      "vpxord %%xmm16, %%xmm16, %%xmm16\n\tvpxord %%xmm17, %%xmm17, %%xmm17\n\t"
      "vpxord %%xmm18, %%xmm18, %%xmm18\n\tvpxord %%xmm19, %%xmm19, %%xmm19\n\t"
      "vpxord %%xmm20, %%xmm20, %%xmm20\n\tvpxord %%xmm21, %%xmm21, %%xmm21\n\t"
      "vpxord %%xmm22, %%xmm22, %%xmm22\n\tvpxord %%xmm23, %%xmm23, %%xmm23\n\t"
      "vpxord %%xmm24, %%xmm24, %%xmm24\n\tvpxord %%xmm25, %%xmm25, %%xmm25\n\t"
      "vpxord %%xmm26, %%xmm26, %%xmm26\n\tvpxord %%xmm27, %%xmm27, %%xmm27\n\t"
      "vpxord %%xmm28, %%xmm28, %%xmm28\n\tvpxord %%xmm29, %%xmm29, %%xmm29\n\t"
      "vpxord %%xmm30, %%xmm30, %%xmm30\n\tvpxord %%xmm31, %%xmm31, %%xmm31\n\t"
      "vzeroupper" ::: "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24", "xmm25",
      "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31");
}

}  // namespace
}  // namespace nibble::avx512
