#include "quant/quantize_model.h"

#include <cmath>

#include <fmt/format.h>

#include "quant/quantized_matrix.h"

namespace nibble {

namespace {

double relative_rms_error(const DenseMatrix& w, const QuantizedMatrix& q) {
  double err = 0.0, norm = 0.0;
  std::vector<float> row(static_cast<size_t>(w.cols));
  for (int r = 0; r < w.rows; ++r) {
    q.dequantize_row(r, row.data());
    const float* orig = w.row(r);
    for (int i = 0; i < w.cols; ++i) {
      const double d = static_cast<double>(orig[i]) - row[static_cast<size_t>(i)];
      err += d * d;
      norm += static_cast<double>(orig[i]) * orig[i];
    }
  }
  return norm > 0.0 ? std::sqrt(err / norm) : 0.0;
}

struct Job {
  std::string name;
  DenseMatrix* source;       // released after quantizing
  Linear* linear;            // where the result goes (null for the embedding)
  bool is_embedding;
  bool tied;                 // the classifier that also serves as embedding
};

}  // namespace

Result<QuantizationReport> quantize_model(Model& model, const Recipe& recipe, ThreadPool& pool,
                                          const std::function<void(int, int)>& on_tensor,
                                          const QuantizeModelOptions& options) {
  ModelWeights& w = model.weights;
  if (w.quantized_embedding || w.classifier.quantized)
    return make_error("{}: the model is already quantized", model.path);
  const bool tied = w.classifier.weight.data.empty();

  std::vector<Job> jobs;
  if (!tied) jobs.push_back({"embed_tokens", &w.token_embedding, nullptr, true, false});
  for (auto& [name, linear] : named_linears(w)) {
    const bool classifier = linear == &w.classifier;
    jobs.push_back({name, classifier && tied ? &w.token_embedding : &linear->weight, linear, false,
                    classifier && tied});
  }

  QuantizationReport report;
  report.recipe = recipe.name;
  report.algorithm = algorithm_name(options.algorithm);
  // Validate every tensor's scheme first so a bad recipe changes nothing.
  for (const Job& job : jobs) {
    TensorScheme s = recipe.scheme_for(job.name);
    if (s.quantized) NIBBLE_CHECK_OK(validate_format(s.format, job.source->cols, job.name));
    if (s.quantized && s.activation == ActivationMode::kInt8Token && s.format.asymmetric())
      return make_error("{}: scheme {} pairs int8 activations with asymmetric weights, which is not supported",
                        job.name, s.name());
  }
  // Tensors are quantized one after another, each with the pool over its rows... except
  // that quantize_matrix is serial; tensors are independent, so run them in parallel.
  const bool gptq = options.algorithm == QuantAlgorithm::kGptq;
  const bool awq = options.algorithm == QuantAlgorithm::kAwq;
  if ((gptq || awq) && (options.calibration == nullptr || options.calibration->hessians.empty()))
    return make_error("{}: --algo {} needs calibration statistics with each layer's Hessian", model.path,
                      report.algorithm);
  // AWQ rescales the float model first; the scale search that follows then sees the
  // rescaled channels' statistics.
  const CalibrationStats* calibration = options.calibration;
  CalibrationStats awq_stats;
  if (awq) {
    awq_stats = *options.calibration;
    NIBBLE_ASSIGN_OR_RETURN(report.awq_pairs, apply_awq(model, recipe, awq_stats, options.awq));
    calibration = &awq_stats;
  }
  std::vector<Result<QuantizedMatrix>> results(jobs.size(), Error{"not run"});
  std::vector<TensorScheme> schemes(jobs.size());
  std::vector<std::string> notes(jobs.size());
  int done = 0;
  pool.parallel_for(jobs.size(), 1, [&](size_t begin, size_t end) {
    for (size_t j = begin; j < end; ++j) {
      const Job& job = jobs[j];
      schemes[j] = recipe.scheme_for(job.name);
      if (!schemes[j].quantized) continue;
      if (gptq && !job.is_embedding) {
        auto it = options.calibration->hessians.find(job.name);
        if (it == options.calibration->hessians.end()) {
          results[j] = make_error("{}: no calibration Hessian for this layer", job.name);
          continue;
        }
        std::span<const double> hessian = *it->second;
        std::vector<double> tied_hessian;
        if (job.tied) {
          // The table is also the embedding: its row error counts too (gptq.h).
          tied_hessian = tied_table_hessian(hessian, job.source->cols, options.gptq.tied_identity_weight);
          hessian = tied_hessian;
          notes[j] = fmt::format("gptq on the classifier Hessian + {} x identity (the embedding's row error)",
                                 options.gptq.tied_identity_weight);
        }
        results[j] = gptq_quantize(*job.source, schemes[j].format, schemes[j].activation, job.name, hessian,
                                   options.gptq);
        continue;
      }
      QuantizeOptions tensor_options;
      tensor_options.algorithm = awq ? QuantAlgorithm::kMse : options.algorithm;
      if (gptq) {
        // GPTQ minimises a layer's output error; an embedding table is read row by row,
        // so it keeps the plain weight-error search.
        tensor_options.algorithm = QuantAlgorithm::kMse;
        notes[j] = "gptq does not apply to an embedding table: unweighted mse search";
      } else if (calibration != nullptr) {
        auto it = calibration->importance.find(job.name);
        if (it != calibration->importance.end()) tensor_options.importance = it->second;
      }
      results[j] = quantize_matrix(*job.source, schemes[j].format, schemes[j].activation, job.name, tensor_options);
    }
  });
  for (size_t j = 0; j < jobs.size(); ++j) {
    Job& job = jobs[j];
    const TensorScheme& s = schemes[j];
    TensorReport entry;
    entry.name = job.name;
    entry.scheme = s.name();
    entry.weights = static_cast<int64_t>(job.source->rows) * job.source->cols;
    if (job.tied) entry.note = "tied: one copy also serves embed_tokens (lm_head setting decides)";
    if (!notes[j].empty()) entry.note += (entry.note.empty() ? "" : "; ") + notes[j];
    if (!s.quantized) {
      entry.bytes = static_cast<uint64_t>(entry.weights) * 4;
    } else {
      if (!results[j].ok()) return results[j].error();
      auto q = std::make_shared<QuantizedMatrix>(std::move(results[j].value()));
      entry.bits = q->format.bits();
      entry.group = q->group;
      entry.ragged = q->ragged();
      entry.rel_rms_error = relative_rms_error(*job.source, *q);
      entry.bytes = q->stored_bytes();
      if (job.is_embedding) {
        w.quantized_embedding = q;
      } else {
        job.linear->quantized = q;
        if (job.tied) w.quantized_embedding = q;
      }
      *job.source = DenseMatrix{};  // the float copy is no longer needed
    }
    report.total_weights += entry.weights;
    report.total_bytes += entry.bytes;
    report.tensors.push_back(std::move(entry));
    if (on_tensor) on_tensor(++done, static_cast<int>(jobs.size()));
  }
  // RTN files keep the plain recipe (their bytes do not change); others say how they were made.
  nlohmann::json made_with = recipe.to_json();
  if (options.algorithm != QuantAlgorithm::kRtn) {
    made_with["algorithm"] = report.algorithm;
    made_with["calibration_tokens"] = options.calibration != nullptr ? options.calibration->tokens : 0;
    if (gptq) {
      made_with["gptq"] = {{"damp", options.gptq.damp}, {"block", options.gptq.block},
                           {"act_order", options.gptq.act_order},
                           {"tied_identity_weight", options.gptq.tied_identity_weight}};
    }
  }
  model.recipe_json = made_with.dump();
  return report;
}

}  // namespace nibble
