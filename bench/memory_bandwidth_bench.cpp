// The machine's DRAM read bandwidth, the ceiling for decode (which streams every weight once
// per token) and what a kernel's GB/s must be read against, measured here rather than taken
// from a data sheet: `nibble_bench --benchmark_filter=dram_read` prints it beside the
// kernels' GB/s (and `matvec_dram`, the decode kernel on DRAM-resident weights).
//
// A 1 GiB buffer (far beyond any cache here) is read once per iteration by the runtime's
// own ThreadPool, each thread streaming one contiguous share. To be a ceiling and not a
// figure a kernel can beat, the probe reads the way the fastest code could:
// - the widest loads the CPU has (64-byte AVX-512, else 32-byte AVX2; this file is built
//   for the baseline ISA, so those readers carry target attributes and are picked at run
//   time). Measured here: 8-byte scalar loads 19.2-20.6 GB/s at two threads against
//   23.6-24.8 GB/s with 64-byte loads, in the same process;
// - a software prefetch 2 KiB ahead (without it 20.2-21.7 GB/s), as the panel kernels do;
// - the buffer in huge pages where the system grants them (HugePageAllocator, as the
//   decode kernel's panels).
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdint>
#include <vector>

#include "core/huge_page_allocator.h"
#include "core/thread_pool.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace nibble {
namespace {

constexpr size_t kPrefetchBytes = 2048;

// Sums the bytes [begin, end) (8-byte aligned, multiples of 128) as 64-bit words.
uint64_t read_scalar(const uint8_t* begin, const uint8_t* end) {
  uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (const uint8_t* p = begin; p < end; p += 32) {
    __builtin_prefetch(p + kPrefetchBytes);
    const auto* w = reinterpret_cast<const uint64_t*>(p);
    s0 += w[0];
    s1 += w[1];
    s2 += w[2];
    s3 += w[3];
  }
  return s0 + s1 + s2 + s3;
}

#if defined(__x86_64__)
__attribute__((target("avx2"))) uint64_t read_avx2(const uint8_t* begin, const uint8_t* end) {
  __m256i a = _mm256_setzero_si256(), b = a;
  for (const uint8_t* p = begin; p < end; p += 64) {
    _mm_prefetch(reinterpret_cast<const char*>(p + kPrefetchBytes), _MM_HINT_T0);
    a = _mm256_add_epi64(a, _mm256_load_si256(reinterpret_cast<const __m256i*>(p)));
    b = _mm256_add_epi64(b, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + 32)));
  }
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), _mm256_add_epi64(a, b));
  return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}

__attribute__((target("avx512f"))) uint64_t read_avx512(const uint8_t* begin, const uint8_t* end) {
  __m512i a = _mm512_setzero_si512(), b = a;
  for (const uint8_t* p = begin; p < end; p += 128) {
    _mm_prefetch(reinterpret_cast<const char*>(p + kPrefetchBytes), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(p + kPrefetchBytes + 64), _MM_HINT_T0);
    a = _mm512_add_epi64(a, _mm512_load_si512(p));
    b = _mm512_add_epi64(b, _mm512_load_si512(p + 64));
  }
  alignas(64) uint64_t lanes[8];
  _mm512_store_si512(lanes, _mm512_add_epi64(a, b));
  _mm256_zeroupper();
  uint64_t sum = 0;
  for (uint64_t lane : lanes) sum += lane;
  return sum;
}
#endif

using Reader = uint64_t (*)(const uint8_t*, const uint8_t*);

Reader widest_reader() {
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx512f")) return read_avx512;
  if (__builtin_cpu_supports("avx2")) return read_avx2;
#endif
  return read_scalar;
}

void dram_read(benchmark::State& state) {
  constexpr size_t kBytes = size_t{1} << 30;
  constexpr size_t kGrain = 4096;  // whole pages per thread; every reader steps evenly into it
  const int threads = static_cast<int>(state.range(0));
  std::vector<uint8_t, HugePageAllocator<uint8_t>> buffer(kBytes);
  for (size_t i = 0; i < buffer.size(); ++i) buffer[i] = static_cast<uint8_t>(i);  // touches every page first
  const Reader read = widest_reader();
  ThreadPool pool(threads);
  std::atomic<uint64_t> total{0};
  for (auto _ : state) {
    pool.parallel_for(buffer.size(), kGrain, [&](size_t begin, size_t end) {
      total.fetch_add(read(buffer.data() + begin, buffer.data() + end), std::memory_order_relaxed);
    });
  }
  benchmark::DoNotOptimize(total.load());
  state.counters["GB/s"] = benchmark::Counter(kBytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK(dram_read)->Name("dram_read/1GiB")->ArgName("t")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace nibble
