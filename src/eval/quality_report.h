// The quantization quality report (`nibble report`): for each preset x algorithm, bits
// per weight, perplexity, KL divergence and same-top-token rate against the float model,
// quantize time, and every tensor's relative error and SQNR. Rendered as one
// self-contained HTML page: inline SVG charts (no scripts, fonts or links to fetch) with
// the numbers in tables beside them, so it can be mailed or archived as it is.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace nibble {

struct LayerQuality {
  std::string name;
  std::string scheme;
  double rel_rms_error = 0.0;  // ||W - dequant(W)|| / ||W||
  double sqnr_db() const;      // -20 log10(rel_rms_error); infinite for an exact tensor
};

struct ConfigQuality {
  std::string preset;
  std::string algorithm;
  double bits_per_weight = 0.0;
  double quantize_seconds = 0.0;
  double ppl = 0.0;
  double ppl_stderr = 0.0;
  double kld = 0.0;       // mean KL(float || quantized) per scored token, nats
  double kld_p99 = 0.0;
  double same_top = 0.0;  // fraction of tokens where both models' top token agree
  std::vector<LayerQuality> layers;
};

struct QualityReport {
  std::string model;  // as given on the command line
  std::string text;
  int ctx = 0;
  int chunks = 0;
  long long tokens_scored = 0;
  std::string calibration;  // file and tokens, or "none"
  double float_ppl = 0.0;
  std::vector<ConfigQuality> configs;
};

nlohmann::json quality_report_json(const QualityReport& report);
std::string render_quality_report_html(const QualityReport& report);

// Text safe inside HTML element content and attribute values.
std::string html_escape(const std::string& text);

}  // namespace nibble
