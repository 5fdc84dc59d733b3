#include "eval/quality_report.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace nibble {

namespace {

// One colour per algorithm, in a fixed order so pages compare side by side.
const char* algorithm_colour(const std::string& algorithm) {
  if (algorithm == "rtn") return "#d62728";
  if (algorithm == "mse") return "#1f77b4";
  if (algorithm == "gptq") return "#2ca02c";
  if (algorithm == "awq") return "#9467bd";
  return "#7f7f7f";
}

std::string number(double v, int digits) {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  if (std::isnan(v)) return "nan";
  return fmt::format("{:.{}f}", v, digits);
}

// Perplexity against bits per weight: one dot per configuration, the float model's
// perplexity as a dashed line. Axes span the data with a 5% margin.
std::string ppl_chart(const QualityReport& r) {
  const double width = 560, height = 340, left = 64, right = 16, top = 16, bottom = 48;
  double x_lo = std::numeric_limits<double>::max(), x_hi = -x_lo, y_lo = r.float_ppl, y_hi = r.float_ppl;
  for (const ConfigQuality& c : r.configs) {
    x_lo = std::min(x_lo, c.bits_per_weight);
    x_hi = std::max(x_hi, c.bits_per_weight);
    y_lo = std::min(y_lo, c.ppl);
    y_hi = std::max(y_hi, c.ppl);
  }
  if (r.configs.empty()) x_lo = 0, x_hi = 1;
  const double x_pad = std::max(0.25, 0.05 * (x_hi - x_lo)), y_pad = std::max(1e-3, 0.05 * (y_hi - y_lo));
  x_lo -= x_pad, x_hi += x_pad, y_lo -= y_pad, y_hi += y_pad;
  auto px = [&](double x) { return left + (x - x_lo) / (x_hi - x_lo) * (width - left - right); };
  auto py = [&](double y) { return top + (y_hi - y) / (y_hi - y_lo) * (height - top - bottom); };

  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "role=\"img\" aria-label=\"perplexity against bits per weight\">\n",
      width, height);
  svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#999\"/>\n", left, top,
                     width - left - right, height - top - bottom);
  for (int i = 0; i <= 4; ++i) {  // y ticks
    const double y = y_lo + (y_hi - y_lo) * i / 4.0;
    svg += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">{}</text>\n", left - 4,
                       py(y) + 4, number(y, 3));
  }
  for (int i = 0; i <= 4; ++i) {  // x ticks
    const double x = x_lo + (x_hi - x_lo) * i / 4.0;
    svg += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">{}</text>\n", px(x),
                       height - bottom + 16, number(x, 2));
  }
  svg += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\">bits per weight</text>\n",
                     (left + width - right) / 2, height - 8);
  svg += fmt::format("<text x=\"14\" y=\"{0}\" font-size=\"12\" text-anchor=\"middle\" "
                     "transform=\"rotate(-90 14 {0})\">perplexity</text>\n",
                     (top + height - bottom) / 2);
  svg += fmt::format("<line x1=\"{0}\" x2=\"{1}\" y1=\"{2}\" y2=\"{2}\" stroke=\"#555\" stroke-dasharray=\"5 4\"/>\n",
                     left, width - right, py(r.float_ppl));
  svg += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"11\">float32 {}</text>\n", left + 4,
                     py(r.float_ppl) - 4, number(r.float_ppl, 3));
  // Configurations of equal size and near-equal perplexity would print their labels on
  // top of each other: each label moves down until it clears the ones already placed.
  std::vector<std::pair<double, double>> placed;
  for (const ConfigQuality& c : r.configs) {
    double label_y = py(c.ppl) + 3;
    for (bool moved = true; moved;) {
      moved = false;
      for (const auto& [x, y] : placed) {
        if (std::fabs(x - px(c.bits_per_weight)) < 90 && std::fabs(y - label_y) < 11) {
          label_y = y + 11;
          moved = true;
        }
      }
    }
    placed.emplace_back(px(c.bits_per_weight), label_y);
    svg += fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"5\" fill=\"{}\"><title>{} {}: {} bpw, ppl {}</title></circle>\n",
                       px(c.bits_per_weight), py(c.ppl), algorithm_colour(c.algorithm), html_escape(c.preset),
                       html_escape(c.algorithm), number(c.bits_per_weight, 3), number(c.ppl, 4));
    svg += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"{}\">{} {}</text>\n",
                       px(c.bits_per_weight) + (px(c.bits_per_weight) > width / 2 ? -7 : 7), label_y,
                       px(c.bits_per_weight) > width / 2 ? "end" : "start", html_escape(c.preset),
                       html_escape(c.algorithm));
  }
  return svg + "</svg>\n";
}

