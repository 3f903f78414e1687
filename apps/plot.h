// Small PNG pictures for users: line plots (loss curves, time and memory against T, optionally
// log-log) and heatmaps (attention weights). Pixels are drawn here; text comes from
// stb_easy_font and the file is written by stb_image_write (both from Debian's libstb-dev).
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

struct Heatmap {
  std::string title;
  int64_t rows = 0, cols = 0;
  std::vector<float> values;  // rows x cols, row-major; colour scale from 0 to max(values)
};

// Heatmaps side by side (one per head), each cell `cell` pixels square, titles above.
// The image is 8 + n (cols cell + 8) pixels wide and 24 + rows cell + 8 pixels high.
void write_heatmaps(const std::vector<Heatmap>& maps, int cell, const std::string& path);

// The size write_heatmaps produces, so callers and tests can check it.
struct ImageSize {
  int width, height;
};
ImageSize heatmaps_size(const std::vector<Heatmap>& maps, int cell);

}  // namespace attn
