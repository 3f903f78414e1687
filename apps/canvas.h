// An RGB picture in memory with the few drawing operations the plots need: filled
// rectangles, thick lines and text (horizontal or read bottom-to-top), saved as a PNG.
// Text comes from stb_easy_font (ASCII, about 6 x 7 pixels a character at scale 1) and the
// file is written by stb_image_write (both from Debian's libstb-dev).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace attn {

struct Color {
  uint8_t r, g, b;
};

class Canvas {
 public:
  // Refuses sizes whose pixel count does not fit (width, height from options or data).
  Canvas(int width, int height);
  int width() const { return w_; }
  int height() const { return h_; }

  void pixel(int x, int y, Color c);                      // clipped to the picture
  void rect(int x0, int y0, int x1, int y1, Color c);     // [x0, x1) x [y0, y1), clipped
  void line(double x0, double y0, double x1, double y1, Color c);  // two pixels thick
  // Text whose top-left corner is (x, y); scale 2 doubles every pixel.
  void text(int x, int y, const std::string& s, Color c, int scale = 1);
  // Text turned a quarter left (read bottom to top) whose bottom-left corner is (x, y).
  void text_up(int x, int y, const std::string& s, Color c);
  static int text_width(const std::string& s, int scale = 1);
  static constexpr int kTextHeight = 7;  // pixels of a line at scale 1 (capitals and digits)
  void save(const std::string& path) const;  // throws naming the file if it cannot be written

 private:
  int w_, h_;
  std::vector<uint8_t> rgb_;
};

// A number for an axis label: "0.25", "1e+06", never "-0".
std::string number_label(double v);

}  // namespace attn
