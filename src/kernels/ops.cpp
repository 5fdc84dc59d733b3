#include "kernels/ops.h"

#include <algorithm>
#include <cmath>

#include <vector>

#include "kernels/kernel_table.h"
#include "kernels/qmatrix_view.h"
#include "kernels/scalar/f32_scalar.h"
#include "quant/quantized_matrix.h"

namespace nibble {

void rmsnorm(float* out, const float* x, const float* weight, int n, float eps) {
  float ss = 0.0f;
  for (int i = 0; i < n; ++i) ss += x[i] * x[i];
  ss /= static_cast<float>(n);
  ss += eps;
  ss = 1.0f / std::sqrt(ss);
  for (int i = 0; i < n; ++i) out[i] = weight[i] * (ss * x[i]);
}

void softmax(float* x, int n) { scalar::softmax(x, n); }

namespace {

void float_matmul(const DenseMatrix& w, const float* x, size_t x_stride, int n_tokens, float* y,
                  size_t y_stride, ThreadPool& pool, const KernelTable& k) {
  const auto dot = k.dot_f32;
  // Blocks of rows per task keep a few weight rows hot in cache while the tokens of a
  // tile stream past them.
  constexpr size_t kRowGrain = 16;
  constexpr int kTokenTile = 16;
  pool.parallel_for(static_cast<size_t>(w.rows), kRowGrain, [&](size_t begin, size_t end) {
    for (int t0 = 0; t0 < n_tokens; t0 += kTokenTile) {
      int t1 = std::min(n_tokens, t0 + kTokenTile);
      for (size_t r = begin; r < end; ++r) {
        const float* row = w.row(static_cast<int>(r));
        for (int t = t0; t < t1; ++t)
          y[static_cast<size_t>(t) * y_stride + r] = dot(row, x + static_cast<size_t>(t) * x_stride, w.cols);
      }
    }
  });
}

}  // namespace

void matmul(const DenseMatrix& w, const float* x, size_t x_stride, int n_tokens, float* y,
            size_t y_stride, ThreadPool& pool) {
  float_matmul(w, x, x_stride, n_tokens, y, y_stride, pool, kernels());
}

namespace {

// Rows are split across the pool in multiples of 16 (whole blocks of the SIMD kernels'
// 8 and 16 rows); every output is computed by one thread, independently of the split.
constexpr size_t kRowGrain = 16;

// How a call reading `weight_bytes` is split: layers of 2 MiB and more (a ~1B model's; tiny
// models' layers stay one piece per thread) in guided pieces taken by demand (ThreadPool),
// so a thread that this VM slows down takes fewer of them instead of leaving the other
// waiting at the end of every layer. Pieces shrink to 1/64 of the layer at two threads
// (>= 32 KiB for a 2 MiB layer), long streams still. Threads waiting in the pool during the
// ~1B model's decode (`perf record -e cpu-clock`, `bench -p 1 -n 128 -r 2 -t 2 --act-int8`):
// 3.6% and 3.7% of samples with 8 even pieces per thread, 2.0% and 2.0% guided.
ThreadPool::Split split_for(size_t weight_bytes) {
  return weight_bytes >= (size_t{2} << 20) ? ThreadPool::Split::kGuided : ThreadPool::Split::kStatic;
}

// a8 layers' input: each token's activations quantized per token (u8) into rows padded to
// a multiple of 32 with zeros.
struct QuantizedTokens {
  std::vector<uint8_t> codes;
  std::vector<float> scales;
  std::vector<int32_t> zeros;
  ActivationCodes view;
};

void quantize_tokens(const float* x, size_t x_stride, int cols, int n_tokens, ThreadPool& pool,
                     const KernelTable& k, QuantizedTokens& out) {
  const size_t stride = activation_stride(cols);
  out.codes.assign(static_cast<size_t>(n_tokens) * stride, 0);
  out.scales.resize(static_cast<size_t>(n_tokens));
  out.zeros.resize(static_cast<size_t>(n_tokens));
  // Tokens are independent: split across the pool (one token runs inline).
  pool.parallel_for(static_cast<size_t>(n_tokens), 1, [&](size_t begin, size_t end) {
    for (size_t t = begin; t < end; ++t)
      k.quantize_activation_row(x + t * x_stride, cols, out.codes.data() + t * stride, &out.scales[t],
                                &out.zeros[t]);
  });
  out.view = ActivationCodes{out.codes.data(), stride, out.scales.data(), out.zeros.data(), n_tokens};
}

// Rows [begin, end) of one quantized layer; `act` is its quantized input (a8) or null.
void quantized_rows(const QMatrixView& view, const ActivationCodes* act, const float* x, size_t x_stride,
                    int n_tokens, size_t begin, size_t end, float* y, size_t y_stride, const KernelTable& k) {
  if (act != nullptr)
    k.qlinear_a8(view, *act, static_cast<int>(begin), static_cast<int>(end), y, y_stride);
  else
    k.qlinear_wf(view, x, x_stride, n_tokens, static_cast<int>(begin), static_cast<int>(end), y, y_stride);
}

// Quantized layers sharing the input x (one layer, or a layer's q/k/v): all have the same
// activation mode and width. a8 tokens are quantized once; the layers' rows are laid end to
// end, each layer starting on a whole grain so a thread's range covers whole blocks of every
// layer it touches, and split over the pool in one hand-off.
void quantized_forward(std::span<const LinearOutput> outputs, const float* x, size_t x_stride, int n_tokens,
                       ThreadPool& pool, const KernelTable& k) {
  const QuantizedMatrix& first = *outputs[0].layer->quantized;
  QuantizedTokens tokens;
  const bool a8 = first.activation == ActivationMode::kInt8Token;
  if (a8) quantize_tokens(x, x_stride, first.cols, n_tokens, pool, k, tokens);
  // Rows a layer takes in the concatenation: its own, up to a whole grain.
  auto span_rows = [](const QuantizedMatrix& m) {
    return (static_cast<size_t>(m.rows) + kRowGrain - 1) / kRowGrain * kRowGrain;
  };
  size_t total = 0, weight_bytes = 0;
  for (const LinearOutput& out : outputs) {
    total += span_rows(*out.layer->quantized);
    weight_bytes += out.layer->quantized->stored_bytes();
  }
  pool.parallel_for(
      total, kRowGrain,
      [&](size_t begin, size_t end) {
        size_t start = 0;
        for (const LinearOutput& out : outputs) {
          const QuantizedMatrix& m = *out.layer->quantized;
          const size_t lo = std::max(begin, start);
          const size_t hi = std::min(end, start + static_cast<size_t>(m.rows));
          if (lo < hi)
            quantized_rows(view_of(m), a8 ? &tokens.view : nullptr, x, x_stride, n_tokens, lo - start,
                           hi - start, out.y, out.y_stride, k);
          start += span_rows(m);
        }
      },
      split_for(weight_bytes));
}

void add_bias(const Linear& layer, int n_tokens, float* y, size_t y_stride) {
  if (layer.bias.empty()) return;
  for (int t = 0; t < n_tokens; ++t) {
    float* out = y + static_cast<size_t>(t) * y_stride;
    for (int r = 0; r < layer.out_features(); ++r) out[r] += layer.bias[static_cast<size_t>(r)];
  }
}

}  // namespace

void linear_forward(const Linear& layer, const float* x, size_t x_stride, int n_tokens, float* y,
                    size_t y_stride, ThreadPool& pool) {
  linear_forward(layer, x, x_stride, n_tokens, y, y_stride, pool, kernels());
}

void linear_forward(const Linear& layer, const float* x, size_t x_stride, int n_tokens, float* y,
                    size_t y_stride, ThreadPool& pool, const KernelTable& table) {
  if (layer.quantized) {
    const LinearOutput output{&layer, y, y_stride};
    quantized_forward({&output, 1}, x, x_stride, n_tokens, pool, table);
  } else {
    float_matmul(layer.weight, x, x_stride, n_tokens, y, y_stride, pool, table);
  }
  add_bias(layer, n_tokens, y, y_stride);
}

void linear_forward_shared_input(std::span<const LinearOutput> outputs, const float* x, size_t x_stride,
                                 int n_tokens, ThreadPool& pool) {
  if (outputs.empty()) return;
  const QuantizedMatrix* first = outputs[0].layer->quantized.get();
  bool together = first != nullptr;
  for (const LinearOutput& out : outputs) {
    const QuantizedMatrix* q = out.layer->quantized.get();
    together = together && q != nullptr && q->activation == first->activation && q->cols == first->cols;
  }
  if (!together) {
    for (const LinearOutput& out : outputs) linear_forward(*out.layer, x, x_stride, n_tokens, out.y, out.y_stride, pool);
    return;
  }
  quantized_forward(outputs, x, x_stride, n_tokens, pool, kernels());
  for (const LinearOutput& out : outputs) add_bias(*out.layer, n_tokens, out.y, out.y_stride);
}

}  // namespace nibble
