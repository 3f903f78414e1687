// The PNG pictures decode (with stb_image) to the promised size and show what was drawn.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <stb/stb_image.h>

#include "apps/heatmap.h"
#include "apps/plot.h"

using namespace attn;

namespace {

struct Decoded {
  int width = 0, height = 0;
  std::vector<unsigned char> rgb;
};

Decoded decode(const std::string& path) {
  Decoded d;
  int channels = 0;
  unsigned char* pixels = stbi_load(path.c_str(), &d.width, &d.height, &channels, 3);
  REQUIRE(pixels != nullptr);
  d.rgb.assign(pixels, pixels + 3 * d.width * d.height);
  stbi_image_free(pixels);
  return d;
}

std::string temp_png(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("attn_test_" + name + ".png")).string();
}

}  // namespace

TEST_CASE("a line plot decodes with its size and draws its series' colours") {
  LinePlot p;
  p.title = "loss", p.x_label = "step", p.y_label = "loss", p.width = 640, p.height = 400;
  p.series.push_back({"a", {1, 2, 3, 4}, {4, 3, 2.5, 2}});
  p.series.push_back({"b", {1, 2, 3, 4}, {4, 3.5, NAN, 3}});  // a gap, not a failure
  const std::string path = temp_png("lines");
  write_line_plot(p, path);
  const Decoded d = decode(path);
  CHECK(d.width == 640);
  CHECK(d.height == 400);
  int64_t first_colour = 0;  // the first series' colour (31, 119, 180)
  for (size_t i = 0; i < d.rgb.size(); i += 3)
    first_colour += d.rgb[i] == 31 && d.rgb[i + 1] == 119 && d.rgb[i + 2] == 180;
  CHECK(first_colour > 200);
  std::filesystem::remove(path);
}

TEST_CASE("a log-log plot skips non-positive values") {
  LinePlot p;
  p.log_x = p.log_y = true;
  p.series.push_back({"t", {256, 512, 1024, 2048}, {1.5, 0, 12.0, 40.0}});
  const std::string path = temp_png("loglog");
  write_line_plot(p, path);
  CHECK(decode(path).width == p.width);
  std::filesystem::remove(path);
}

TEST_CASE("heatmaps: the documented layout, the largest weight darkest, labels and a colour scale") {
  HeatmapFigure f;
  f.title = "layer 0";
  f.panels = {Heatmap{"head 0", 3, 4, {0, 0, 0, 1, 0.5f, 0.5f, 0, 0, 0.25f, 0.25f, 0.25f, 0.25f}},
              Heatmap{"head 1", 3, 4, {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1}}};
  f.row_labels = {"a", "b", "c"};
  f.col_labels = {"w", "x", "y", "z"};
  f.cell = 10;
  const std::string path = temp_png("heat");
  write_heatmaps(f, path);
  const Decoded d = decode(path);
  const HeatmapLayout l = layout_heatmaps(f);
  CHECK(d.width == l.width);
  CHECK(d.height == l.height);
  REQUIRE(l.grid_left.size() == 2);
  CHECK(l.grid_left[1] >= l.grid_left[0] + 4 * f.cell);  // panels side by side, no overlap
  CHECK(l.row_stride == 1);                               // 10-pixel cells: every token labelled
  CHECK(l.scale_max == 1.0f);
  auto red_at = [&](int x, int y) { return static_cast<int>(d.rgb[3 * (y * d.width + x)]); };
  auto red = [&](int64_t row, int64_t col) {  // red channel at the centre of head 0's cell
    return red_at(l.grid_left[0] + static_cast<int>(col * f.cell) + f.cell / 2,
                  l.grid_top + static_cast<int>(row * f.cell) + f.cell / 2);
  };
  CHECK(red(0, 3) < red(1, 0));   // 1.0 darker than 0.5
  CHECK(red(1, 0) < red(2, 0));   // 0.5 darker than 0.25
  CHECK(red(2, 0) < red(0, 0));   // 0.25 darker than 0
  CHECK(red(0, 0) == 255);        // zero weight stays white
  // The colour scale runs from the darkest colour at its top to white at its bottom.
  CHECK(red_at(l.bar_left + 6, l.bar_top) == red(0, 3));
  CHECK(red_at(l.bar_left + 6, l.bar_top + l.bar_height - 1) == 255);
  auto ink = [&](int x0, int y0, int x1, int y1) {  // dark pixels in [x0, x1) x [y0, y1)
    int n = 0;
    for (int y = y0; y < y1; ++y)
      for (int x = x0; x < x1; ++x) n += red_at(x, y) < 128;
    return n;
  };
  CHECK(ink(0, l.grid_top, l.grid_left[0], l.grid_top + 3 * f.cell) > 10);     // query labels
  CHECK(ink(l.grid_left[0], l.grid_top - 14, l.grid_left[0] + 4 * f.cell, l.grid_top) > 10);  // key labels
  HeatmapFigure bad;
  bad.panels = {Heatmap{"bad", 2, 2, {1, 2, 3}}};
  CHECK_THROWS(write_heatmaps(bad, path));
  std::filesystem::remove(path);
}

TEST_CASE("heatmaps refuse pictures too large to allocate, and thin labels on small cells") {
  HeatmapFigure f;  // 100 panels of 100 x 100 cells of 64 pixels: about 641,000 x 6,500 pixels
  f.panels.assign(100, Heatmap{"h", 100, 100, std::vector<float>(10000, 0.01f)});
  f.cell = 64;
  CHECK_THROWS_AS(layout_heatmaps(f), std::invalid_argument);
  f.panels.resize(2);
  CHECK(layout_heatmaps(f).width > 2 * 6400);
  HeatmapFigure small;
  small.panels = {Heatmap{"h", 40, 40, std::vector<float>(1600, 0.025f)}};
  small.cell = 2;
  CHECK(layout_heatmaps(small).row_stride == 5);  // 7-pixel text every 10 pixels
  small.cell = 65;
  CHECK_THROWS_AS(layout_heatmaps(small), std::invalid_argument);
}

TEST_CASE("axis labels are short printable ASCII") {
  CHECK(axis_label("a") == "a");
  CHECK(axis_label(" ") == "_");
  CHECK(axis_label("\n") == "\\n");
  CHECK(axis_label("\xc3\xa9") == "U+00E9");
  CHECK(axis_label(std::string(1, '\xff')) == "U+DCFF");
  CHECK(axis_label("international") == "interna");
}
