#include "apps/compare.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "apps/plot.h"
#include "nn/attention_registry.h"
#include "nn/json_input.h"

namespace attn {
namespace {

bool is_lm_task(const std::string& task) { return task == "copy" || task == "recall"; }

std::string folder_name(const std::string& variant) {
  std::string s = variant;
  for (char& c : s)
    if (c == ':' || c == ',' || c == '=' || c == '+' || c == '/') c = '_';
  return s;
}

// A moving average over `window` steps, so a noisy per-step loss reads as a curve.
std::vector<double> smoothed(const std::vector<double>& v, size_t window) {
  std::vector<double> out(v.size());
  double total = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    total += v[i];
    if (i >= window) total -= v[i - window];
    out[i] = total / static_cast<double>(std::min(i + 1, window));
  }
  return out;
}

void print_table(const std::vector<RunSummary>& runs, bool has_accuracy) {
  std::printf("\n%-28s %10s %9s %9s %11s %11s %9s %8s\n", "variant", "final_loss",
              has_accuracy ? "accuracy" : "val_loss", "ms/step", "tokens/s", "parameters",
              "peak_MB", "seconds");
  for (const auto& r : runs)
    std::printf("%-28s %10.4f %8.2f%s %9.1f %11.0f %11lld %9.1f %8.0f\n", r.variant.c_str(),
                r.final_loss(), has_accuracy ? 100 * r.accuracy : r.val_loss,
                has_accuracy ? "%" : " ", r.median_step_ms(), r.tokens_per_second(),
                static_cast<long long>(r.parameters), r.peak_mb, r.seconds);
  if (!runs.empty())
    for (const auto& [name, accuracy] : runs.front().baselines)
      std::printf("%-28s %10s %8.2f%%   (baseline: no model)\n", name.c_str(), "", 100 * accuracy);
}

// Held-out accuracy of every variant at each evaluation.
void write_accuracy_plot(const std::vector<RunSummary>& runs, const std::string& task,
                         const std::string& path) {
  LinePlot plot;
  plot.title = "attn compare: " + task + " (held-out accuracy at each evaluation)";
  plot.x_label = "step", plot.y_label = "accuracy", plot.markers = true;
  for (const auto& r : runs) {
    Series s{r.variant, {}, {}};
    for (const auto& e : r.evaluations)
      for (const char* key : {"val_accuracy", "test_accuracy"})
        if (e.contains(key)) s.x.push_back(e["step"].get<double>()), s.y.push_back(e[key].get<double>());
    plot.series.push_back(std::move(s));
  }
  write_line_plot(plot, path);
}

}  // namespace

std::vector<std::string> split_variant_list(const std::string& list, bool causal) {
  std::vector<std::string> variants;
  if (list == "all") {
    for (const auto& entry : attention_variants())
      if (!causal || entry.causal) variants.push_back(entry.name);
    return variants;
  }
  size_t start = 0;
  while (start <= list.size()) {
    const size_t comma = std::min(list.find(',', start), list.size());
    const std::string item = list.substr(start, comma - start);
    if (item.empty()) throw std::invalid_argument("--attention: empty item in '" + list + "'");
    if (item.find('=') != std::string::npos && item.find(':') == std::string::npos) {
      if (variants.empty()) throw std::invalid_argument("--attention: '" + item + "' has no variant");
      variants.back() += "," + item;
    } else {
      variants.push_back(item);
    }
    start = comma + 1;
  }
  for (const auto& v : variants) parse_attention_spec(v, causal, 1 << 20);  // fail early
  return variants;
}

int run_compare(CompareOptions o) {
  const bool lm = is_lm_task(o.task);
  if (!lm && o.task != "listops" && o.task != "csv")
    throw std::invalid_argument("--task must be copy, recall, listops or csv, got '" + o.task + "'");
  const auto variants = split_variant_list(o.attention, lm);
  for (const auto& variant : variants) {  // refuse before any training, not after some
    const std::string folder = o.out + "/" + folder_name(variant);
    if (std::filesystem::exists(folder + "/checkpoint.safetensors"))
      throw std::runtime_error(folder + " already holds a run: choose another --out (or remove "
                               "that folder); compare starts every variant afresh");
  }
  std::filesystem::create_directories(o.out);
  std::vector<RunSummary> runs;
  for (const auto& variant : variants) {
    RunSummary run;
    const std::string folder = o.out + "/" + folder_name(variant);
    std::printf("attn compare: %s on %s -> %s\n", variant.c_str(), o.task.c_str(), folder.c_str());
    std::fflush(stdout);
    int code = 0;
    if (lm) {
      TrainOptions t = o.lm;
      t.task = o.task, t.model.attention = variant, t.out = folder, t.quiet = true;
      t.progress = true;
      t.ckpt_interval = t.steps;  // one checkpoint, at the end
      code = train_language_model(t, {}, &run);
    } else {
      ClassifyOptions c = o.cls;
      c.task = o.task, c.model.attention = variant, c.out = folder, c.quiet = true;
      c.progress = true;
      code = run_classify(c, {}, &run);
    }
    if (code != 0) std::printf("attn compare: %s stopped with code %d\n", variant.c_str(), code);
    std::printf("  final loss %.4f, %s %.4f, %.1f ms/step, %.0f s\n", run.final_loss(),
                run.accuracy >= 0 ? "accuracy" : "val loss",
                run.accuracy >= 0 ? run.accuracy : run.val_loss, run.median_step_ms(), run.seconds);
    std::fflush(stdout);
    runs.push_back(std::move(run));
  }
  const bool has_accuracy = std::any_of(runs.begin(), runs.end(), [](const RunSummary& r) {
    return r.accuracy >= 0;
  });
  print_table(runs, has_accuracy);

  nlohmann::json j = {{"task", o.task}, {"runs", nlohmann::json::array()}};
  if (!runs.empty() && !runs.front().baselines.empty()) j["baselines"] = runs.front().baselines;
  j["settings"] = lm ? nlohmann::json(o.lm) :
      nlohmann::json{{"steps", o.cls.steps}, {"batch", o.cls.batch}, {"lr", o.cls.lr},
                     {"seed", o.cls.seed}, {"model", o.cls.model}, {"pooling", o.cls.pooling},
                     {"warmup", o.cls.warmup}, {"weight_decay", o.cls.weight_decay},
                     {"curriculum", o.cls.curriculum}, {"ema", o.cls.ema}};
  LinePlot plot;
  const size_t window = runs.empty() ? 1 : std::max<size_t>(1, runs.front().losses.size() / 50);
  plot.title = "attn compare: " + o.task + " (training loss, moving average over " +
               std::to_string(window) + (window == 1 ? " step)" : " steps)");
  plot.x_label = "step", plot.y_label = "loss";
  for (const auto& r : runs) {
    j["runs"].push_back(r.to_json());
    Series s{r.variant, {}, smoothed(r.losses, window)};
    for (size_t i = 0; i < r.losses.size(); ++i) s.x.push_back(static_cast<double>(i + 1));
    plot.series.push_back(std::move(s));
  }
  write_json_file(o.out + "/compare.json", j);
  write_line_plot(plot, o.out + "/loss.png");
  if (has_accuracy) write_accuracy_plot(runs, o.task, o.out + "/accuracy.png");
  std::printf("\nwrote %s/compare.json and %s/loss.png%s\n", o.out.c_str(), o.out.c_str(),
              has_accuracy ? " and accuracy.png" : "");
  return 0;
}

}  // namespace attn
