#include "apps/canvas.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

// stb_image_write's code comes from Debian's libstb; stb_easy_font is header-only (static).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#include <stb/stb_easy_font.h>
#pragma GCC diagnostic pop
#include <stb/stb_image_write.h>

#include "engine/files.h"

namespace attn {
namespace {

// stb_easy_font's quads (axis-aligned rectangles, 4 vertices of 16 bytes) for s at (0, 0).
template <typename Visit>
void for_each_quad(const std::string& s, Visit visit) {
  static char buffer[200000];
  std::string copy = s.substr(0, 1000);  // the buffer holds about 1000 characters of quads
  const int quads = stb_easy_font_print(0, 0, copy.data(), nullptr, buffer, sizeof buffer);
  for (int q = 0; q < quads; ++q) {
    const float* v = reinterpret_cast<const float*>(buffer + q * 64);
    visit(v[0], v[1], v[8], v[9]);
  }
}

}  // namespace

Canvas::Canvas(int width, int height) : w_(width), h_(height) {
  constexpr int64_t kMaxPixels = int64_t{1} << 28;  // 256 Mpixel, 768 MB: far beyond any plot
  if (width < 1 || height < 1 || static_cast<int64_t>(width) * height > kMaxPixels)
    throw std::invalid_argument("a picture of " + std::to_string(width) + " x " +
                                std::to_string(height) + " pixels is outside 1 .. 2^28 pixels");
  rgb_.assign(3 * static_cast<size_t>(width) * static_cast<size_t>(height), 255);
}

void Canvas::pixel(int x, int y, Color c) {
  if (x < 0 || y < 0 || x >= w_ || y >= h_) return;
  uint8_t* p = &rgb_[3 * (static_cast<size_t>(y) * w_ + x)];
  p[0] = c.r, p[1] = c.g, p[2] = c.b;
}

void Canvas::rect(int x0, int y0, int x1, int y1, Color c) {
  x0 = std::max(x0, 0), y0 = std::max(y0, 0), x1 = std::min(x1, w_), y1 = std::min(y1, h_);
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x) pixel(x, y, c);
}

void Canvas::line(double x0, double y0, double x1, double y1, Color c) {  // simple DDA
  const int n = static_cast<int>(std::min(std::max(std::abs(x1 - x0), std::abs(y1 - y0)), 1e5)) + 1;
  for (int i = 0; i <= n; ++i) {
    const double t = static_cast<double>(i) / n;
    const int x = static_cast<int>(std::lround(x0 + t * (x1 - x0)));
    const int y = static_cast<int>(std::lround(y0 + t * (y1 - y0)));
    pixel(x, y, c), pixel(x + 1, y, c), pixel(x, y + 1, c);
  }
}

void Canvas::text(int x, int y, const std::string& s, Color c, int scale) {
  for_each_quad(s, [&](float x0, float y0, float x1, float y1) {
    rect(x + static_cast<int>(x0 * scale), y + static_cast<int>(y0 * scale),
         x + static_cast<int>(x1 * scale), y + static_cast<int>(y1 * scale), c);
  });
}

void Canvas::text_up(int x, int y, const std::string& s, Color c) {
  // A glyph point (gx, gy) goes to (x + gy, y - gx): the baseline runs upwards from (x, y).
  for_each_quad(s, [&](float x0, float y0, float x1, float y1) {
    rect(x + static_cast<int>(y0), y - static_cast<int>(x1), x + static_cast<int>(y1),
         y - static_cast<int>(x0), c);
  });
}

int Canvas::text_width(const std::string& s, int scale) {
  std::string copy = s.substr(0, 1000);
  return stb_easy_font_width(copy.data()) * scale;
}

void Canvas::save(const std::string& path) const {
  std::string png;  // encoded in memory, then written atomically (engine/files.h)
  auto append = [](void* out, void* data, int size) {
    static_cast<std::string*>(out)->append(static_cast<const char*>(data), static_cast<size_t>(size));
  };
  if (!stbi_write_png_to_func(append, &png, w_, h_, 3, rgb_.data(), 3 * w_))
    throw std::runtime_error(path + ": cannot encode the PNG image");
  write_file_atomically(path, png);
}

std::string number_label(double v) {
  char buf[32];
  if (std::abs(v) < 1e-12) v = 0;  // no "-0" from accumulated tick steps
  if (v != 0 && (std::abs(v) >= 1e5 || std::abs(v) < 1e-3)) std::snprintf(buf, sizeof buf, "%.0e", v);
  else std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace attn
