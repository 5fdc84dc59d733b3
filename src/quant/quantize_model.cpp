#include "quant/quantize_model.h"

#include <cmath>

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
                                          const std::function<void(int, int)>& on_tensor) {
  ModelWeights& w = model.weights;
  if (w.quantized_embedding || w.classifier.quantized)
    return make_error("{}: the model is already quantized", model.path);
  const bool tied = w.classifier.weight.data.empty();

  std::vector<Job> jobs;
  if (!tied) jobs.push_back({"embed_tokens", &w.token_embedding, nullptr, true, false});
  for (size_t l = 0; l < w.layers.size(); ++l) {
    auto& layer = w.layers[l];
    const std::string p = "layers." + std::to_string(l) + ".";
    jobs.push_back({p + "self_attn.q_proj", &layer.wq.weight, &layer.wq, false, false});
    jobs.push_back({p + "self_attn.k_proj", &layer.wk.weight, &layer.wk, false, false});
    jobs.push_back({p + "self_attn.v_proj", &layer.wv.weight, &layer.wv, false, false});
    jobs.push_back({p + "self_attn.o_proj", &layer.wo.weight, &layer.wo, false, false});
    jobs.push_back({p + "mlp.gate_proj", &layer.w_gate.weight, &layer.w_gate, false, false});
    jobs.push_back({p + "mlp.up_proj", &layer.w_up.weight, &layer.w_up, false, false});
    jobs.push_back({p + "mlp.down_proj", &layer.w_down.weight, &layer.w_down, false, false});
  }
  jobs.push_back({"lm_head", tied ? &w.token_embedding : &w.classifier.weight, &w.classifier, false, tied});

  QuantizationReport report;
  report.recipe = recipe.name;
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
  std::vector<Result<QuantizedMatrix>> results(jobs.size(), Error{"not run"});
  std::vector<TensorScheme> schemes(jobs.size());
  int done = 0;
  pool.parallel_for(jobs.size(), 1, [&](size_t begin, size_t end) {
    for (size_t j = begin; j < end; ++j) {
      schemes[j] = recipe.scheme_for(jobs[j].name);
      if (schemes[j].quantized)
        results[j] = quantize_matrix(*jobs[j].source, schemes[j].format, schemes[j].activation, jobs[j].name);
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
  model.recipe_json = recipe.to_json().dump();
  return report;
}

}  // namespace nibble
