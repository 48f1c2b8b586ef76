// Line charts as inline SVG, for the plan's HTML report: readable offline, no script, no font
// files. Text is escaped; non-finite points are dropped.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace modelfn {
namespace plan {

struct ChartSeries {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (x, y)
  bool dashed = false;
  bool steps = false;  // drawn as a step function (instances over time)
  int color = -1;      // index in the palette; -1: the series' own index
};

struct Chart {
  std::string title, x_label, y_label;
  bool log_x = false;
  std::vector<ChartSeries> series;
  int width = 640, height = 320;
};

// The chart as an <svg> element (role="img", aria-label = the title). A chart with no point
// draws its frame and says "no data".
std::string RenderSvg(const Chart& chart);

// Escapes & < > " ' for HTML/XML text and attribute values.
std::string EscapeXml(const std::string& s);

}  // namespace plan
}  // namespace modelfn
