#include "apps/run_plot.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "apps/plot.h"
#include "engine/files.h"
#include "nn/json_input.h"

namespace attn {
namespace {

// The value of the first of `keys` the line holds, as a point of `series`.
void add_point(const nlohmann::json& line, double step, std::initializer_list<const char*> keys,
               Series& series) {
  for (const char* key : keys)
    if (line.contains(key) && line[key].is_number()) {
      series.x.push_back(step), series.y.push_back(line[key].get<double>());
      return;
    }
}

}  // namespace

RunCurves read_run_curves(const std::string& dir) {
  const std::string path = dir + "/metrics.jsonl";
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    throw std::runtime_error(path + " does not exist: " + dir + " is not a run folder");
  std::istringstream in(read_regular_file(path, "a run's metrics", uint64_t{1} << 30));
  RunCurves c{{"training loss", {}, {}}, {"held-out loss", {}, {}}, {"held-out accuracy", {}, {}}};
  std::string text;
  for (int64_t number = 1; std::getline(in, text); ++number) {
    nlohmann::json line;
    line = parse_untrusted_json(text, path + ": line " + std::to_string(number));
    if (!line.is_object() || !line.contains("step") || !line["step"].is_number()) continue;
    const double step = line["step"].get<double>();
    add_point(line, step, {"loss"}, c.train);
    add_point(line, step, {"val_loss", "test_loss"}, c.held_out);
    add_point(line, step, {"val_accuracy", "test_accuracy"}, c.accuracy);
  }
  return c;
}

std::vector<std::string> plot_run(const std::string& dir) {
  const RunCurves curves = read_run_curves(dir);
  const std::string run = std::filesystem::path(dir).filename().string();
  std::vector<std::string> written;
  LinePlot loss;
  loss.title = "run " + run + ": loss", loss.x_label = "step", loss.y_label = "loss";
  loss.subtitle = "training loss at every logged step; held-out loss at every evaluation";
  loss.series = {curves.train, curves.held_out};
  write_line_plot(loss, dir + "/loss.png");
  written.push_back(dir + "/loss.png");
  if (!curves.accuracy.x.empty()) {
    LinePlot acc;
    acc.title = "run " + run + ": accuracy", acc.x_label = "step";
    acc.y_label = "accuracy", acc.markers = true;
    acc.series = {curves.accuracy};
    write_line_plot(acc, dir + "/accuracy.png");
    written.push_back(dir + "/accuracy.png");
  }
  return written;
}

void plot_runs(const std::vector<std::string>& dirs, const std::string& out) {
  LinePlot loss;
  loss.title = "loss of " + std::to_string(dirs.size()) + " runs", loss.x_label = "step";
  loss.y_label = "loss";
  loss.subtitle = "training loss at every logged step; held-out loss at every evaluation";
  for (const std::string& dir : dirs) {
    RunCurves curves = read_run_curves(dir);
    const std::string run = std::filesystem::path(dir).filename().string();
    curves.train.name = run + ": training", curves.held_out.name = run + ": held-out";
    loss.series.push_back(std::move(curves.train));
    loss.series.push_back(std::move(curves.held_out));
  }
  write_line_plot(loss, out);
}

int run_plot_command(const std::vector<std::string>& run_dirs, const std::string& out) {
  if (out.empty()) {
    if (run_dirs.size() != 1)
      throw std::invalid_argument("attn plot: give --out FILE.png to draw several runs in one plot");
    for (const auto& file : plot_run(run_dirs[0])) std::printf("wrote %s\n", file.c_str());
    return 0;
  }
  plot_runs(run_dirs, out);
  std::printf("wrote %s\n", out.c_str());
  return 0;
}

}  // namespace attn
