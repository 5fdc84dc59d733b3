// nibble bench: prefill and decode speed of a model, llama-bench style (pp = one batch of
// -p prompt tokens from position 0; tg = -n tokens decoded one at a time from position 0),
// with the bytes a decoded token reads and the bandwidth that implies. With --dram it also
// reads the machine's DRAM bandwidth (DramProbe) right before every timed decode run and
// after the last, and reports each run's bandwidth as a share of the mean of the readings on
// either side of it: this VM's bandwidth drifts by a third over minutes, so a ceiling
// measured in another process, or even a minute apart, says little about one run.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "core/stopwatch.h"
#include "load.h"
#include "kernels/dram_probe.h"
#include "kernels/kernel_table.h"
#include "model/transformer.h"
#include "quant/quantized_matrix.h"

namespace nibble::cli {

namespace {

struct BenchArgs {
  ModelArgs model_args;
  int prompt = 128;
  int generate = 128;
  int repetitions = 5;
  int threads = default_threads();
  bool json = false;
  bool dram = false;
};

struct Stats {
  double median = 0, mean = 0, stddev = 0, min = 0, max = 0;
};

Stats stats_of(std::vector<double> v) {
  Stats s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  s.median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
  s.min = v.front();
  s.max = v.back();
  for (double x : v) s.mean += x / static_cast<double>(n);
  for (double x : v) s.stddev += (x - s.mean) * (x - s.mean);
  s.stddev = n > 1 ? std::sqrt(s.stddev / static_cast<double>(n - 1)) : 0.0;
  return s;
}

uint64_t matrix_bytes(const Linear& l) {
  if (l.quantized) return l.quantized->stored_bytes();
  return static_cast<uint64_t>(l.weight.data.size()) * sizeof(float);
}

// Weight bytes one decoded token reads: every linear layer and the classifier in full,
// one embedding row, the norms and biases.
uint64_t weight_bytes_per_token(const Model& model) {
  const ModelWeights& w = model.weights;
  uint64_t bytes = 0;
  for (const LayerWeights& l : w.layers) {
    for (const Linear* lin : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down})
      bytes += matrix_bytes(*lin) + lin->bias.size() * sizeof(float);
    bytes += (l.attn_norm.size() + l.ffn_norm.size()) * sizeof(float);
  }
  bytes += w.final_norm.size() * sizeof(float);
  if (w.classifier.quantized || !w.classifier.weight.data.empty()) {
    bytes += matrix_bytes(w.classifier);
  } else {
    bytes += static_cast<uint64_t>(w.token_embedding.data.size()) * sizeof(float);  // tied float classifier
  }
  const uint64_t table = w.quantized_embedding ? w.quantized_embedding->stored_bytes()
                                               : w.token_embedding.data.size() * sizeof(float);
  bytes += table / static_cast<uint64_t>(model.config.vocab_size);  // one row
  return bytes;
}

// KV-cache bytes a decoded token reads, averaged over a run of `n_decoded` tokens from
// position 0: the token at position i attends to the float32 keys and values of positions
// 0..i in every layer, so a run reads (n_decoded + 1) / 2 positions per token on average
// (a whole number of bytes: a position's bytes are even).
uint64_t kv_bytes_per_decoded_token(const ModelConfig& c, int n_decoded) {
  const uint64_t per_position = 2 * static_cast<uint64_t>(c.n_layers) * c.kv_dim() * sizeof(float);
  return per_position / 2 * static_cast<uint64_t>(n_decoded + 1);
}

double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

int run_bench(const BenchArgs& args) {
  if (args.dram && args.generate == 0)
    return report(Error{"--dram compares decode runs with the DRAM probe, so it needs -n > 0; -n is 0"});
  ThreadPool pool(args.threads);
  auto model = load_for_command(args.model_args, /*require_tokenizer=*/false, pool, nullptr);
  if (!model.ok()) return report(model.error());
  const ModelConfig& c = model->config;
  const int context = std::max(args.prompt, args.generate);
  if (context > c.max_seq_len)
    return report(Error{fmt::format("-p {} / -n {} exceed the model's context of {} positions", args.prompt,
                                    args.generate, c.max_seq_len)});
  auto transformer = Transformer::create(c, model->weights, context, std::max(1, args.prompt), pool);
  if (!transformer.ok()) return report(transformer.error());

  // Fixed pseudo-random token ids (speed does not depend on them; llama-bench does the same).
  std::vector<int> ids(static_cast<size_t>(context));
  uint32_t state = 12345;
  for (int& id : ids) {
    state = state * 1664525u + 1013904223u;
    id = static_cast<int>(state >> 8) % c.vocab_size;
  }
  std::vector<float> logits(static_cast<size_t>(c.vocab_size));
  const uint64_t weight_bytes = weight_bytes_per_token(*model);
  const uint64_t kv_bytes = kv_bytes_per_decoded_token(c, args.generate);
  const uint64_t per_token = weight_bytes + kv_bytes;  // what the GB/s figures count
  std::vector<double> prefill_tps, decode_tps;
  std::vector<double> dram_gbps, dram_shares;  // with --dram: readings, and each decode run's share
  std::optional<DramProbe> probe;
  double peak_rss = 0;
  // One untimed warm-up of each test faults in the weights and caches.
  for (int rep = -1; rep < args.repetitions; ++rep) {
    if (rep == 0 && args.dram) {
      // The model's peak, before the probe's buffer joins it.
      peak_rss = peak_rss_mb();
      auto created = DramProbe::create();
      if (!created.ok()) return report(created.error());
      probe.emplace(std::move(*created));
    }
    if (args.prompt > 0) {
      const auto start = std::chrono::steady_clock::now();
      auto status = transformer->forward(std::span<const int>(ids.data(), static_cast<size_t>(args.prompt)), 0, 1,
                                         logits.data());
      if (!status.ok()) return report(status.error());
      if (rep >= 0) prefill_tps.push_back(args.prompt / seconds_since(start));
    }
    if (args.generate > 0) {
      if (probe) dram_gbps.push_back(probe->read(pool).gb_per_s);
      const auto start = std::chrono::steady_clock::now();
      for (int i = 0; i < args.generate; ++i) {
        auto status = transformer->forward(std::span<const int>(&ids[static_cast<size_t>(i)], 1), i, 1, logits.data());
        if (!status.ok()) return report(status.error());
      }
      if (rep >= 0) decode_tps.push_back(args.generate / seconds_since(start));
    }
  }
  if (probe) {
    dram_gbps.push_back(probe->read(pool).gb_per_s);
    for (size_t r = 0; r < decode_tps.size(); ++r)
      dram_shares.push_back(static_cast<double>(per_token) * decode_tps[r] / 1e9 /
                            (0.5 * (dram_gbps[r] + dram_gbps[r + 1])));
  } else {
    peak_rss = peak_rss_mb();
  }
  const Stats pp = stats_of(prefill_tps);
  const Stats tg = stats_of(decode_tps);
  const double gbps = static_cast<double>(per_token) * tg.median / 1e9;
  if (args.json) {
    auto stat_json = [](const Stats& s) {
      return nlohmann::json{{"median", s.median}, {"mean", s.mean}, {"stddev", s.stddev}, {"min", s.min}, {"max", s.max}};
    };
    nlohmann::json out = {{"model", args.model_args.path},   {"recipe", args.model_args.recipe},
                          {"threads", pool.size()},           {"isa", isa_name(kernels().isa)},
                          {"prompt_tokens", args.prompt},     {"decode_tokens", args.generate},
                          {"repetitions", args.repetitions},  {"prefill_tok_s", stat_json(pp)},
                          {"decode_tok_s", stat_json(tg)},    {"file_bytes", model->file_bytes},
                          {"bytes_per_decoded_token", per_token}, {"weight_bytes_per_decoded_token", weight_bytes},
                          {"kv_bytes_per_decoded_token", kv_bytes}, {"decode_gb_s", gbps},
                          {"peak_rss_mb", peak_rss}};
    if (probe) {
      out["dram_read_gb_s"] = stat_json(stats_of(dram_gbps));
      out["dram_readings"] = dram_gbps;
      out["decode_dram_share"] = stat_json(stats_of(dram_shares));
    }
    std::printf("%s\n", out.dump().c_str());
    return 0;
  }
  std::printf("model %s (%s%s), %d threads, isa %s\n", args.model_args.path.c_str(), model->format.c_str(),
              args.model_args.recipe.empty() ? "" : (", recipe " + args.model_args.recipe).c_str(), pool.size(),
              isa_name(kernels().isa));
  std::printf("pp%-4d %10.1f tok/s median  (mean %.1f +/- %.1f, min %.1f, max %.1f, %d runs)\n", args.prompt,
              pp.median, pp.mean, pp.stddev, pp.min, pp.max, args.repetitions);
  std::printf("tg%-4d %10.1f tok/s median  (mean %.1f +/- %.1f, min %.1f, max %.1f, %d runs)\n", args.generate,
              tg.median, tg.mean, tg.stddev, tg.min, tg.max, args.repetitions);
  std::printf("file %llu bytes; a decoded token reads %llu weight bytes + %llu KV-cache bytes (mean over the run) -> "
              "%.2f GB/s at the median; peak RSS %.1f MB%s\n",
              static_cast<unsigned long long>(model->file_bytes), static_cast<unsigned long long>(weight_bytes),
              static_cast<unsigned long long>(kv_bytes), gbps, peak_rss, probe ? " (before the probe's buffer)" : "");
  if (probe) {
    const Stats read = stats_of(dram_gbps), share = stats_of(dram_shares);
    std::printf("DRAM read (%.0f MiB by %d threads, %zu readings): %.2f GB/s median (min %.2f, max %.2f); decode runs "
                "at %.1f%% of it, median of runs each against the readings on either side (min %.1f%%, max %.1f%%)\n",
                static_cast<double>(probe->bytes()) / 1048576.0, pool.size(), dram_gbps.size(), read.median, read.min,
                read.max, 100.0 * share.median, 100.0 * share.min, 100.0 * share.max);
  }
  return 0;
}

}  // namespace

Runner add_bench(CLI::App& app) {
  auto args = std::make_shared<BenchArgs>();
  auto* sub = app.add_subcommand("bench", "Prefill and decode speed (llama-bench style), bytes per token, GB/s");
  sub->add_option("-m,--model", args->model_args.path, "Model file or directory")->required();
  add_recipe_options(sub, args->model_args, "Quantize in memory first");
  add_execution_options(sub, args->model_args);
  sub->add_option("-p,--prompt-tokens", args->prompt, "Prefill batch")->capture_default_str()->check(CLI::Range(0, 1 << 20));
  sub->add_option("-n,--decode-tokens", args->generate, "Tokens decoded one at a time")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 20));
  sub->add_option("-r,--repetitions", args->repetitions, "Timed runs of each test")->capture_default_str()->check(CLI::Range(1, 1000));
  sub->add_option("-t,--threads", args->threads, "Threads")->capture_default_str()->check(CLI::Range(1, 1024));
  sub->add_flag("--json", args->json, "Print one JSON object");
  sub->add_flag("--dram", args->dram,
                "Also read a 1 GiB buffer on the same threads before each decode run and after the last, and "
                "report decode's bandwidth as a share of it");
  return [args] { return run_bench(*args); };
}

}  // namespace nibble::cli
