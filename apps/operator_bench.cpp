#include "apps/operator_bench.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "apps/compare.h"
#include "apps/plot.h"
#include "apps/run_folder.h"
#include "engine/allocator.h"
#include "engine/bf16.h"
#include "engine/parallel.h"
#include "engine/tape.h"
#include "nn/attention_layer.h"

namespace attn {
namespace {

template <class F>
double median_ms(int repeats, F&& run) {
  run();  // warm-up: primitive creation, allocator cache
  std::vector<double> ms;
  for (int i = 0; i < repeats; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    run();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
  return ms[ms.size() / 2];
}

// Variants that hold [B, H, T, T] logits and probabilities (and their gradients).
bool is_quadratic(const std::string& variant) {
  return find_attention_variant(parse_attention_spec(variant, false, 1 << 20).name).quadratic_memory;
}

struct Measurement {
  std::string variant;
  int64_t T;
  double fwd_ms, fwd_bwd_ms, peak_mb;
};

Measurement measure(const std::string& variant, int64_t T, const OperatorBenchOptions& o) {
  ModelConfig config;
  config.n_head = o.heads, config.n_embd = o.heads * o.head_dim, config.context = T;
  config.causal = o.causal, config.attention = variant;
  Rng rng(o.seed);
  AttentionLayer layer(config, rng, 0.02f);
  Tensor x = Tensor::randn({o.batch, T, config.n_embd}, rng);
  x.requires_grad_();
  Measurement m{variant, T, 0, 0, 0};
  m.fwd_ms = median_ms(o.repeats, [&] {
    NoGradGuard no_grad;
    layer.forward(x);
  });
  auto forward_backward = [&] {
    Tensor y = layer.forward(x);
    backward(sum(y));
  };
  m.fwd_bwd_ms = median_ms(o.repeats, forward_backward);
  release_cached_blocks();
  reset_peak_bytes();
  const size_t before = allocator_stats().bytes_in_use;
  forward_backward();
  m.peak_mb = static_cast<double>(allocator_stats().peak_bytes - before) / (1 << 20);
  return m;
}

}  // namespace

int run_operator_bench(const OperatorBenchOptions& o) {
  if (o.threads > 0) set_threads(o.threads);
  PrecisionScope precision_scope(parse_precision(o.precision));
  if (o.batch < 1 || o.heads < 1 || o.head_dim < 1 || o.repeats < 1 || o.lengths.empty())
    throw std::invalid_argument("attn bench: --batch, --heads, --head-dim, --repeats and --T must be positive");
  for (int64_t T : o.lengths)
    if (T < 1) throw std::invalid_argument("attn bench: every --T must be positive");
  const auto variants = split_variant_list(o.attention, o.causal);
  std::filesystem::create_directories(o.out);
  FILE* jsonl = open_run_log(o.out + "/bench.jsonl", false);
  std::map<std::string, Series> time, memory;
  std::printf("%-26s %7s %10s %12s %9s   (B=%lld H=%lld D=%lld %s, %d threads)\n", "variant", "T",
              "fwd_ms", "fwd_bwd_ms", "peak_MB", static_cast<long long>(o.batch),
              static_cast<long long>(o.heads), static_cast<long long>(o.head_dim),
              o.causal ? "causal" : "non-causal", threads());
  for (const auto& variant : variants) {
    time[variant].name = memory[variant].name = variant;
    for (int64_t T : o.lengths) {
      nlohmann::json line = {{"variant", variant}, {"B", o.batch}, {"H", o.heads}, {"T", T},
                             {"D", o.head_dim}, {"causal", o.causal}, {"threads", threads()},
                             {"precision", o.precision}};
      const double quadratic_mb = 8.0 * o.batch * o.heads * T * T * 4 / (1 << 20);
      if (is_quadratic(variant) && quadratic_mb > o.max_mb) {
        line["skipped"] = "needs about " + std::to_string(static_cast<int64_t>(quadratic_mb)) +
                          " MB of T x T tensors (> --max-mb)";
        std::printf("%-26s %7lld   skipped: %s\n", variant.c_str(), static_cast<long long>(T),
                    line["skipped"].get<std::string>().c_str());
      } else {
        const Measurement m = measure(variant, T, o);
        line["fwd_ms"] = m.fwd_ms, line["fwd_bwd_ms"] = m.fwd_bwd_ms, line["peak_mb"] = m.peak_mb;
        std::printf("%-26s %7lld %10.2f %12.2f %9.1f\n", variant.c_str(), static_cast<long long>(T),
                    m.fwd_ms, m.fwd_bwd_ms, m.peak_mb);
        time[variant].x.push_back(static_cast<double>(T));
        time[variant].y.push_back(m.fwd_bwd_ms);
        memory[variant].x.push_back(static_cast<double>(T));
        memory[variant].y.push_back(m.peak_mb);
      }
      std::fflush(stdout);
      std::fprintf(jsonl, "%s\n", line.dump().c_str());
      std::fflush(jsonl);
    }
  }
  std::fclose(jsonl);
  LinePlot t, m;
  char config[128];
  std::snprintf(config, sizeof config, "B=%lld H=%lld D=%lld, %s, %d threads, %s",
                static_cast<long long>(o.batch), static_cast<long long>(o.heads),
                static_cast<long long>(o.head_dim), o.causal ? "causal" : "non-causal", threads(),
                precision_name(precision()));
  t.title = "attention layer forward+backward time", t.y_label = "ms";
  m.title = "attention layer peak memory (forward+backward)", m.y_label = "MB";
  for (LinePlot* p : {&t, &m}) {
    p->x_label = "sequence length T", p->log_x = p->log_y = true, p->markers = true;
    p->subtitle = config;
  }
  for (const auto& v : variants) t.series.push_back(time[v]), m.series.push_back(memory[v]);
  write_line_plot(t, o.out + "/time.png");
  write_line_plot(m, o.out + "/memory.png");
  std::printf("wrote %s/bench.jsonl, %s/time.png, %s/memory.png\n", o.out.c_str(), o.out.c_str(),
              o.out.c_str());
  return 0;
}

}  // namespace attn
