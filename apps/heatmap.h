// Heatmaps of attention weights: one panel per head side by side, the tokens along both axes
// (queries down the rows, keys along the columns, read bottom to top), a title over each
// panel, and one colour scale shared by the panels (white 0 to dark blue at the largest
// weight, on a square-root scale so that small weights stay visible).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace attn {

struct Heatmap {
  std::string title;
  int64_t rows = 0, cols = 0;
  std::vector<float> values;  // rows x cols, row-major
};

struct HeatmapFigure {
  std::string title;                    // one line over the panels
  std::vector<Heatmap> panels;          // the same number of rows and columns each
  std::vector<std::string> row_labels;  // one per row, or none (then 0, 1, 2, ...)
  std::vector<std::string> col_labels;  // one per column, or none (then 0, 1, 2, ...)
  int cell = 8;                         // pixels per weight, 1..64
};

// Where write_heatmaps puts things, so that callers and tests can find them.
struct HeatmapLayout {
  int width = 0, height = 0;
  int grid_top = 0;             // y of the first row of cells
  std::vector<int> grid_left;   // x of each panel's first column of cells
  int bar_left = 0, bar_top = 0, bar_height = 0;  // the colour scale (12 pixels wide)
  int row_stride = 1, col_stride = 1;  // every how many rows / columns a label is written
  float scale_max = 0;          // the weight drawn darkest
};

// Checks the figure (sizes, labels, the picture's pixel count) and lays it out; throws
// std::invalid_argument naming what is wrong.
HeatmapLayout layout_heatmaps(const HeatmapFigure& figure);

// Draws the figure and writes it as a PNG (throws naming the file if it cannot be written).
void write_heatmaps(const HeatmapFigure& figure, const std::string& path);

// A token as a short ASCII axis label: printable ASCII as is, a space as "_", a newline as
// "\n", other characters as U+XXXX (a lone byte b >= 0x80 as U+DCbb), cut to 7 characters.
std::string axis_label(const std::string& utf8_token);

}  // namespace attn
