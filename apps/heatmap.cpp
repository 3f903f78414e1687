#include "apps/heatmap.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "apps/canvas.h"
#include "apps/tokenizer.h"

namespace attn {
namespace {

constexpr int kPad = 8, kGap = 12, kBarWidth = 12, kMaxLabelChars = 7;
const Color kBlack{0, 0, 0};

// White (t = 0) to dark blue (t = 1).
Color weight_color(float t) {
  t = std::clamp(t, 0.0f, 1.0f);
  return {static_cast<uint8_t>(255 - 247 * t), static_cast<uint8_t>(255 - 207 * t),
          static_cast<uint8_t>(255 - 148 * t)};
}

std::string label_of(const std::vector<std::string>& labels, int64_t i) {
  return labels.empty() ? std::to_string(i) : labels[static_cast<size_t>(i)];
}

int widest(const std::vector<std::string>& labels, int64_t count) {
  int w = 0;
  for (int64_t i = 0; i < count; ++i) w = std::max(w, Canvas::text_width(label_of(labels, i)));
  return w;
}

void check_figure(const HeatmapFigure& f) {
  if (f.panels.empty()) throw std::invalid_argument("heatmaps: nothing to draw");
  if (f.cell < 1 || f.cell > 64)
    throw std::invalid_argument("heatmaps: a cell of " + std::to_string(f.cell) +
                                " pixels is outside 1..64");
  const Heatmap& first = f.panels[0];
  for (const Heatmap& m : f.panels) {
    if (m.rows < 1 || m.cols < 1 || m.rows != first.rows || m.cols != first.cols ||
        static_cast<int64_t>(m.values.size()) != m.rows * m.cols)
      throw std::invalid_argument("heatmaps: '" + m.title + "' is " + std::to_string(m.rows) +
                                  " x " + std::to_string(m.cols) + " with " +
                                  std::to_string(m.values.size()) + " values (panels must agree)");
  }
  if (!f.row_labels.empty() && static_cast<int64_t>(f.row_labels.size()) != first.rows)
    throw std::invalid_argument("heatmaps: " + std::to_string(f.row_labels.size()) +
                                " row labels for " + std::to_string(first.rows) + " rows");
  if (!f.col_labels.empty() && static_cast<int64_t>(f.col_labels.size()) != first.cols)
    throw std::invalid_argument("heatmaps: " + std::to_string(f.col_labels.size()) +
                                " column labels for " + std::to_string(first.cols) + " columns");
}

}  // namespace

HeatmapLayout layout_heatmaps(const HeatmapFigure& f) {
  check_figure(f);
  const int64_t rows = f.panels[0].rows, cols = f.panels[0].cols, cell = f.cell;
  HeatmapLayout l;
  // A label every `stride` positions, so that 7-pixel text does not overlap.
  l.row_stride = l.col_stride = static_cast<int>((Canvas::kTextHeight + 2 + cell - 1) / cell);
  const int row_label_width = widest(f.row_labels, rows) + 4;
  const int col_label_height = std::max(widest(f.col_labels, cols), 12) + 4;
  l.grid_top = kPad + 14 + 14 + col_label_height;  // figure title, panel titles, key labels
  const int64_t grid_w = cols * cell, grid_h = rows * cell;
  int64_t x = kPad + row_label_width;
  for (const Heatmap& m : f.panels) {
    l.grid_left.push_back(static_cast<int>(std::min<int64_t>(x, 1 << 30)));
    x += std::max<int64_t>(grid_w, Canvas::text_width(m.title)) + kGap;
  }
  l.bar_left = static_cast<int>(std::min<int64_t>(x + 4, 1 << 30));
  l.bar_top = l.grid_top;
  l.bar_height = static_cast<int>(std::min<int64_t>(std::max<int64_t>(grid_h, 60), 1 << 30));
  const int64_t width = std::max<int64_t>(x + 4 + kBarWidth + 6 + Canvas::text_width("0.0000") + kPad,
                                          kPad + Canvas::text_width(f.title) + kPad);
  const int64_t height = l.grid_top + std::max<int64_t>(grid_h, l.bar_height) + kPad;
  if (width * height > (int64_t{1} << 28))
    throw std::invalid_argument("heatmaps: " + std::to_string(f.panels.size()) + " panels of " +
                                std::to_string(rows) + " x " + std::to_string(cols) +
                                " cells of " + std::to_string(cell) + " pixels make a picture of " +
                                std::to_string(width) + " x " + std::to_string(height) +
                                " pixels, over the 2^28 allowed; use a smaller --cell or input");
  l.width = static_cast<int>(width), l.height = static_cast<int>(height);
  for (const Heatmap& m : f.panels)
    for (float v : m.values)
      if (std::isfinite(v)) l.scale_max = std::max(l.scale_max, v);
  return l;
}

void write_heatmaps(const HeatmapFigure& f, const std::string& path) {
  const HeatmapLayout l = layout_heatmaps(f);
  Canvas c(l.width, l.height);
  const int64_t rows = f.panels[0].rows, cols = f.panels[0].cols, cell = f.cell;
  c.text(kPad, kPad, f.title, kBlack);
  for (int64_t i = 0; i < rows; i += l.row_stride) {  // query labels left of the first panel
    const std::string label = label_of(f.row_labels, i);
    const int y = l.grid_top + static_cast<int>(i * cell + cell / 2) - 3;
    c.text(l.grid_left[0] - 4 - Canvas::text_width(label), y, label, kBlack);
  }
  for (size_t p = 0; p < f.panels.size(); ++p) {
    const Heatmap& m = f.panels[p];
    const int left = l.grid_left[p];
    c.text(left, kPad + 14, m.title, kBlack);
    for (int64_t j = 0; j < cols; j += l.col_stride)  // key labels over every panel
      c.text_up(left + static_cast<int>(j * cell + cell / 2) - 3, l.grid_top - 4,
                label_of(f.col_labels, j), kBlack);
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j) {
        const float v = m.values[i * cols + j];
        const float t = l.scale_max > 0 && v > 0 ? std::sqrt(v / l.scale_max) : 0.0f;
        const int x = left + static_cast<int>(j * cell), y = l.grid_top + static_cast<int>(i * cell);
        c.rect(x, y, x + static_cast<int>(cell), y + static_cast<int>(cell), weight_color(t));
      }
  }
  // The colour scale: the largest weight at the top, 0 at the bottom, ticks at t = 1, 1/2, 0.
  for (int y = 0; y < l.bar_height; ++y)
    c.rect(l.bar_left, l.bar_top + y, l.bar_left + kBarWidth, l.bar_top + y + 1,
           weight_color(1.0f - static_cast<float>(y) / static_cast<float>(l.bar_height - 1)));
  c.text(l.bar_left - 4, l.bar_top - 12, "weight", kBlack);
  for (const float t : {1.0f, 0.5f, 0.0f}) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2g", static_cast<double>(t * t * l.scale_max));
    const int y = l.bar_top + static_cast<int>((1.0f - t) * static_cast<float>(l.bar_height - 1));
    c.rect(l.bar_left + kBarWidth, y, l.bar_left + kBarWidth + 4, y + 1, kBlack);
    c.text(l.bar_left + kBarWidth + 6, y - 3, buf, kBlack);
  }
  c.save(path);
}

std::string axis_label(const std::string& token) {
  std::vector<char32_t> points;
  try {
    points = decode_utf8(token, "a token");
  } catch (const std::exception&) {  // a byte token that is not UTF-8 on its own
    for (unsigned char b : token) points.push_back(b < 128 ? b : 0xDC00 + b);  // shown as U+DCxx
  }
  std::string out;
  for (const char32_t cp : points) {
    char buf[16];
    if (cp == ' ') out += '_';
    else if (cp == '\n') out += "\\n";
    else if (cp > 32 && cp < 127) out += static_cast<char>(cp);
    else std::snprintf(buf, sizeof buf, "U+%04X", static_cast<unsigned>(cp)), out += buf;
  }
  if (out.size() > kMaxLabelChars) out.resize(kMaxLabelChars);
  return out;
}

}  // namespace attn
