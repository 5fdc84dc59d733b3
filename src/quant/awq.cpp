#include "quant/awq.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <memory>

#include <Eigen/Core>

#include "quant/quantized_matrix.h"

namespace nibble {

namespace {

using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

struct Consumer {
  std::string name;
  Linear* linear;
};

// W := W diag(s): the consumer side of a fold.
void scale_columns(DenseMatrix& w, const std::vector<double>& s) {
  for (int r = 0; r < w.rows; ++r)
    for (int i = 0; i < w.cols; ++i) w.row(r)[i] = static_cast<float>(w.row(r)[i] * s[static_cast<size_t>(i)]);
}

// tr((W - Q(W diag s) / s) H (...)^T): the layer-output error on the calibration inputs
// (per token) when the scaled matrix is quantized with `format`.
double scaled_output_error(const DenseMatrix& w, const TensorScheme& scheme, const std::vector<double>& s,
                           const Matrix& h, const std::string& name) {
  DenseMatrix scaled;
  scaled.rows = w.rows;
  scaled.cols = w.cols;
  scaled.data = std::vector<float>(w.data.begin(), w.data.end());
  scale_columns(scaled, s);
  auto q = quantize_matrix(scaled, scheme.format, scheme.activation, name);
  if (!q.ok()) return std::numeric_limits<double>::infinity();
  Matrix delta(w.rows, w.cols);
  std::vector<float> row(static_cast<size_t>(w.cols));
  for (int r = 0; r < w.rows; ++r) {
    q->dequantize_row(r, row.data());
    for (int i = 0; i < w.cols; ++i)
      delta(r, i) = static_cast<double>(w.row(r)[i]) - row[static_cast<size_t>(i)] / s[static_cast<size_t>(i)];
  }
  return (delta * h).cwiseProduct(delta).sum();
}

class PairScaler {
 public:
  PairScaler(const Recipe& recipe, CalibrationStats& stats, const AwqOptions& options)
      : recipe_(recipe), stats_(stats), options_(options) {}

  // Searches alpha for `consumers` (which read one input) and, if it helps, scales their
  // columns by s and calls fold(s) to divide the producer by s.
  AwqPair scale(const std::string& producer, const std::vector<Consumer>& consumers,
                const std::function<void(const std::vector<double>&)>& fold) {
    AwqPair pair;
    pair.producer = producer;
    for (const Consumer& c : consumers) pair.layers.push_back(c.name);
    const auto& importance = stats_.importance.at(consumers.front().name);
    const size_t cols = importance.size();
    const Matrix h = Eigen::Map<const Matrix>(stats_.hessians.at(consumers.front().name)->data(),
                                              static_cast<Eigen::Index>(cols), static_cast<Eigen::Index>(cols));
    std::vector<TensorScheme> schemes;
    for (const Consumer& c : consumers) schemes.push_back(recipe_.scheme_for(c.name));
    auto error_at = [&](const std::vector<double>& s) {
      double sum = 0.0;
      for (size_t k = 0; k < consumers.size(); ++k)
        if (schemes[k].quantized) sum += scaled_output_error(consumers[k].linear->weight, schemes[k], s, h, consumers[k].name);
      return sum;
    };
    const std::vector<double> ones(cols, 1.0);
    pair.error_before = pair.error_after = error_at(ones);
    std::vector<double> best = ones;
    for (int step = 1; step < options_.grid; ++step) {
      const double alpha = static_cast<double>(step) / options_.grid;
      std::vector<double> s(cols);
      for (size_t i = 0; i < cols; ++i) s[i] = std::max(1e-4, std::pow(std::sqrt(static_cast<double>(importance[i])), alpha));
      const auto [lo, hi] = std::minmax_element(s.begin(), s.end());
      const double norm = std::sqrt(*lo * *hi);
      // Powers of two: multiplying by s and dividing by s is then exact in float, so the
      // folded float model computes bit for bit what the original did.
      for (double& v : s) v = std::exp2(std::clamp(std::round(std::log2(v / norm)), -20.0, 20.0));
      const double error = error_at(s);
      if (error < pair.error_after) {
        pair.error_after = error;
        pair.alpha = alpha;
        best = s;
      }
    }
    if (pair.alpha == 0.0) return pair;
    for (const Consumer& c : consumers) scale_columns(c.linear->weight, best);
    fold(best);
    rescale_statistics(consumers, best);
    return pair;
  }

