// The HTML quality report: self-contained (nothing fetched), every configuration and
// tensor drawn and tabulated, names escaped, and the JSON form carrying the same numbers.
#include <cmath>
#include <string>

#include <gtest/gtest.h>

#include "eval/quality_report.h"

namespace nibble {
namespace {

size_t count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) ++n;
  return n;
}

QualityReport sample() {
  QualityReport r;
  r.model = "models/<tiny>&.bin";
  r.text = "valid.txt";
  r.ctx = 256;
  r.chunks = 3;
  r.tokens_scored = 381;
  r.calibration = "8192 tokens of calibration.txt";
  r.float_ppl = 69.3885;
  const char* algorithms[] = {"rtn", "gptq"};
  for (int i = 0; i < 2; ++i) {
    ConfigQuality c;
    c.preset = "q4_g32";
    c.algorithm = algorithms[i];
    c.bits_per_weight = 4.5;
    c.ppl = 69.6 - 0.1 * i;
    c.kld = 0.0049 - 0.002 * i;
    c.same_top = 0.93;
    c.layers = {{"layers.0.self_attn.q_proj", "w4", 0.11}, {"lm_head", "w4", 0.07}, {"norm", "f32", 0.0}};
    r.configs.push_back(c);
  }
  return r;
}

TEST(QualityReport, DrawsEveryConfigurationAndTensorWithTheNumbersBeside) {
  const std::string html = render_quality_report_html(sample());
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(count(html, "<svg"), 3u) << "one perplexity chart and one tensor chart per configuration";
  EXPECT_EQ(count(html, "<circle"), 2u);
  EXPECT_EQ(count(html, "<rect x=\"210\""), 6u) << "one bar per tensor per configuration";
  EXPECT_EQ(count(html, "<td>layers.0.self_attn.q_proj</td>"), 2u);
  EXPECT_NE(html.find("0.002900"), std::string::npos) << "gptq's KL in the table";
  EXPECT_NE(html.find("<td>inf</td>"), std::string::npos) << "an exact (float) tensor has infinite SQNR";
}

TEST(QualityReport, IsSelfContainedAndEscapesNames) {
  const std::string html = render_quality_report_html(sample());
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find("href="), std::string::npos);
  // The only URL is the SVG namespace, which is a name, not a fetch.
  EXPECT_EQ(count(html, "http"), count(html, "xmlns=\"http://www.w3.org/2000/svg\""));
  EXPECT_EQ(html.find("<tiny>"), std::string::npos);
  EXPECT_NE(html.find("models/&lt;tiny&gt;&amp;.bin"), std::string::npos);
  EXPECT_EQ(html_escape("a\"b'c"), "a&quot;b&#39;c");
}

TEST(QualityReport, JsonCarriesTheSameNumbers) {
  const nlohmann::json j = quality_report_json(sample());
  ASSERT_EQ(j["configs"].size(), 2u);
  EXPECT_EQ(j["configs"][1]["algorithm"], "gptq");
  EXPECT_DOUBLE_EQ(j["configs"][1]["kld"].get<double>(), 0.0049 - 0.002);
  EXPECT_DOUBLE_EQ(j["configs"][0]["layers"][0]["sqnr_db"].get<double>(), -20.0 * std::log10(0.11));
  EXPECT_TRUE(j["configs"][0]["layers"][2]["sqnr_db"].is_null()) << "infinite SQNR has no JSON number";
  EXPECT_DOUBLE_EQ(j["float_ppl"].get<double>(), 69.3885);
}

}  // namespace
}  // namespace nibble
