#include "sweep_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>

#include "cadre/runtime/report_html.h"

namespace cadre::cli {
namespace {

struct Point {
  std::string label;
  double x = 0, rate = 0, correct = 0, cost = 0;
  int n = 0, cost_n = 0;
};

const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                         "#9467bd", "#8c564b", "#e377c2", "#17becf"};

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else out += c;
  }
  return out;
}

std::string fmt(const char* format, double value) {
  char text[64];
  std::snprintf(text, sizeof text, format, value);
  return text;
}

}  // namespace

std::string sweep_chart_svg(const std::string& title, const std::vector<std::string>& dimensions,
                            const std::vector<SweepSample>& samples) {
  // series key (secondary values) -> first value -> averaged point, in first-seen order.
  std::map<std::string, std::map<std::string, Point>> series;
  std::vector<std::string> series_order;
  std::map<std::string, std::vector<std::string>> x_order;
  for (const auto& sample : samples) {
    std::string key;
    for (std::size_t d = 1; d < sample.values.size(); ++d)
      key += (d > 1 ? ", " : "") + dimensions[d] + "=" + sample.values[d];
    if (!series.count(key)) series_order.push_back(key);
    auto& points = series[key];
    const std::string& first = sample.values.empty() ? std::string() : sample.values[0];
    if (!points.count(first)) x_order[key].push_back(first);
    Point& point = points[first];
    point.label = first;
    point.x += sample.tokens_per_goal;
    point.rate += sample.resolution_rate;
    point.correct += sample.correct_rate;
    ++point.n;
    if (sample.usd_per_resolved >= 0) {
      point.cost += sample.usd_per_resolved;
      ++point.cost_n;
    }
  }
  double x_min = 1e300, x_max = 0, cost_max = 0;
  for (auto& [key, points] : series) {
    for (auto& [label, point] : points) {
      point.x /= point.n;
      point.rate /= point.n;
      point.correct /= point.n;
      point.cost = point.cost_n ? point.cost / point.cost_n : -1;
      x_min = std::min(x_min, point.x);
      x_max = std::max(x_max, point.x);
      cost_max = std::max(cost_max, point.cost);
    }
  }
  if (x_min <= 0 || x_min > x_max) x_min = 1, x_max = 10;
  const double lx_min = std::log10(x_min) - 0.05, lx_max = std::log10(x_max) + 0.05;
  if (cost_max <= 0) cost_max = 1;

  const int width = 1000, height = 460, panel_w = 400, panel_h = 300, top = 70;
  const int lefts[2] = {80, 580};
  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
      << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      << "<text x=\"" << width / 2 << "\" y=\"28\" text-anchor=\"middle\" font-size=\"16\">"
      << escape(title) << ": outcome and cost against inference compute (varying "
      << escape(dimensions.empty() ? "" : dimensions[0]) << ")</text>\n";
  const char* y_titles[2] = {"% of goals resolved by the team (dashed: correctly)",
                             "USD per resolved goal"};
  for (int panel = 0; panel < 2; ++panel) {
    const int left = lefts[panel];
    svg << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << panel_w << "\" height=\""
        << panel_h << "\" fill=\"none\" stroke=\"#444\"/>\n";
    svg << "<text x=\"" << left + panel_w / 2 << "\" y=\"" << top + panel_h + 40
        << "\" text-anchor=\"middle\">tokens per goal (log scale)</text>\n";
    svg << "<text transform=\"translate(" << left - 50 << "," << top + panel_h / 2
        << ") rotate(-90)\" text-anchor=\"middle\">" << y_titles[panel] << "</text>\n";
    for (int tick = 0; tick <= 4; ++tick) {
      const double y = top + panel_h - tick * panel_h / 4.0;
      const double value = panel == 0 ? tick * 25.0 : cost_max * tick / 4.0;
      svg << "<line x1=\"" << left << "\" x2=\"" << left + panel_w << "\" y1=\"" << y
          << "\" y2=\"" << y << "\" stroke=\"#ddd\"/>\n"
          << "<text x=\"" << left - 6 << "\" y=\"" << y + 4 << "\" text-anchor=\"end\">"
          << (panel == 0                ? fmt("%.0f", value)
              : cost_max / 4 >= 0.1  ? fmt("%.2f", value)
              : cost_max / 4 >= 0.01 ? fmt("%.3f", value)
                                     : fmt("%.4f", value))
          << "</text>\n";
    }
    for (double decade = std::floor(lx_min); decade <= lx_max; decade += 1) {
      for (double mantissa : {1.0, 2.0, 5.0}) {
        const double tick = decade + std::log10(mantissa);
        if (tick < lx_min || tick > lx_max) continue;
        const double x = left + (tick - lx_min) / (lx_max - lx_min) * panel_w;
        svg << "<text x=\"" << x << "\" y=\"" << top + panel_h + 16
            << "\" text-anchor=\"middle\">" << fmt("%.0f", std::pow(10.0, tick)) << "</text>\n";
      }
    }
    int color = 0;
    for (const auto& key : series_order) {
      const char* stroke = kColors[color++ % 8];
      std::ostringstream path;
      bool first = true;
      for (const auto& label : x_order[key]) {
        const Point& point = series[key][label];
        if (panel == 1 && point.cost < 0) continue;
        const double x =
            left + (std::log10(point.x) - lx_min) / (lx_max - lx_min) * panel_w;
        const double fraction = panel == 0 ? point.rate : point.cost / cost_max;
        const double y = top + panel_h - fraction * panel_h;
        path << (first ? "M" : " L") << fmt("%.1f", x) << " " << fmt("%.1f", y);
        first = false;
        svg << "<circle class=\"point\" cx=\"" << fmt("%.1f", x) << "\" cy=\"" << fmt("%.1f", y)
            << "\" r=\"4\" fill=\"" << stroke << "\"/>\n"
            << "<text x=\"" << fmt("%.1f", x + 6) << "\" y=\"" << fmt("%.1f", y - 6)
            << "\" font-size=\"10\">" << escape(label) << "</text>\n";
      }
      svg << "<path class=\"series\" d=\"" << path.str() << "\" fill=\"none\" stroke=\"" << stroke
          << "\" stroke-width=\"2\"/>\n";
      if (panel == 0) {
        // Dashed: the part of it that was really correct (simulation ground truth).
        std::ostringstream dashed;
        bool start = true;
        for (const auto& label : x_order[key]) {
          const Point& point = series[key][label];
          const double x = left + (std::log10(point.x) - lx_min) / (lx_max - lx_min) * panel_w;
          const double y = top + panel_h - point.correct * panel_h;
          dashed << (start ? "M" : " L") << fmt("%.1f", x) << " " << fmt("%.1f", y);
          start = false;
        }
        svg << "<path class=\"series-correct\" d=\"" << dashed.str()
            << "\" fill=\"none\" stroke=\"" << stroke
            << "\" stroke-width=\"1.5\" stroke-dasharray=\"5,4\"/>\n";
      }
    }
  }
  int row = 0;
  for (const auto& key : series_order) {
    if (key.empty()) continue;
    svg << "<rect x=\"80\" y=\"" << height - 34 + row * 0 << "\" width=\"10\" height=\"10\" fill=\""
        << kColors[row % 8] << "\" transform=\"translate(" << row * 200 << ",0)\"/>\n"
        << "<text x=\"" << 95 + row * 200 << "\" y=\"" << height - 25 << "\">" << escape(key)
        << "</text>\n";
    ++row;
  }
  svg << "</svg>\n";
  return svg.str();
}

