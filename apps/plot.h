// Line plots for users (loss curves, time and memory against T, optionally log-log), drawn
// on a Canvas (apps/canvas.h). Heatmaps of attention weights are in apps/heatmap.h.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace attn {

struct Series {
  std::string name;
  std::vector<double> x, y;  // points with a non-finite y (or, on a log axis, y <= 0) are skipped
};

struct LinePlot {
  std::string title, x_label, y_label;
  std::string subtitle;  // one smaller line under the title (the configuration)
  std::vector<Series> series;
  bool log_x = false, log_y = false;
  bool markers = false;  // a square at every point (measurements, not curves)
  int width = 900, height = 560;
};

// Draws the plot and writes it as a PNG (throws naming the file if it cannot be written).
void write_line_plot(const LinePlot& plot, const std::string& path);

}  // namespace attn
