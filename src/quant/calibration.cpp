#include "quant/calibration.h"

#include <algorithm>
#include <unordered_map>

#include <Eigen/Core>

#include "model/transformer.h"

namespace nibble {

namespace {

// Sums over the calibration tokens for one distinct layer input.
struct InputSums {
  std::vector<std::string> names;  // the layers reading this input
  std::vector<double> squares;     // sum of x_i^2
  Eigen::MatrixXd outer;           // sum of x x^T, when hessians are collected

  void add(const float* x, size_t stride, int n, bool hessians) {
    const size_t cols = squares.size();
    for (int t = 0; t < n; ++t) {
      const float* row = x + static_cast<size_t>(t) * stride;
      for (size_t i = 0; i < cols; ++i) squares[i] += static_cast<double>(row[i]) * row[i];
    }
    if (!hessians) return;
    using Rows = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    const Eigen::Map<const Rows, 0, Eigen::OuterStride<>> chunk(x, n, static_cast<Eigen::Index>(cols),
                                                              Eigen::OuterStride<>(static_cast<Eigen::Index>(stride)));
    // One chunk (at most ctx tokens) in float, then summed in double across chunks.
    const Eigen::MatrixXf product = chunk.transpose() * chunk;
    outer += product.cast<double>();
  }
};

}  // namespace

Result<CalibrationStats> collect_calibration(const Model& model, std::span<const int> tokens,
                                             const CalibrationOptions& options, ThreadPool& pool,
                                             const std::function<void(int, int)>& on_chunk) {
  if (model.weights.quantized_embedding || model.weights.classifier.quantized)
    return make_error("{}: calibration needs the float model, and this one is already quantized", model.path);
  if (options.max_tokens > 0 && static_cast<int64_t>(tokens.size()) > options.max_tokens)
    tokens = tokens.first(static_cast<size_t>(options.max_tokens));
  if (tokens.empty()) return make_error("calibration needs at least one token, got none");
  if (options.ctx < 1) return make_error("calibration chunk length must be at least 1, got {}", options.ctx);
  const int ctx = std::min(options.ctx, model.config.max_seq_len);

  std::unordered_map<const Linear*, std::string> names;
  for (const auto& [name, linear] : named_linears(model.weights)) names[linear] = name;
  // One InputSums per distinct input, found by the first layer that reads it.
  std::unordered_map<const Linear*, InputSums> sums;
  std::vector<const Linear*> input_order;  // first-seen order, for a stable result
  NIBBLE_ASSIGN_OR_RETURN(Transformer transformer, Transformer::create(model.config, model.weights, ctx, ctx, pool));
  transformer.set_linear_input_observer([&](std::span<const Linear* const> layers, const float* x, size_t stride,
                                            int n) {
    auto [it, inserted] = sums.try_emplace(layers[0]);
    InputSums& input = it->second;
    if (inserted) {
      // A tied lm_head has an empty Linear: its matrix is the embedding table, dim wide.
      const int cols = layers[0]->in_features() > 0 ? layers[0]->in_features() : model.config.dim;
      for (const Linear* layer : layers) input.names.push_back(names.at(layer));
      input.squares.assign(static_cast<size_t>(cols), 0.0);
      if (options.hessians) input.outer = Eigen::MatrixXd::Zero(cols, cols);
      input_order.push_back(layers[0]);
    }
    input.add(x, stride, n, options.hessians);
  });

  const size_t step = static_cast<size_t>(ctx);
  const int chunks = static_cast<int>((tokens.size() + step - 1) / step);
  // The classifier's input is needed too, so every token's logits are computed.
  std::vector<float> logits(step * static_cast<size_t>(model.config.vocab_size));
  for (int c = 0; c < chunks; ++c) {
    const size_t begin = static_cast<size_t>(c) * step;
    const auto chunk = tokens.subspan(begin, std::min(step, tokens.size() - begin));
    NIBBLE_CHECK_OK(transformer.forward(chunk, 0, static_cast<int>(chunk.size()), logits.data()));
    if (on_chunk) on_chunk(c + 1, chunks);
  }

  CalibrationStats stats;
  stats.tokens = static_cast<int64_t>(tokens.size());
  const double inverse_tokens = 1.0 / static_cast<double>(stats.tokens);
  for (const Linear* key : input_order) {
    const InputSums& input = sums.at(key);
    std::vector<float> mean(input.squares.size());
    for (size_t i = 0; i < mean.size(); ++i) mean[i] = static_cast<float>(input.squares[i] * inverse_tokens);
    std::shared_ptr<const std::vector<double>> hessian;
    if (options.hessians) {
      // The float products of a chunk may differ in the last bit between [i][j] and [j][i]
      // (the matrix product's blocking); averaging with the transpose makes the stored
      // matrix exactly symmetric, so its column-major storage is its row-major form too.
      const Eigen::MatrixXd symmetric = (input.outer + input.outer.transpose()) * (0.5 * inverse_tokens);
      hessian = std::make_shared<std::vector<double>>(symmetric.data(), symmetric.data() + symmetric.size());
    }
    for (const std::string& name : input.names) {
      stats.importance[name] = mean;
      if (hessian) stats.hessians[name] = hessian;
    }
  }
  return stats;
}

}  // namespace nibble