std::string sweep_report_html(const std::string& title, const std::vector<std::string>& dimensions,
                              const std::string& chart_svg, const std::vector<SweepRunRow>& rows) {
  using runtime::html_escape;
  std::ostringstream out;
  out << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>cadre sweep: "
      << html_escape(title) << "</title>\n<style>\n"
      << "body{font-family:sans-serif;font-size:14px;color:#222;margin:24px;max-width:1120px}\n"
      << "h1{font-size:22px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}\n"
      << "table{border-collapse:collapse}th,td{padding:3px 10px;border-bottom:1px solid #eee;"
         "text-align:right}th:first-child,td:first-child{text-align:left}.failed{color:#b00}\n"
      << "svg{display:block}\n</style>\n</head><body>\n<h1>cadre sweep: " << html_escape(title)
      << "</h1>\n<p>" << rows.size() << " runs over";
  for (std::size_t d = 0; d < dimensions.size(); ++d)
    out << (d ? ", " : " ") << html_escape(dimensions[d]);
  out << ". Data: <a href=\"sweep.csv\">sweep.csv</a>; chart alone: "
         "<a href=\"sweep.svg\">sweep.svg</a>.</p>\n<h2>Outcome against compute</h2>\n"
      << chart_svg << "<h2>Runs</h2>\n<table id=\"runs\"><tr><th>run</th><th>seed</th>";
  for (const auto& dimension : dimensions) out << "<th>" << html_escape(dimension) << "</th>";
  out << "<th>goals</th><th>resolved</th><th>escalated</th><th>failed</th><th>tokens per goal</th>"
         "<th>USD</th><th>USD per resolved</th><th>report</th></tr>\n";
  for (const auto& row : rows) {
    out << "<tr><td>" << row.run << "</td><td>" << row.seed << "</td>";
    for (const auto& value : row.values) out << "<td>" << html_escape(value) << "</td>";
    if (!row.failure.empty()) {
      out << "<td class=\"failed\" colspan=\"7\">failed: " << html_escape(row.failure) << "</td>";
    } else {
      const double total = std::max(1.0, row.goals);
      out << "<td>" << fmt("%.0f", row.goals) << "</td><td>" << fmt("%.0f", row.resolved)
          << fmt(" (%.0f%%)", 100 * row.resolved / total) << "</td><td>"
          << fmt("%.0f", row.escalated) << "</td><td>" << fmt("%.0f", row.failed) << "</td><td>"
          << fmt("%.0f", row.tokens_per_goal) << "</td><td>" << fmt("%.4f", row.usd) << "</td><td>"
          << (row.usd_per_resolved < 0 ? std::string("&#8211;") : fmt("%.4f", row.usd_per_resolved))
          << "</td>";
    }
    out << "<td>";
    if (!row.link.empty())
      out << "<a href=\"" << html_escape(row.link) << "\">report</a>";
    out << "</td></tr>\n";
  }
  out << "</table>\n</body></html>\n";
  return out.str();
}

}  // namespace cadre::cli