 private:
  // The consumers now read x / s: importance_i / s_i^2 and H_ij / (s_i s_j), one new
  // matrix shared by every consumer as before.
  void rescale_statistics(const std::vector<Consumer>& consumers, const std::vector<double>& s) {
    const size_t n = s.size();
    const std::vector<double>& old_h = *stats_.hessians.at(consumers.front().name);
    auto h = std::make_shared<std::vector<double>>(old_h);
    for (size_t i = 0; i < n; ++i)
      for (size_t j = 0; j < n; ++j) (*h)[i * n + j] /= s[i] * s[j];
    std::vector<float> importance = stats_.importance.at(consumers.front().name);
    for (size_t i = 0; i < n; ++i) importance[i] = static_cast<float>(importance[i] / (s[i] * s[i]));
    for (const Consumer& c : consumers) {
      stats_.hessians[c.name] = h;
      stats_.importance[c.name] = importance;
    }
  }

  const Recipe& recipe_;
  CalibrationStats& stats_;
  const AwqOptions& options_;
};

void divide_gain(std::vector<float>& gain, const std::vector<double>& s) {
  for (size_t i = 0; i < gain.size(); ++i) gain[i] = static_cast<float>(gain[i] / s[i]);
}

// Divides output row c (and its bias) of `producer` by s_c.
void divide_rows(Linear& producer, const std::vector<double>& s) {
  DenseMatrix& w = producer.weight;
  for (int r = 0; r < w.rows; ++r)
    for (int i = 0; i < w.cols; ++i) w.row(r)[i] = static_cast<float>(w.row(r)[i] / s[static_cast<size_t>(r)]);
  for (size_t r = 0; r < producer.bias.size(); ++r) producer.bias[r] = static_cast<float>(producer.bias[r] / s[r]);
}

}  // namespace

Result<std::vector<AwqPair>> apply_awq(Model& model, const Recipe& recipe, CalibrationStats& stats,
                                       const AwqOptions& options) {
  ModelWeights& w = model.weights;
  if (w.quantized_embedding || w.classifier.quantized)
    return make_error("{}: AWQ scales a float model, and this one is already quantized", model.path);
  if (stats.hessians.empty()) return make_error("AWQ needs calibration statistics with each layer's Hessian");
  if (options.grid < 1) return make_error("AWQ grid must have at least 1 point, got {}", options.grid);
  for (const auto& [name, linear] : named_linears(w))
    if (!stats.hessians.count(name) || !stats.importance.count(name))
      return make_error("AWQ: no calibration statistics for layer {}", name);

  PairScaler scaler(recipe, stats, options);
  std::vector<AwqPair> pairs;
  const bool gqa = model.config.n_kv_heads != model.config.n_heads;
  for (size_t l = 0; l < w.layers.size(); ++l) {
    LayerWeights& layer = w.layers[l];
    const std::string p = "layers." + std::to_string(l) + ".";
    pairs.push_back(scaler.scale(p + "input_layernorm",
                                 {{p + "self_attn.q_proj", &layer.wq}, {p + "self_attn.k_proj", &layer.wk},
                                  {p + "self_attn.v_proj", &layer.wv}},
                                 [&](const std::vector<double>& s) { divide_gain(layer.attn_norm, s); }));
    if (gqa) {
      AwqPair skipped;
      skipped.producer = p + "self_attn.v_proj";
      skipped.layers = {p + "self_attn.o_proj"};
      skipped.skipped = "grouped-query attention: o_proj reads each v channel through several heads";
      pairs.push_back(skipped);
    } else {
      pairs.push_back(scaler.scale(p + "self_attn.v_proj", {{p + "self_attn.o_proj", &layer.wo}},
                                   [&](const std::vector<double>& s) { divide_rows(layer.wv, s); }));
    }
    pairs.push_back(scaler.scale(p + "post_attention_layernorm",
                                 {{p + "mlp.gate_proj", &layer.w_gate}, {p + "mlp.up_proj", &layer.w_up}},
                                 [&](const std::vector<double>& s) { divide_gain(layer.ffn_norm, s); }));
    pairs.push_back(scaler.scale(p + "mlp.up_proj", {{p + "mlp.down_proj", &layer.w_down}},
                                 [&](const std::vector<double>& s) { divide_rows(layer.w_up, s); }));
  }
  if (w.classifier.weight.data.empty()) {
    AwqPair skipped;
    skipped.producer = "norm";
    skipped.layers = {"lm_head"};
    skipped.skipped = "tied lm_head: its columns are the embedding table's too";
    pairs.push_back(skipped);
  } else {
    pairs.push_back(scaler.scale("norm", {{"lm_head", &w.classifier}},
                                 [&](const std::vector<double>& s) { divide_gain(w.final_norm, s); }));
  }
  return pairs;
}

}  // namespace nibble
