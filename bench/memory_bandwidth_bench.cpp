// The machine's DRAM read bandwidth, the ceiling for decoding a model larger than the
// caches: `nibble_bench --benchmark_filter=dram_read` prints it beside the kernels' GB/s.
// A 1 GiB buffer (far beyond any cache here) is read once per iteration by the runtime's
// own ThreadPool, each thread streaming one contiguous share and summing it so that the
// reads cannot be dropped. Like the a8 panel kernel it prefetches 2 KiB ahead: on this VM the
// hardware prefetcher alone leaves a stream well short of what DRAM delivers, and a probe
// that reads slower than a kernel is no ceiling.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdint>
#include <vector>

#include "core/thread_pool.h"

namespace nibble {
namespace {

void dram_read(benchmark::State& state) {
  constexpr size_t kBytes = size_t{1} << 30;
  const int threads = static_cast<int>(state.range(0));
  std::vector<uint64_t> buffer(kBytes / sizeof(uint64_t));
  for (size_t i = 0; i < buffer.size(); ++i) buffer[i] = i;  // touches every page before timing
  ThreadPool pool(threads);
  std::atomic<uint64_t> total{0};
  for (auto _ : state) {
    pool.parallel_for(buffer.size(), 512, [&](size_t begin, size_t end) {
      // Four independent sums keep the loads, not an add chain, the limit.
      uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      size_t i = begin;
      constexpr size_t kAhead = 2048 / sizeof(uint64_t);
      for (; i + 8 <= end; i += 8) {
        __builtin_prefetch(buffer.data() + i + kAhead);
        s0 += buffer[i] + buffer[i + 4];
        s1 += buffer[i + 1] + buffer[i + 5];
        s2 += buffer[i + 2] + buffer[i + 6];
        s3 += buffer[i + 3] + buffer[i + 7];
      }
      for (; i + 4 <= end; i += 4) {
        s0 += buffer[i];
        s1 += buffer[i + 1];
        s2 += buffer[i + 2];
        s3 += buffer[i + 3];
      }
      for (; i < end; ++i) s0 += buffer[i];
      total.fetch_add(s0 + s1 + s2 + s3, std::memory_order_relaxed);
    });
  }
  benchmark::DoNotOptimize(total.load());
  state.counters["GB/s"] = benchmark::Counter(kBytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK(dram_read)->Name("dram_read/1GiB")->ArgName("t")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace nibble
