#include "quant/gptq.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include <Eigen/Cholesky>
#include <Eigen/Core>

#include "quant/scale_search.h"

namespace nibble {

namespace {

using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// The levels one element may take under its group's scale and zero point.
struct GroupGrid {
  float scale = 0.0f;
  int zero = 0;  // int4 asym only
};

struct CodecLimits {
  int lo, hi;  // signed code range (asym: the stored level range)
};

CodecLimits limits_of(WeightCodec codec) {
  switch (codec) {
    case WeightCodec::kInt8Sym: return {-127, 127};
    case WeightCodec::kInt4Sym: return {-8, 7};
    case WeightCodec::kInt4Asym: return {0, 15};
  }
  return {0, 0};
}

// The scale search of scale_search.h on one group of the current weights.
GroupGrid choose_grid(WeightCodec codec, ScaleType type, const float* x, const float* importance, int n) {
  thread_local std::vector<int8_t> codes;
  thread_local std::vector<uint8_t> levels;
  codes.resize(static_cast<size_t>(n));
  levels.resize(static_cast<size_t>(n));
  GroupGrid grid;
  switch (codec) {
    case WeightCodec::kInt8Sym: grid.scale = search_group_int8_sym(x, importance, n, type, codes.data()); break;
    case WeightCodec::kInt4Sym: grid.scale = search_group_int4_sym(x, importance, n, type, codes.data()); break;
    case WeightCodec::kInt4Asym: {
      uint8_t zero = 0;
      grid.scale = search_group_int4_asym(x, importance, n, type, levels.data(), &zero);
      grid.zero = zero;
      break;
    }
  }
  return grid;
}

// The stored level of w under `grid` (sym: the signed code; asym: q), and its value.
int round_to_grid(double w, const GroupGrid& grid, CodecLimits limits, bool asym, double* value) {
  if (grid.scale == 0.0f) {  // an all-zero group: every weight stores as zero
    *value = 0.0;
    return asym ? grid.zero : 0;
  }
  const float inverse = 1.0f / grid.scale;
  if (asym) {
    const int q = nearest_level(static_cast<float>(w), inverse, -grid.zero, limits.hi - grid.zero) + grid.zero;
    *value = static_cast<double>(static_cast<float>(q - grid.zero) * grid.scale);
    return q;
  }
  const int c = nearest_level(static_cast<float>(w), inverse, limits.lo, limits.hi);
  *value = static_cast<double>(static_cast<float>(c) * grid.scale);
  return c;
}

}  // namespace

std::vector<double> tied_table_hessian(std::span<const double> classifier_hessian, int cols, double identity_weight) {
  const size_t n = static_cast<size_t>(cols);
  std::vector<double> h(classifier_hessian.begin(), classifier_hessian.end());
  if (h.size() != n * n) return h;  // gptq_quantize reports the wrong size
  double mean = 0.0;
  for (size_t i = 0; i < n; ++i) mean += h[i * n + i];
  mean /= static_cast<double>(n);
  if (mean > 0.0)
    for (double& v : h) v /= mean;
  for (size_t i = 0; i < n; ++i) h[i * n + i] += identity_weight;
  return h;
}

Result<QuantizedMatrix> gptq_quantize(const DenseMatrix& w, const QuantFormat& format, ActivationMode activation,
                                      const std::string& name, std::span<const double> hessian,
                                      const GptqOptions& options) {
  NIBBLE_CHECK_OK(validate_quantize_input(w, format, activation, name));
  const int rows = w.rows, cols = w.cols;
  if (hessian.size() != static_cast<size_t>(cols) * cols)
    return make_error("{}: the Hessian has {} entries; a layer with {} inputs needs {} x {}", name, hessian.size(),
                      cols, cols, cols);
  for (size_t i = 0; i < hessian.size(); ++i)
    if (!std::isfinite(hessian[i]))
      return make_error("{}: Hessian entry [{}][{}] is {}; it must be finite", name, i / cols, i % cols, hessian[i]);
  if (!(options.damp > 0.0 && options.damp <= 1.0))
    return make_error("{}: GPTQ damping must be in (0, 1], got {}", name, options.damp);
  if (options.block < 1) return make_error("{}: GPTQ block must be at least 1 column, got {}", name, options.block);

  Matrix h = Eigen::Map<const Matrix>(hessian.data(), cols, cols);
  // A dead input (never non-zero on the calibration text) has H_ii = 0: give it 1 so the
  // factorisation exists; its column then gets plain rounding and passes no error on.
  for (int i = 0; i < cols; ++i)
    if (h(i, i) <= 0.0) h(i, i) = 1.0;
  const std::vector<float> importance = [&] {
    std::vector<float> d(static_cast<size_t>(cols));
    for (int i = 0; i < cols; ++i) d[static_cast<size_t>(i)] = static_cast<float>(h(i, i));
    return d;
  }();
  h.diagonal().array() += options.damp * h.diagonal().mean();

  // Visiting order: natural, or by decreasing H_ii (stable, so ties keep natural order).
  std::vector<int> order(static_cast<size_t>(cols));
  std::iota(order.begin(), order.end(), 0);
  if (options.act_order)
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return h(a, a) > h(b, b); });
  Matrix hp(cols, cols), wp(rows, cols);
  for (int j = 0; j < cols; ++j) {
    for (int i = 0; i < cols; ++i) hp(i, j) = h(order[static_cast<size_t>(i)], order[static_cast<size_t>(j)]);
    for (int r = 0; r < rows; ++r) wp(r, j) = w.row(r)[order[static_cast<size_t>(j)]];
  }

  Eigen::LLT<Matrix> factor(hp);
  if (factor.info() != Eigen::Success)
    return make_error("{}: the damped Hessian is not positive definite (damp {}); use more calibration text or "
                      "more damping", name, options.damp);
  const Matrix inverse = factor.solve(Matrix::Identity(cols, cols));
  Eigen::LLT<Matrix> inverse_factor(inverse);
  if (inverse_factor.info() != Eigen::Success)
    return make_error("{}: the inverse Hessian lost positive definiteness in rounding (damp {}); use more damping",
                      name, options.damp);
  const Matrix u = inverse_factor.matrixU();

  QuantizedMatrix m = allocate_quantized(format, activation, rows, cols);
  const int group = m.group;
  const bool asym = format.asymmetric();
  const CodecLimits limits = limits_of(format.codec);
  std::vector<GroupGrid> grids(static_cast<size_t>(rows) * m.n_groups);
  std::vector<float> scratch(static_cast<size_t>(group));
  // Chooses group g's grid for every row from `source` (the original weights, or the
  // current ones when columns are visited in natural order: then column index = position).
  auto choose_groups = [&](int g, const auto& row_value) {
    const int begin = g * group, n = std::min(group, cols - begin);
    for (int r = 0; r < rows; ++r) {
      for (int i = 0; i < n; ++i) scratch[static_cast<size_t>(i)] = static_cast<float>(row_value(r, begin + i));
      grids[static_cast<size_t>(r) * m.n_groups + g] =
          choose_grid(format.codec, format.scale_type, scratch.data(), importance.data() + begin, n);
    }
  };
  if (options.act_order)
    for (int g = 0; g < m.n_groups; ++g) choose_groups(g, [&](int r, int c) { return w.row(r)[c]; });

  std::vector<int> levels(static_cast<size_t>(rows) * cols);  // by original column
  Matrix error(rows, std::min(options.block, cols));
  for (int b0 = 0; b0 < cols; b0 += options.block) {
    const int b1 = std::min(cols, b0 + options.block);
    for (int j = b0; j < b1; ++j) {
      const int c = order[static_cast<size_t>(j)];
      const int g = c / group;
      if (!options.act_order && c % group == 0) choose_groups(g, [&](int r, int i) { return wp(r, i); });
      const double d = u(j, j);
      for (int r = 0; r < rows; ++r) {
        double value = 0.0;
        levels[static_cast<size_t>(r) * cols + c] =
            round_to_grid(wp(r, j), grids[static_cast<size_t>(r) * m.n_groups + g], limits, asym, &value);
        error(r, j - b0) = (wp(r, j) - value) / d;
      }
      // Feedback to the block's remaining columns now; to later blocks once per block.
      const int rest = b1 - j - 1;
      if (rest > 0) wp.block(0, j + 1, rows, rest).noalias() -= error.col(j - b0) * u.block(j, j + 1, 1, rest);
    }
    if (b1 < cols)
      wp.rightCols(cols - b1).noalias() -= error.leftCols(b1 - b0) * u.block(b0, b1, b1 - b0, cols - b1);
  }

  std::vector<uint8_t> nibbles(static_cast<size_t>(cols));
  for (int r = 0; r < rows; ++r) {
    for (int g = 0; g < m.n_groups; ++g) {
      const GroupGrid& grid = grids[static_cast<size_t>(r) * m.n_groups + g];
      set_group_scale(m, r, g, grid.scale);
      if (asym) m.zero_points[static_cast<size_t>(r) * m.n_groups + g] = static_cast<uint8_t>(grid.zero);
    }
    const int* row = levels.data() + static_cast<size_t>(r) * cols;
    if (format.codec == WeightCodec::kInt8Sym) {
      uint8_t* out = m.codes.data() + static_cast<size_t>(r) * m.row_bytes;
      for (int i = 0; i < cols; ++i) out[i] = static_cast<uint8_t>(static_cast<int8_t>(row[i]));
    } else {
      for (int i = 0; i < cols; ++i) nibbles[static_cast<size_t>(i)] = static_cast<uint8_t>(asym ? row[i] : row[i] + 8);
      pack_int4_row(m, r, nibbles.data());
    }
  }
  if (activation == ActivationMode::kInt8Token) derive_a8_data(m);
  return m;
}

}  // namespace nibble