// One horizontal bar per tensor: its relative RMS error, on a scale shared by every
// configuration of the page so their bars compare directly.
std::string layer_chart(const ConfigQuality& c, double max_error) {
  const double bar_height = 12, gap = 3, label = 210, plot = 300, right = 70;
  const double height = 8 + c.layers.size() * (bar_height + gap);
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "role=\"img\" aria-label=\"relative error per tensor\">\n",
      label + plot + right, height);
  double y = 4;
  for (const LayerQuality& l : c.layers) {
    const double w = max_error > 0.0 ? plot * l.rel_rms_error / max_error : 0.0;
    svg += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"end\">{}</text>\n", label - 4,
                       y + bar_height - 2, html_escape(l.name));
    svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"><title>{}: {}</title></rect>\n",
                       label, y, w, bar_height, algorithm_colour(c.algorithm), html_escape(l.name),
                       number(l.rel_rms_error, 5));
    svg += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"10\">{}</text>\n", label + w + 4, y + bar_height - 2,
                       number(l.rel_rms_error, 4));
    y += bar_height + gap;
  }
  return svg + "</svg>\n";
}

}  // namespace

double LayerQuality::sqnr_db() const {
  return rel_rms_error > 0.0 ? -20.0 * std::log10(rel_rms_error) : std::numeric_limits<double>::infinity();
}

std::string html_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += ch;
    }
  }
  return out;
}

nlohmann::json quality_report_json(const QualityReport& r) {
  nlohmann::json configs = nlohmann::json::array();
  for (const ConfigQuality& c : r.configs) {
    nlohmann::json layers = nlohmann::json::array();
    for (const LayerQuality& l : c.layers) {
      const double sqnr = l.sqnr_db();
      layers.push_back({{"name", l.name},
                        {"scheme", l.scheme},
                        {"rel_rms_error", l.rel_rms_error},
                        {"sqnr_db", std::isfinite(sqnr) ? nlohmann::json(sqnr) : nlohmann::json(nullptr)}});
    }
    configs.push_back({{"preset", c.preset}, {"algorithm", c.algorithm}, {"bits_per_weight", c.bits_per_weight},
                       {"quantize_s", c.quantize_seconds}, {"ppl", c.ppl}, {"ppl_stderr", c.ppl_stderr},
                       {"kld", c.kld}, {"kld_p99", c.kld_p99}, {"same_top", c.same_top}, {"layers", layers}});
  }
  return {{"model", r.model}, {"text", r.text}, {"ctx", r.ctx}, {"chunks", r.chunks},
          {"tokens_scored", r.tokens_scored}, {"calibration", r.calibration}, {"float_ppl", r.float_ppl},
          {"configs", configs}};
}

std::string render_quality_report_html(const QualityReport& r) {
  std::string html =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<title>nibble quality report</title>\n<style>\n"
      "body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse;font-size:13px}"
      "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}"
      ".row{display:flex;gap:32px;align-items:flex-start;flex-wrap:wrap}h2{margin-top:32px}\n"
      "</style>\n</head>\n<body>\n";
  html += fmt::format("<h1>nibble quality report</h1>\n<p>Model <code>{}</code>; text <code>{}</code>, ctx {}, {} "
                      "chunks, {} tokens scored; calibration {}. Float32 perplexity {}.</p>\n",
                      html_escape(r.model), html_escape(r.text), r.ctx, r.chunks, r.tokens_scored,
                      html_escape(r.calibration), number(r.float_ppl, 4));

  html += "<h2>Perplexity against size</h2>\n<div class=\"row\">\n" + ppl_chart(r);
  html += "<table>\n<tr><th>preset</th><th>algorithm</th><th>bits/weight</th><th>ppl</th><th>&#916;ppl</th>"
          "<th>KL mean</th><th>KL p99</th><th>same top</th><th>quantize s</th></tr>\n";
  for (const ConfigQuality& c : r.configs)
    html += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{} &#177; {}</td><td>{:+.4f}</td><td>{}</td>"
                        "<td>{}</td><td>{}%</td><td>{}</td></tr>\n",
                        html_escape(c.preset), html_escape(c.algorithm), number(c.bits_per_weight, 3),
                        number(c.ppl, 4), number(c.ppl_stderr, 4), c.ppl - r.float_ppl, number(c.kld, 6),
                        number(c.kld_p99, 6), number(100.0 * c.same_top, 2), number(c.quantize_seconds, 2));
  html += "</table>\n</div>\n";

  double max_error = 0.0;
  for (const ConfigQuality& c : r.configs)
    for (const LayerQuality& l : c.layers) max_error = std::max(max_error, l.rel_rms_error);
  html += "<h2>Error per tensor</h2>\n<p>Relative RMS error ||W &#8722; Q|| / ||W|| of each stored tensor "
          "(one scale for every chart); SQNR = &#8722;20 log10 of it.</p>\n";
  for (const ConfigQuality& c : r.configs) {
    html += fmt::format("<h3>{} {}</h3>\n<div class=\"row\">\n", html_escape(c.preset), html_escape(c.algorithm));
    html += layer_chart(c, max_error);
    html += "<table>\n<tr><th>tensor</th><th>scheme</th><th>rel. error</th><th>SQNR dB</th></tr>\n";
    for (const LayerQuality& l : c.layers)
      html += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n", html_escape(l.name),
                          html_escape(l.scheme), number(l.rel_rms_error, 5), number(l.sqnr_db(), 2));
    html += "</table>\n</div>\n";
  }
  return html + "</body>\n</html>\n";
}

}  // namespace nibble
