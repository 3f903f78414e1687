#include "apps/run_plot.h"

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

std::vector<std::string> plot_run(const std::string& dir) {
  const std::string path = dir + "/metrics.jsonl";
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    throw std::runtime_error(path + " does not exist: " + dir + " is not a run folder");
  std::istringstream in(read_regular_file(path, "a run's metrics", uint64_t{1} << 30));
  Series train{"training loss", {}, {}}, held_out{"held-out loss", {}, {}},
      accuracy{"held-out accuracy", {}, {}};
  std::string text;
  for (int64_t number = 1; std::getline(in, text); ++number) {
    nlohmann::json line;
    line = parse_untrusted_json(text, path + ": line " + std::to_string(number));
    if (!line.is_object() || !line.contains("step") || !line["step"].is_number()) continue;
    const double step = line["step"].get<double>();
    add_point(line, step, {"loss"}, train);
    add_point(line, step, {"val_loss", "test_loss"}, held_out);
    add_point(line, step, {"val_accuracy", "test_accuracy"}, accuracy);
  }
  const std::string run = std::filesystem::path(dir).filename().string();
  std::vector<std::string> written;
  LinePlot loss;
  loss.title = "run " + run + ": loss", loss.x_label = "step", loss.y_label = "loss";
  loss.subtitle = "training loss at every logged step; held-out loss at every evaluation";
  loss.series = {train, held_out};
  write_line_plot(loss, dir + "/loss.png");
  written.push_back(dir + "/loss.png");
  if (!accuracy.x.empty()) {
    LinePlot acc;
    acc.title = "run " + run + ": accuracy", acc.x_label = "step";
    acc.y_label = "accuracy", acc.markers = true;
    acc.series = {accuracy};
    write_line_plot(acc, dir + "/accuracy.png");
    written.push_back(dir + "/accuracy.png");
  }
  return written;
}

}  // namespace attn
