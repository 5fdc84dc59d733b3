#include "kernels/kernel_table.h"

#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "kernels/amx/qlinear_amx.h"
#include "kernels/avx2/f32_avx2.h"
#include "kernels/avx2/qlinear_avx2.h"
#include "kernels/avx2/stream_avx2.h"
#include "kernels/avx512/f32_avx512.h"
#include "kernels/avx512/qlinear_avx512.h"
#include "kernels/avx512/stream_avx512.h"
#include "kernels/scalar/f32_scalar.h"
#include "kernels/scalar/qlinear_scalar.h"
#include "kernels/scalar/stream_scalar.h"

namespace nibble {

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return "scalar";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
    case Isa::kAmx: return "amx";
  }
  return "unknown";
}

namespace {

// The register state the OS saves and restores (XCR0), or 0 without OSXSAVE.
unsigned os_saved_state() {
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
  bool osxsave = (ecx & (1u << 27)) != 0;
  if (!osxsave) return 0;
  unsigned xcr0_lo, xcr0_hi;
  __asm__("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  return xcr0_lo;
}

// XCR0 bits 1 (SSE) and 2 (AVX/YMM) must both be set by the OS before AVX code may run.
bool os_saves_ymm() { return (os_saved_state() & 0x6u) == 0x6u; }

// AVX-512 also needs bits 5 (opmask), 6 (upper halves of ZMM0-15) and 7 (ZMM16-31).
bool os_saves_zmm() { return (os_saved_state() & 0xe6u) == 0xe6u; }

bool cpu_has_avx2_fma() {
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return false;
  bool fma = (ecx & (1u << 12)) != 0;
  bool avx = (ecx & (1u << 28)) != 0;
  bool f16c = (ecx & (1u << 29)) != 0;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  bool avx2 = (ebx & (1u << 5)) != 0;
  return fma && avx && f16c && avx2 && os_saves_ymm();
}

// F, DQ, BW, VL and VNNI (what src/kernels/avx512/ is compiled for), on top of AVX2.
bool cpu_has_avx512() {
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  const bool f = (ebx & (1u << 16)) != 0, dq = (ebx & (1u << 17)) != 0;
  const bool bw = (ebx & (1u << 30)) != 0, vl = (ebx & (1u << 31)) != 0;
  const bool vnni = (ecx & (1u << 11)) != 0;
  return f && dq && bw && vl && vnni && cpu_has_avx2_fma() && os_saves_zmm();
}

// AMX-TILE and AMX-INT8 (what src/kernels/amx/ adds to the AVX-512 flags), the tile state in
// XCR0 (bits 17 and 18), and Linux's per-process permission to use it: the tile data is
// 8 KiB of extra state per thread, so the kernel makes each process ask
// (arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)); without it a tile instruction faults.
bool cpu_has_amx() {
  unsigned eax, ebx, ecx, edx;
  if (!cpu_has_avx512() || !__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  const bool tile = (edx & (1u << 24)) != 0, int8 = (edx & (1u << 25)) != 0;
  if (!tile || !int8 || (os_saved_state() & 0x60000u) != 0x60000u) return false;
  constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
}

constexpr KernelTable kScalarTable{
    .isa = Isa::kScalar,
    .dot_f32 = &scalar::dot_f32,
    .attention_scores = &scalar::attention_scores,
    .attention_values = &scalar::attention_values,
    .softmax = &scalar::softmax,
    .silu_mul = &scalar::silu_mul,
    .quantize_activation_row = &scalar::quantize_activation_row,
    .qlinear_a8 = &scalar::qlinear_a8,
    .qlinear_wf = &scalar::qlinear_wf,
    .sum_words = &scalar::sum_words,
};
constexpr KernelTable kAvx2Table{
    .isa = Isa::kAvx2,
    .dot_f32 = &avx2::dot_f32,
    .attention_scores = &avx2::attention_scores,
    .attention_values = &avx2::attention_values,
    .softmax = &avx2::softmax,
    .silu_mul = &avx2::silu_mul,
    .quantize_activation_row = &avx2::quantize_activation_row,
    .qlinear_a8 = &avx2::qlinear_a8,
    .qlinear_wf = &avx2::qlinear_wf,
    .sum_words = &avx2::sum_words,
};

// AVX-512 has its own dot_f32, weight-only kernel and VNNI a8 kernel; attention, softmax,
// SiLU and the activation quantization are the AVX2 kernels (an AVX-512 CPU runs them), whose
// guarantees hold unchanged.
constexpr KernelTable kAvx512Table{
    .isa = Isa::kAvx512,
    .dot_f32 = &avx512::dot_f32,
    .attention_scores = &avx2::attention_scores,
    .attention_values = &avx2::attention_values,
    .softmax = &avx2::softmax,
    .silu_mul = &avx2::silu_mul,
    .quantize_activation_row = &avx2::quantize_activation_row,
    .qlinear_a8 = &avx512::qlinear_a8,
    .qlinear_wf = &avx512::qlinear_wf,
    .sum_words = &avx512::sum_words,
};

// AMX is the AVX-512 table whose a8 kernel runs whole tiles of sixteen tokens (prefill) on
// the tile unit; decode and everything else stay AVX-512's.
constexpr KernelTable amx_table() {
  KernelTable table = kAvx512Table;
  table.isa = Isa::kAmx;
  table.qlinear_a8 = &amx::qlinear_a8;
  return table;
}
constexpr KernelTable kAmxTable = amx_table();

const KernelTable* choose_table() {
  Isa best = supported_isas().back();
  if (const char* env = std::getenv("NIBBLE_ISA"); env != nullptr && *env != '\0') {
    auto requested = parse_isa(env);
    if (!requested.ok()) {
      std::fprintf(stderr, "nibble: warning: %s; using %s\n", requested.error().message.c_str(),
                   isa_name(best));
    } else if (!cpu_supports(*requested)) {
      std::fprintf(stderr, "nibble: warning: NIBBLE_ISA=%s is not supported by this CPU; using %s\n",
                   env, isa_name(best));
    } else {
      best = *requested;
    }
  }
  return *kernel_table_for(best);
}

}  // namespace

bool cpu_supports(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return true;
    case Isa::kAvx2: {
      static const bool supported = cpu_has_avx2_fma();
      return supported;
    }
    case Isa::kAvx512: {
      static const bool supported = cpu_has_avx512();
      return supported;
    }
    case Isa::kAmx: {
      static const bool supported = cpu_has_amx();
      return supported;
    }
  }
  return false;
}

std::vector<Isa> supported_isas() {
  std::vector<Isa> isas;
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kAmx})
    if (cpu_supports(isa)) isas.push_back(isa);
  return isas;
}

Result<const KernelTable*> kernel_table_for(Isa isa) {
  if (!cpu_supports(isa)) return make_error("this CPU (or OS) cannot run {} code", isa_name(isa));
  switch (isa) {
    case Isa::kAvx2: return &kAvx2Table;
    case Isa::kAvx512: return &kAvx512Table;
    case Isa::kAmx: return &kAmxTable;
    case Isa::kScalar: break;
  }
  return &kScalarTable;
}

const KernelTable& kernels() {
  static const KernelTable* table = choose_table();
  return *table;
}

Result<Isa> parse_isa(const std::string& name) {
  if (name == "scalar") return Isa::kScalar;
  if (name == "avx2") return Isa::kAvx2;
  if (name == "avx512") return Isa::kAvx512;
  if (name == "amx") return Isa::kAmx;
  return make_error("unknown ISA '{}': expected scalar, avx2, avx512 or amx", name);
}

}  // namespace nibble
