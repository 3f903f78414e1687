#include "apps/plot.h"

#include "apps/canvas.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace attn {
namespace {

// Distinguishable line colours (the Tableau 10 palette).
const Color kPalette[] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},  {214, 39, 40},
                          {148, 103, 189}, {140, 86, 75}, {227, 119, 194}, {127, 127, 127},
                          {188, 189, 34},  {23, 190, 207}};

// Round tick values covering [lo, hi]: powers of ten on a log axis, 1-2-5 steps otherwise.
// At most 40: values from a file (1e20 and 1e20 + 16384) can make a step vanish in rounding.
std::vector<double> ticks(double lo, double hi, bool log_axis) {
  std::vector<double> t;
  if (log_axis) {  // powers of ten; also 2x and 5x when the axis spans under two decades
    const bool fine = hi - lo < 2;
    for (double p = std::floor(lo); p <= std::ceil(hi) + 1e-9 && t.size() < 40; p += 1) {
      t.push_back(p);
      if (fine) t.push_back(p + std::log10(2.0)), t.push_back(p + std::log10(5.0));
    }
    return t;
  }
  const double raw = (hi - lo) / 6, mag = std::pow(10, std::floor(std::log10(raw)));
  const double step = raw / mag < 2 ? 2 * mag : raw / mag < 5 ? 5 * mag : 10 * mag;
  for (double v = std::ceil(lo / step) * step; v <= hi + 1e-9 * step && t.size() < 40; v += step)
    t.push_back(v);
  return t;
}

bool usable(double x, double y, const LinePlot& p) {
  return std::isfinite(x) && std::isfinite(y) && (!p.log_x || x > 0) && (!p.log_y || y > 0);
}

}  // namespace

void write_line_plot(const LinePlot& p, const std::string& path) {
  Canvas c(p.width, p.height);
  const Color black{0, 0, 0}, grid{225, 225, 225};
  auto tx = [&](double v) { return p.log_x ? std::log10(v) : v; };
  auto ty = [&](double v) { return p.log_y ? std::log10(v) : v; };
  double x_lo = INFINITY, x_hi = -INFINITY, y_lo = INFINITY, y_hi = -INFINITY;
  for (const auto& s : p.series)
    for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i)
      if (usable(s.x[i], s.y[i], p)) {
        x_lo = std::min(x_lo, tx(s.x[i])), x_hi = std::max(x_hi, tx(s.x[i]));
        y_lo = std::min(y_lo, ty(s.y[i])), y_hi = std::max(y_hi, ty(s.y[i]));
      }
  if (!(x_lo <= x_hi)) x_lo = 0, x_hi = 1, y_lo = 0, y_hi = 1;  // nothing to draw: empty axes
  if (x_hi - x_lo < 1e-12) x_lo -= 0.5, x_hi += 0.5;
  if (y_hi - y_lo < 1e-12) y_lo -= 0.5, y_hi += 0.5;
  if (!p.log_y) {  // a little headroom
    const double pad = 0.05 * (y_hi - y_lo);
    y_lo -= pad, y_hi += pad;
  }
  const int left = 80, right = p.width - 200, top = 40, bottom = p.height - 60;
  // Pixel coordinates, kept finite and within a margin of the picture: axes spanning less
  // than a double's resolution (x 1e20 .. 1e20 + 1) would otherwise divide by zero.
  auto on_canvas = [](double v) { return std::isfinite(v) ? std::clamp(v, -1e5, 1e5) : -1e5; };
  auto px = [&](double v) { return on_canvas(left + (tx(v) - x_lo) / (x_hi - x_lo) * (right - left)); };
  auto py = [&](double v) { return on_canvas(bottom - (ty(v) - y_lo) / (y_hi - y_lo) * (bottom - top)); };
  // Grid and tick labels.
  for (double t : ticks(x_lo, x_hi, p.log_x)) {
    if (t < x_lo - 1e-9 || t > x_hi + 1e-9) continue;
    const double v = p.log_x ? std::pow(10, t) : t;
    const int x = static_cast<int>(px(v));
    c.rect(x, top, x + 1, bottom, grid);
    const std::string label = number_label(v);
    c.text(x - Canvas::text_width(label) / 2, bottom + 6, label, black);
  }
  for (double t : ticks(y_lo, y_hi, p.log_y)) {
    if (t < y_lo - 1e-9 || t > y_hi + 1e-9) continue;
    const double v = p.log_y ? std::pow(10, t) : t;
    const int y = static_cast<int>(py(v));
    c.rect(left, y, right, y + 1, grid);
    const std::string label = number_label(v);
    c.text(left - 6 - Canvas::text_width(label), y - 3, label, black);
  }
  c.rect(left, top, left + 1, bottom, black), c.rect(left, bottom, right, bottom + 1, black);
  c.text(left, 8, p.title, black, 2);
  c.text(left, 28, p.subtitle, black);
  c.text((left + right - Canvas::text_width(p.x_label, 2)) / 2, bottom + 28, p.x_label, black, 2);
  c.text(8, top - 20, p.y_label, black);
  // Lines and the legend.
  for (size_t k = 0; k < p.series.size(); ++k) {
    const Series& s = p.series[k];
    const Color color = kPalette[k % std::size(kPalette)];
    bool have_previous = false;
    double x_prev = 0, y_prev = 0;
    for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
      if (!usable(s.x[i], s.y[i], p)) {
        have_previous = false;
        continue;
      }
      const double x = px(s.x[i]), y = py(s.y[i]);
      if (p.markers)
        c.rect(static_cast<int>(x) - 3, static_cast<int>(y) - 3, static_cast<int>(x) + 4,
               static_cast<int>(y) + 4, color);
      if (have_previous) c.line(x_prev, y_prev, x, y, color);
      else c.rect(static_cast<int>(x) - 1, static_cast<int>(y) - 1, static_cast<int>(x) + 2,
                  static_cast<int>(y) + 2, color);
      x_prev = x, y_prev = y, have_previous = true;
    }
    const int ly = top + 10 + 18 * static_cast<int>(k);
    c.rect(right + 16, ly, right + 36, ly + 4, color);
    c.text(right + 42, ly - 2, s.name, black);
  }
  c.save(path);
}

}  // namespace attn
