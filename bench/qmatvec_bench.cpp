// Google Benchmark of the linear-layer kernels, per ISA this machine runs:
// matrix-vector (decode, 1 token) and matrix-matrix (16 tokens; 128, a prefill) for
// a8w4 / a8w8 / w4 / w8 / f32 at the shapes of a ~1B model's projections and of
// tiny-llama-8m's (288 wide, FFN 768, vocabulary 8192: the demo model's decode).
//
//   build-kern/nibble_bench [--benchmark_filter=avx2] [--benchmark_min_time=0.5]
//
// Counters: GB/s = weight bytes read (codes + scales, or float32) per second, counted
// once per call (the kernels read each weight once per call); GOPS = 2 * rows * cols *
// tokens multiply-adds per second. Each call goes through linear_forward with the ISA's
// table, so it includes the per-token activation quantization of a8 layers and the pool.
//
// Those matrices fit this machine's caches, so the figures above are the kernels' compute
// rate. `matvec_dram` is decode as a model sees it: one iteration runs the matrix-vector
// product through kDramLayers distinct copies of a 5632x2048 layer (~620 MB of int4 panels,
// a ~1B model's weights per token), so every byte comes from DRAM; compare its GB/s with
// `dram_read` (memory_bandwidth_bench.cpp) in the same run.
#include <benchmark/benchmark.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/kernel_table.h"
#include "kernels/ops.h"
#include "quant/quantized_matrix.h"

namespace nibble {
namespace {

struct Scheme {
  const char* name;
  bool quantized;
  WeightCodec codec;
  int group;
  ActivationMode act;
};

constexpr Scheme kSchemes[] = {
    {"f32", false, WeightCodec::kInt8Sym, 0, ActivationMode::kFloat},
    {"w4_g32", true, WeightCodec::kInt4Sym, 32, ActivationMode::kFloat},
    {"w8_g32", true, WeightCodec::kInt8Sym, 32, ActivationMode::kFloat},
    {"a8w4_g32", true, WeightCodec::kInt4Sym, 32, ActivationMode::kInt8Token},
    {"a8w4_g256", true, WeightCodec::kInt4Sym, 256, ActivationMode::kInt8Token},
    {"a8w8_g32", true, WeightCodec::kInt8Sym, 32, ActivationMode::kInt8Token},
};

struct Shape {
  int rows, cols;
};
constexpr Shape kShapes[] = {{2048, 2048}, {5632, 2048}, {768, 288}, {288, 768}, {8192, 288}};

Linear make_layer(const Scheme& scheme, Shape shape) {
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  DenseMatrix w;
  w.rows = shape.rows;
  w.cols = shape.cols;
  w.data.resize(static_cast<size_t>(shape.rows) * shape.cols);
  for (float& v : w.data) v = normal(rng);
  Linear layer;
  if (!scheme.quantized) {
    layer.weight = std::move(w);
    return layer;
  }
  auto q = quantize_matrix(w, QuantFormat{scheme.codec, scheme.group, ScaleType::kF16}, scheme.act, scheme.name);
  if (!q.ok()) std::abort();
  layer.quantized = std::make_shared<QuantizedMatrix>(std::move(*q));
  return layer;
}

void run(benchmark::State& state, const KernelTable* table, Scheme scheme, Shape shape, int tokens, int threads) {
  const Linear layer = make_layer(scheme, shape);
  const double weight_bytes = layer.quantized ? static_cast<double>(layer.quantized->stored_bytes())
                                              : 4.0 * shape.rows * static_cast<double>(shape.cols);
  std::mt19937 rng(2);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(tokens) * shape.cols);
  for (float& v : x) v = normal(rng);
  std::vector<float> y(static_cast<size_t>(tokens) * shape.rows);
  ThreadPool pool(threads);
  for (auto _ : state) {
    linear_forward(layer, x.data(), static_cast<size_t>(shape.cols), tokens, y.data(),
                   static_cast<size_t>(shape.rows), pool, *table);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.counters["GB/s"] = benchmark::Counter(weight_bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GOPS"] = benchmark::Counter(2e-9 * shape.rows * shape.cols * tokens,
                                              benchmark::Counter::kIsIterationInvariantRate);
}

constexpr int kDramLayers = 96;

void run_dram(benchmark::State& state, const KernelTable* table, Scheme scheme, int threads) {
  constexpr Shape kShape{5632, 2048};
  const Linear first = make_layer(scheme, kShape);
  // Deep copies: each layer owns its codes, scales and panels at its own addresses.
  std::vector<Linear> layers(kDramLayers, first);
  for (Linear& layer : layers) layer.quantized = std::make_shared<QuantizedMatrix>(*first.quantized);
  const double weight_bytes = kDramLayers * static_cast<double>(first.quantized->stored_bytes());
  std::vector<float> x(kShape.cols, 0.5f), y(kShape.rows);
  ThreadPool pool(threads);
  for (auto _ : state) {
    for (const Linear& layer : layers)
      linear_forward(layer, x.data(), kShape.cols, 1, y.data(), kShape.rows, pool, *table);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.counters["GB/s"] = benchmark::Counter(weight_bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void register_dram() {
  for (Isa isa : supported_isas()) {
    if (isa == Isa::kScalar) continue;  // minutes per run, and not what decode uses here
    const KernelTable* table = *kernel_table_for(isa);
    for (const Scheme& scheme : kSchemes) {
      if (!scheme.quantized || scheme.group != 32) continue;
      for (int threads : {1, 2}) {
        const std::string name = std::string("matvec_dram/") + isa_name(isa) + "/" + scheme.name + "/" +
                                 std::to_string(kDramLayers) + "x5632x2048/t" + std::to_string(threads);
        benchmark::RegisterBenchmark(name.c_str(), run_dram, table, scheme, threads)
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
      }
    }
  }
}

void register_all() {
  for (Isa isa : supported_isas()) {
    const KernelTable* table = *kernel_table_for(isa);
    for (const Scheme& scheme : kSchemes) {
      for (Shape shape : kShapes) {
        for (int tokens : {1, 16, 128}) {
          for (int threads : {1, 2}) {
            const std::string name = (tokens == 1 ? std::string("matvec/") : "matmul" + std::to_string(tokens) + "/") + isa_name(isa) + "/" +
                                     scheme.name + "/" + std::to_string(shape.rows) + "x" + std::to_string(shape.cols) +
                                     "/t" + std::to_string(threads);
            benchmark::RegisterBenchmark(name.c_str(), run, table, scheme, shape, tokens, threads)
                ->Unit(benchmark::kMicrosecond)
                ->UseRealTime();
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace nibble

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  nibble::register_all();
  nibble::register_dram();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
