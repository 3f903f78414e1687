// The PNG pictures decode (with stb_image) to the promised size and show what was drawn.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <stb/stb_image.h>

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

TEST_CASE("heatmaps decode with the documented size; the largest weight is darkest") {
  Heatmap a{"head 0", 3, 4, {0, 0, 0, 1, 0.5f, 0.5f, 0, 0, 0.25f, 0.25f, 0.25f, 0.25f}};
  Heatmap b{"head 1", 3, 2, {1, 0, 0, 1, 0.5f, 0.5f}};
  const int cell = 5;
  const std::string path = temp_png("heat");
  write_heatmaps({a, b}, cell, path);
  const Decoded d = decode(path);
  const ImageSize expected = heatmaps_size({a, b}, cell);
  CHECK(expected.width == 8 + (4 * cell + 8) + (2 * cell + 8));
  CHECK(expected.height == 24 + 3 * cell + 8);
  CHECK(d.width == expected.width);
  CHECK(d.height == expected.height);
  auto red = [&](int64_t row, int64_t col) {  // red channel at the centre of head 0's cell
    const int64_t x = 8 + col * cell + cell / 2, y = 24 + row * cell + cell / 2;
    return static_cast<int>(d.rgb[3 * (y * d.width + x)]);
  };
  CHECK(red(0, 3) < red(1, 0));   // 1.0 darker than 0.5
  CHECK(red(1, 0) < red(2, 0));   // 0.5 darker than 0.25
  CHECK(red(2, 0) < red(0, 0));   // 0.25 darker than 0
  CHECK(red(0, 0) == 255);        // zero weight stays white
  CHECK_THROWS(write_heatmaps({Heatmap{"bad", 2, 2, {1, 2, 3}}}, cell, path));
  std::filesystem::remove(path);
}
