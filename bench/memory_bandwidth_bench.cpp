// The machine's DRAM read bandwidth, measured rather than taken from a data sheet:
// `nibble_bench --benchmark_filter=dram_read` prints it beside the kernels' GB/s (and
// `matvec_dram`, the decode kernel on DRAM-resident weights). It is DramProbe
// (kernels/dram_probe.h), the reader `nibble bench --dram` times between decode runs:
// 1 GiB streamed once per iteration by the runtime's own ThreadPool, each thread reading one
// contiguous share with the widest loads the CPU has, from huge pages where granted.
#include <benchmark/benchmark.h>


#include "core/thread_pool.h"
#include "kernels/dram_probe.h"

namespace nibble {
namespace {

void dram_read(benchmark::State& state) {
  auto probe = DramProbe::create();
  if (!probe.ok()) {
    state.SkipWithError(probe.error().message.c_str());
    return;
  }
  ThreadPool pool(static_cast<int>(state.range(0)));
  uint64_t checksum = 0;
  for (auto _ : state) checksum += probe->read(pool).checksum;
  benchmark::DoNotOptimize(checksum);
  state.counters["GB/s"] =
      benchmark::Counter(static_cast<double>(probe->bytes()) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK(dram_read)->Name("dram_read/1GiB")->ArgName("t")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace nibble
