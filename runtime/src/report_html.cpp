#include "cadre/runtime/report_html.h"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <map>
#include <unordered_map>
#include <vector>

#include "report_text.h"

namespace cadre::runtime {
namespace {

using report_text::append_html;

// printf into a std::string (short texts: numbers, coordinates).
std::string fmt(const char* format, ...) __attribute__((format(printf, 1, 2)));
std::string fmt(const char* format, ...) {
  char text[512];
  va_list args;
  va_start(args, format);
  const int n = std::vsnprintf(text, sizeof text, format, args);
  va_end(args);
  if (n < 0) return {};
  if (static_cast<std::size_t>(n) < sizeof text) return std::string(text, n);
  std::string long_text(static_cast<std::size_t>(n) + 1, '\0');
  va_start(args, format);
  std::vsnprintf(long_text.data(), long_text.size(), format, args);
  va_end(args);
  long_text.resize(static_cast<std::size_t>(n));
  return long_text;
}

std::string esc(std::string_view text) {
  std::string out;
  append_html(out, text);
  return out;
}

// 1234567 -> "1,234,567"
std::string grouped(std::uint64_t value) {
  std::string digits = std::to_string(value), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

std::string usd(double value) {
  return value >= 100 ? fmt("$%.2f", value) : value >= 1 ? fmt("$%.3f", value) : fmt("$%.4f", value);
}

std::string seconds_text(double s) {
  return s >= 100 ? fmt("%.0f s", s) : s >= 10 ? fmt("%.1f s", s) : fmt("%.2f s", s);
}

// A "nice" tick step (1, 2 or 5 times a power of ten) giving about `ticks` ticks over `span`.
double nice_step(double span, int ticks) {
  if (span <= 0) return 1;
  const double raw = span / ticks;
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * power >= raw) return m * power;
  return 10 * power;
}

std::string tick_label(double value, double step) {
  if (step >= 1) return fmt("%.0f", value);
  if (step >= 0.1) return fmt("%.1f", value);
  if (step >= 0.01) return fmt("%.2f", value);
  return fmt("%.3g", value);
}

double goal_seconds(const GoalRecord& goal) {
  if (goal.first_dispatch_at < 0 || goal.finished_at < 0) return -1.0;
  return us_to_seconds(goal.finished_at - goal.first_dispatch_at);
}

const char* kind_colour(roles::TaskKind kind) {
  switch (kind) {
    case roles::TaskKind::plan: return report_colours::kPlan;
    case roles::TaskKind::solve: return report_colours::kSolve;
    case roles::TaskKind::review: return report_colours::kReview;
    case roles::TaskKind::resolve: return report_colours::kResolve;
    case roles::TaskKind::approve: return report_colours::kApprove;
  }
  return "#000000";
}

struct Counts {
  std::uint64_t resolved = 0, escalated = 0, failed = 0, stopped = 0, open = 0;
  std::uint64_t total() const { return resolved + escalated + failed + stopped + open; }
};

Counts count_outcomes(const Ledger& ledger) {
  Counts counts;
  for (const auto& goal : ledger.goals()) {
    switch (goal.outcome) {
      case GoalOutcome::resolved: ++counts.resolved; break;
      case GoalOutcome::escalated: ++counts.escalated; break;
      case GoalOutcome::failed: ++counts.failed; break;
      case GoalOutcome::stopped_by_budget: ++counts.stopped; break;
      case GoalOutcome::none: ++counts.open; break;
    }
  }
  return counts;
}

// ---------------------------------------------------------------------------------------------
// Outcomes: one stacked bar.

void outcome_chart(std::string& out, const Counts& counts) {
  const int width = 900, bar_x = 10, bar_w = 880, bar_y = 8, bar_h = 36;
  struct Part {
    const char* name;
    std::uint64_t n;
    const char* colour;
  };
  const Part parts[] = {{"resolved", counts.resolved, report_colours::kResolved},
                        {"escalated", counts.escalated, report_colours::kEscalated},
                        {"failed", counts.failed, report_colours::kFailed},
                        {"stopped by budget", counts.stopped, report_colours::kStopped},
                        {"open", counts.open, report_colours::kOpen}};
  const std::uint64_t total = counts.total();
  out += fmt("<svg class=\"chart\" id=\"outcomes\" width=\"%d\" height=\"84\" viewBox=\"0 0 %d 84\" "
             "role=\"img\" aria-label=\"goal outcomes\">\n",
             width, width);
  if (total == 0) {
    out += "<text x=\"10\" y=\"30\">no goals</text>\n</svg>\n";
    return;
  }
  double x = bar_x;
  for (const Part& part : parts) {
    if (part.n == 0) continue;
    const double share = static_cast<double>(part.n) / total;
    const double w = share * bar_w;
    out += fmt("<rect class=\"outcome\" x=\"%.2f\" y=\"%d\" width=\"%.2f\" height=\"%d\" "
               "fill=\"%s\"><title>",
               x, bar_y, w, bar_h, part.colour);
    out += fmt("%s: %s of %s goals (%.1f%%)", part.name, grouped(part.n).c_str(),
               grouped(total).c_str(), 100 * share);
    out += "</title></rect>\n";
    if (w >= 70)
      out += fmt("<text x=\"%.2f\" y=\"%d\" text-anchor=\"middle\" fill=\"white\" "
                 "font-weight=\"bold\">%s &#183; %.1f%%</text>\n",
                 x + w / 2, bar_y + bar_h / 2 + 5, grouped(part.n).c_str(), 100 * share);
    x += w;
  }
  double legend_x = bar_x;
  for (const Part& part : parts) {
    out += fmt("<rect x=\"%.0f\" y=\"60\" width=\"12\" height=\"12\" fill=\"%s\"/>", legend_x,
               part.colour);
    const std::string label = fmt("%s %s (%.1f%%)", part.name, grouped(part.n).c_str(),
                                  100.0 * part.n / total);
    out += fmt("<text x=\"%.0f\" y=\"71\">%s</text>\n", legend_x + 17, label.c_str());
    legend_x += 24 + 7.5 * label.size();
  }
  out += "</svg>\n";
}

// ---------------------------------------------------------------------------------------------
// Cost: figures and a table by role.

void cost_section(std::string& out, const HubCore& core, const RunFacts& facts,
                  const Counts& counts) {
  const Ledger& ledger = core.ledger();
  const std::uint64_t done = counts.resolved + counts.escalated;
  const TaskCounters& c = ledger.counters();
  out += "<table class=\"figures\">\n";
  auto row = [&](const std::string& name, const std::string& value) {
    out += "<tr><th>" + name + "</th><td>" + value + "</td></tr>\n";
  };
  row("cost", usd(ledger.usd()) + " total");
  row("per resolved goal", done > 0 ? usd(ledger.usd() / done) +
                                          fmt(" (over %s goals resolved by the team or a human)",
                                              grouped(done).c_str())
                                    : std::string("no goal resolved"));
  row("tokens", grouped(ledger.tokens_in()) + " in, " + grouped(ledger.tokens_out()) + " out" +
                    (done > 0 ? fmt(" (%s per resolved goal)",
                                    grouped((ledger.tokens_in() + ledger.tokens_out()) / done)
                                        .c_str())
                              : std::string()));
  row("tasks", grouped(c.dispatched) + " dispatched, " + grouped(c.completed) + " completed, " +
                   grouped(c.requeued) + " requeued, " + grouped(c.duplicates_ignored) +
                   " duplicates ignored, " + grouped(c.failed_attempts) + " failed attempts");
  row("time", seconds_text(facts.wall_s) + (facts.mode == "sim" ? " (virtual)" : "") +
                  ", goal p50 " + seconds_text(goal_time_percentile(ledger, 50)) + ", p95 " +
                  seconds_text(goal_time_percentile(ledger, 95)));
  if (ledger.unpriced_results() > 0)
    row("unpriced", grouped(ledger.unpriced_results()) + " results from models without a price");
  out += "</table>\n";

  // By role: what its tasks' accepted results cost.
  struct RoleCost {
    std::uint64_t agents = 0, results = 0, tokens_in = 0, tokens_out = 0;
    double usd = 0;
  };
  std::map<std::string, RoleCost> roles;
  std::vector<std::string> order;
  for (const auto& agent : core.scheduler().agents()) {
    if (!roles.count(agent.role)) order.push_back(agent.role);
    ++roles[agent.role].agents;
  }
  double tasks_usd = 0;
  for (std::size_t id = 0; id < ledger.task_count(); ++id) {
    const TaskRecord& task = ledger.task(static_cast<TaskId>(id));
    if (task.state != TaskState::done) continue;
    const char* role_name = role_of(task.kind);
    if (!roles.count(role_name)) order.push_back(role_name);
    RoleCost& role = roles[role_name];
    ++role.results;
    role.tokens_in += task.tokens_in;
    role.tokens_out += task.tokens_out;
    role.usd += task.usd;
    tasks_usd += task.usd;
  }
  out += "<table class=\"grid\"><tr><th>role</th><th>agents</th><th>results</th>"
         "<th>tokens in</th><th>tokens out</th><th>USD</th></tr>\n";
  for (const auto& name : order) {
    const RoleCost& role = roles[name];
    out += "<tr><td>" + esc(name) + "</td><td>" + grouped(role.agents) + "</td><td>" +
           grouped(role.results) + "</td><td>" + grouped(role.tokens_in) + "</td><td>" +
           grouped(role.tokens_out) + "</td><td>" + usd(role.usd) + "</td></tr>\n";
  }
  const double fees = ledger.usd() - tasks_usd;
  if (fees > 1e-9)
    out += "<tr><td colspan=\"5\">human fees (escalations, approvals)</td><td>" + usd(fees) +
           "</td></tr>\n";
  out += "</table>\n";
}

// ---------------------------------------------------------------------------------------------
// Timeline: a Gantt chart of the dispatch spans, one row per agent.

void timeline_section(std::string& out, const HubCore& core, const HtmlLimits& limits) {
  const Ledger& ledger = core.ledger();
  const auto& agents = core.scheduler().agents();
  const auto& spans = ledger.spans();
  const TimeUs origin = core.started_at();
  TimeUs end_of_run = std::max(core.last_event_at(), origin);
  for (const auto& span : spans) end_of_run = std::max(end_of_run, span.end);

  std::vector<std::uint64_t> bars_of(agents.size(), 0);
  for (const auto& span : spans) ++bars_of[span.agent];

  // Choose rows: agents in turn from each role (scheduler order within a role) while the limits
  // hold; at least one agent, whose own bars may then be cut at the bar limit.
  std::vector<std::string> role_order;
  std::map<std::string, std::vector<std::size_t>> by_role;
  for (std::size_t i = 0; i < agents.size(); ++i) {
    if (!by_role.count(agents[i].role)) role_order.push_back(agents[i].role);
    by_role[agents[i].role].push_back(i);
  }
  std::vector<bool> chosen(agents.size(), false);
  std::size_t rows = 0;
  std::uint64_t chosen_bars = 0;
  std::map<std::string, std::size_t> next_in_role;
  for (bool progress = true; progress && rows < limits.max_agents;) {
    progress = false;
    for (const auto& role : role_order) {
      if (rows >= limits.max_agents) break;
      std::size_t& next = next_in_role[role];
      if (next >= by_role[role].size()) continue;
      const std::size_t agent = by_role[role][next];
      if (rows > 0 && chosen_bars + bars_of[agent] > limits.max_bars) continue;
      chosen[agent] = true;
      chosen_bars += bars_of[agent];
      ++next;
      ++rows;
      progress = true;
    }
  }
  // The bars to draw, in dispatch order; those past the bar limit are counted, not drawn.
  struct Bar {
    const DispatchSpan* span;
    std::size_t agent;
    TimeUs end;
    std::uint32_t lane = 0;
  };
  std::vector<Bar> bars;
  bars.reserve(std::min<std::uint64_t>(chosen_bars, limits.max_bars));
  std::uint64_t cut = 0;
  TimeUs cut_from = -1;
  for (const DispatchSpan& span : spans) {
    if (!chosen[span.agent]) continue;
    if (bars.size() >= limits.max_bars) {
      if (cut_from < 0) cut_from = span.start;
      ++cut;
      continue;
    }
    bars.push_back(Bar{&span, span.agent, std::max(span.end >= 0 ? span.end : end_of_run, span.start)});
  }
  const std::uint64_t drawn = bars.size();
  // An agent with capacity > 1 works on several tasks at once: each of its rows has lanes, and a
  // bar takes the first lane free at its start (spans come in start order).
  std::vector<std::vector<TimeUs>> lane_ends(agents.size());
  for (Bar& bar : bars) {
    auto& ends = lane_ends[bar.agent];
    std::uint32_t lane = 0;
    while (lane < ends.size() && ends[lane] > bar.span->start) ++lane;
    if (lane == ends.size()) ends.push_back(bar.end);
    else ends[lane] = bar.end;
    bar.lane = lane;
  }

  // Row geometry: a row is 14 px for one lane; more lanes share up to 28 px (at least 3 px each).
  const int label_w = 190, plot_w = 880, top = 8;
  std::vector<int> row_y(agents.size(), 0), lane_h(agents.size(), 10);
  std::vector<std::size_t> row_order;
  std::map<std::string, std::size_t> shown_per_role;
  int y_cursor = top;
  for (const auto& role : role_order)
    for (std::size_t agent : by_role[role])
      if (chosen[agent]) {
        const int lanes = std::max<int>(1, static_cast<int>(lane_ends[agent].size()));
        lane_h[agent] = lanes == 1 ? 10 : std::clamp(24 / lanes, 3, 10);
        row_y[agent] = y_cursor;
        y_cursor += lanes * lane_h[agent] + 4;
        row_order.push_back(agent);
        ++shown_per_role[role];
      }
  const int axis_y = y_cursor;
  const int height = axis_y + 36;
  const double total_s = std::max(us_to_seconds(end_of_run - origin), 1e-6);
  auto x_of = [&](TimeUs t) {
    return label_w + us_to_seconds(std::max<TimeUs>(0, t - origin)) / total_s * plot_w;
  };

  out += fmt("<svg class=\"chart\" id=\"timeline\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
             "role=\"img\" aria-label=\"timeline of every agent's dispatches\">\n",
             label_w + plot_w + 20, height, label_w + plot_w + 20, height);
  // Row stripes and labels.
  for (std::size_t i = 0; i < row_order.size(); ++i) {
    const std::size_t agent = row_order[i];
    const int lanes = std::max<int>(1, static_cast<int>(lane_ends[agent].size()));
    const int h = lanes * lane_h[agent] + 4;
    if (i % 2 == 0)
      out += fmt("<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#f4f4f4\"/>", label_w,
                 row_y[agent], plot_w, h);
    out += fmt("<text x=\"%d\" y=\"%d\" text-anchor=\"end\" font-size=\"11\">", label_w - 6,
               row_y[agent] + h / 2 + 4);
    append_html(out, agents[agent].id);
    out += " <tspan fill=\"#777\">";
    append_html(out, agents[agent].role);
    out += "</tspan></text>\n";
  }
  // Axis: seconds from the start of the run.
  const double step = nice_step(total_s, 10);
  for (double t = 0; t <= total_s + step * 1e-9; t += step) {
    const double x = label_w + t / total_s * plot_w;
    out += fmt("<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#dddddd\"/>"
               "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" font-size=\"11\">%s</text>\n",
               x, x, top, axis_y + 4, x, axis_y + 16, tick_label(t, step).c_str());
  }
  out += fmt("<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"#444\"/>", label_w,
             label_w + plot_w, axis_y, axis_y);
  out += fmt("<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"11\">seconds since the "
             "run started</text>\n",
             label_w + plot_w / 2, axis_y + 31);

  for (const Bar& bar : bars) {
    const DispatchSpan& span = *bar.span;
    const TaskRecord& task = ledger.task(span.task);
    const double x0 = x_of(span.start), x1 = x_of(bar.end);
    // A bar longer than 3 px leaves a 1 px gap at its end, so back-to-back tasks stay apart.
    const double width = x1 - x0 > 3 ? x1 - x0 - 1 : std::max(1.0, x1 - x0);
    const int h = lane_h[bar.agent];
    const int y = row_y[bar.agent] + 2 + static_cast<int>(bar.lane) * h;
    const bool answered = span.how == SpanEnd::answered;
    out += fmt("<rect class=\"span\" x=\"%.2f\" y=\"%d\" width=\"%.2f\" height=\"%d\" fill=\"%s\"%s>"
               "<title>",
               x0, y, width, h > 4 ? h - 1 : h, kind_colour(task.kind),
               answered ? "" : " fill-opacity=\"0.35\"");
    out += "goal ";
    append_html(out, ledger.goal_id_of(span.task));
    out += " &#183; task ";
    append_html(out, ledger.task_id_of(span.task));
    out += fmt(" &#183; attempt %u &#183; %s &#183; verdict ", task.attempt,
               roles::task_kind_name(task.kind));
    append_html(out, task.verdict.empty() ? std::string_view("none") : task.verdict);
    out += " &#183; ";
    out += span_end_name(span.how);
    if (span.end < 0) out += " (cut off by the end of the run)";
    if (answered)
      out += fmt(" &#183; %llu in / %llu out tokens, $%.6f",
                 static_cast<unsigned long long>(task.tokens_in),
                 static_cast<unsigned long long>(task.tokens_out), task.usd);
    out += fmt(" &#183; %.3f&#8211;%.3f s</title></rect>\n", us_to_seconds(span.start - origin),
               us_to_seconds(bar.end - origin));
  }
  out += "</svg>\n";

  // Legend.
  out += "<p class=\"legend\">";
  const std::pair<const char*, const char*> kinds[] = {
      {"plan", report_colours::kPlan},       {"solve", report_colours::kSolve},
      {"review", report_colours::kReview},   {"resolve", report_colours::kResolve},
      {"approve", report_colours::kApprove}};
  for (const auto& [name, colour] : kinds)
    out += fmt("<span class=\"swatch\" style=\"background:%s\"></span>%s ", colour, name);
  out += "&#8212; faded: the dispatch did not answer (cancelled because another agent answered "
         "first or the run stopped, lost with its agent, or still open at the end). Hover a bar "
         "for its goal, task, attempt, verdict and tokens.</p>\n";

  // What was left out, said plainly.
  std::uint64_t hidden_agents = 0, hidden_bars = 0;
  for (std::size_t i = 0; i < agents.size(); ++i)
    if (!chosen[i]) {
      ++hidden_agents;
      hidden_bars += bars_of[i];
    }
  if (hidden_agents > 0 || cut > 0) {
    out += "<p class=\"note\" id=\"timeline-omitted\">Shown: " + grouped(rows) + " of " +
           grouped(agents.size()) + " agents (";
    bool first = true;
    for (const auto& role : role_order) {
      out += (first ? "" : ", ") + grouped(shown_per_role[role]) + " of " +
             grouped(by_role[role].size()) + " ";
      append_html(out, role);
      first = false;
    }
    out += "; taken in turn from each role) and " + grouped(drawn) + " of " +
           grouped(spans.size()) + " dispatches. Not shown:";
    if (hidden_agents > 0)
      out += " " + grouped(hidden_agents) + " agents with " + grouped(hidden_bars) +
             " dispatches (the page draws at most " + grouped(limits.max_agents) + " rows and " +
             grouped(limits.max_bars) + " bars)";
    if (cut > 0)
      out += fmt("%s the last %s dispatches of the agents shown, from %s on (bar limit %s)",
                 hidden_agents > 0 ? ";" : "", grouped(cut).c_str(),
                 seconds_text(us_to_seconds(cut_from - origin)).c_str(),
                 grouped(limits.max_bars).c_str());
    out += ". Every dispatch is in trace.json and in report.json's task_attempts.</p>\n";
  }
}

// ---------------------------------------------------------------------------------------------
// Goal times: a histogram with p50 and p95 marked.

void latency_section(std::string& out, const Ledger& ledger) {
  std::vector<double> times;
  for (const auto& goal : ledger.goals()) {
    const double s = goal_seconds(goal);
    if (s >= 0) times.push_back(s);
  }
  const int left = 60, plot_w = 820, top = 24, plot_h = 200;
  out += fmt("<svg class=\"chart\" id=\"latency\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
             "role=\"img\" aria-label=\"distribution of goal times\">\n",
             left + plot_w + 30, top + plot_h + 44, left + plot_w + 30, top + plot_h + 44);
  if (times.empty()) {
    out += "<text x=\"60\" y=\"60\">no goal ended after being dispatched</text>\n</svg>\n";
    return;
  }
  const double max_time = *std::max_element(times.begin(), times.end());
  const double step = nice_step(max_time > 0 ? max_time : 1, 10);
  const double range = std::max(step, std::ceil(max_time / step * (1 + 1e-12)) * step);
  const std::size_t bins = std::clamp<std::size_t>(times.size() < 40 ? 10 : 40, 1, 40);
  const double bin_w = range / bins;
  std::vector<std::uint64_t> counts(bins, 0);
  for (double t : times)
    ++counts[std::min(bins - 1, static_cast<std::size_t>(t / bin_w))];
  const std::uint64_t peak = *std::max_element(counts.begin(), counts.end());
  auto x_of = [&](double s) { return left + s / range * plot_w; };

  // Y axis: goal counts.
  const double y_step = std::max(1.0, nice_step(static_cast<double>(peak), 4));
  for (double v = 0; v <= peak + y_step * 1e-9; v += y_step) {
    const double y = top + plot_h - v / peak * plot_h;
    out += fmt("<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>"
               "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" font-size=\"11\">%.0f</text>\n",
               left, left + plot_w, y, y, left - 6, y + 4, v);
  }
  for (std::size_t b = 0; b < bins; ++b) {
    if (counts[b] == 0) continue;
    const double h = static_cast<double>(counts[b]) / peak * plot_h;
    out += fmt("<rect class=\"bin\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" "
               "fill=\"%s\"><title>%s&#8211;%s: %s goals</title></rect>\n",
               x_of(b * bin_w) + 0.5, top + plot_h - h, std::max(1.0, plot_w / double(bins) - 1),
               h, report_colours::kLatency, seconds_text(b * bin_w).c_str(),
               seconds_text((b + 1) * bin_w).c_str(), grouped(counts[b]).c_str());
  }
  for (double t = 0; t <= range + step * 1e-9; t += step)
    out += fmt("<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" font-size=\"11\">%s</text>\n",
               x_of(t), top + plot_h + 16, tick_label(t, step).c_str());
  out += fmt("<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"#444\"/>", left,
             left + plot_w, top + plot_h, top + plot_h);
  out += fmt("<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"11\">goal time, seconds "
             "(first dispatch to end), %s goals</text>\n",
             left + plot_w / 2, top + plot_h + 34, grouped(times.size()).c_str());
  const double p50 = goal_time_percentile(ledger, 50), p95 = goal_time_percentile(ledger, 95);
  const struct {
    const char* name;
    double value;
    const char* colour;
    int label_y;
  } marks[] = {{"p50", p50, report_colours::kP50, top - 12},
               {"p95", p95, report_colours::kP95, top - 2}};
  for (const auto& mark : marks) {
    const double x = x_of(mark.value);
    out += fmt("<line class=\"%s\" x1=\"%.2f\" x2=\"%.2f\" y1=\"%d\" y2=\"%d\" stroke=\"%s\" "
               "stroke-width=\"2\" stroke-dasharray=\"6,3\"/>"
               "<text x=\"%.2f\" y=\"%d\" fill=\"%s\" font-size=\"11\">%s %s</text>\n",
               mark.name, x, x, top - 4, top + plot_h, mark.colour, x + 4, mark.label_y + 8,
               mark.colour, mark.name, seconds_text(mark.value).c_str());
  }
  out += "</svg>\n";
}

// ---------------------------------------------------------------------------------------------
// Goals worth a look: those the team did not resolve, then the slowest.

void goals_section(std::string& out, const Ledger& ledger) {
  constexpr std::size_t kUnresolved = 10, kSlowest = 10;
  std::vector<const GoalRecord*> unresolved, resolved;
  for (const auto& goal : ledger.goals())
    (goal.outcome == GoalOutcome::resolved ? resolved : unresolved).push_back(&goal);
  std::stable_sort(resolved.begin(), resolved.end(), [](const GoalRecord* a, const GoalRecord* b) {
    return goal_seconds(*a) > goal_seconds(*b);
  });
  std::vector<const GoalRecord*> rows(unresolved.begin(),
                                      unresolved.begin() + std::min(kUnresolved, unresolved.size()));
  rows.insert(rows.end(), resolved.begin(), resolved.begin() + std::min(kSlowest, resolved.size()));
  if (rows.empty()) {
    out += "<p class=\"note\">no goals</p>\n";
    return;
  }
  out += "<table class=\"grid\" id=\"goals\"><tr><th>goal</th><th>title</th><th>outcome</th>"
         "<th>time</th><th>USD</th><th>results</th><th>why</th></tr>\n";
  for (const GoalRecord* goal : rows) {
    const double s = goal_seconds(*goal);
    out += "<tr><td>" + esc(goal->spec.id) + "</td><td class=\"t\">" + esc(goal->spec.title) +
           "</td><td class=\"t\">" + outcome_name(goal->outcome) + "</td><td>" +
           (s >= 0 ? seconds_text(s) : "&#8211;") + "</td><td>" + usd(goal->usd) + "</td><td>" +
           std::to_string(goal->attempts) + "</td><td class=\"t\">" + esc(goal->reason) +
           "</td></tr>\n";
  }
  out += "</table>\n";
  const std::size_t more = ledger.goals().size() - rows.size();
  if (more == 0) {
    out += "<p class=\"note\">Every goal is listed.</p>\n";
    return;
  }
  out += "<p class=\"note\">" + grouped(more) + " goals not listed";
  if (unresolved.size() > kUnresolved)
    out += " (" + grouped(unresolved.size() - kUnresolved) + " of them did not resolve)";
  out += "; every goal is in goals.jsonl.</p>\n";
}

// ---------------------------------------------------------------------------------------------
// Agents: a table for small teams.

void agents_section(std::string& out, const HubCore& core, const RunFacts& facts) {
  const auto& agents = core.scheduler().agents();
  constexpr std::size_t kMaxRows = 100;
  if (agents.size() > kMaxRows) {
    out += "<p class=\"note\">" + grouped(agents.size()) +
           " agents: too many to list here; report.json's \"agents\" has each one.</p>\n";
    return;
  }
  out += "<table class=\"grid\"><tr><th>agent</th><th>role</th><th>model</th><th>results</th>"
         "<th>busy (share of capacity)</th><th>joins</th><th>restarts</th></tr>\n";
  for (const auto& agent : agents) {
    auto restarts = facts.agent_restarts.find(agent.id);
    const double busy = us_to_seconds(agent.busy_us);
    out += "<tr><td>" + esc(agent.id) + "</td><td class=\"t\">" + esc(agent.role) +
           "</td><td class=\"t\">" + esc(agent.model) + "</td><td>" + grouped(agent.tasks_completed) + "</td><td>" +
           seconds_text(busy) +
           (facts.wall_s > 0
                ? fmt(" (%.0f%%)", 100 * busy / (facts.wall_s * std::max(1u, agent.capacity)))
                : std::string()) +
           "</td><td>" + std::to_string(agent.joins) + "</td><td>" +
           std::to_string(restarts != facts.agent_restarts.end() ? restarts->second : 0u) +
           "</td></tr>\n";
  }
  out += "</table>\n";
}

constexpr const char* kStyle = R"(<style>
body{font-family:sans-serif;font-size:14px;color:#222;margin:24px;max-width:1120px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}
.sub{color:#555;margin:0 0 12px}.banner{background:#fff3cd;border:1px solid #e0c36b;padding:8px}
table{border-collapse:collapse;margin:8px 0}th,td{padding:3px 10px;text-align:left}
table.grid td,table.grid th{border-bottom:1px solid #eee}table.grid td+td{text-align:right}
table.grid td.t{text-align:left}
table.figures th{color:#555;font-weight:normal}
.swatch{display:inline-block;width:11px;height:11px;margin:0 4px 0 10px;vertical-align:-1px}
.note{color:#555}.legend{color:#333;font-size:13px}svg.chart{display:block;font-size:12px}
</style>
)";

}  // namespace

std::string html_escape(std::string_view text) { return esc(text); }

std::string report_html(const HubCore& core, const RunFacts& facts, const HtmlLimits& limits) {
  const Ledger& ledger = core.ledger();
  const Scenario& scenario = ledger.scenario();
  const Counts counts = count_outcomes(ledger);
  std::string out;
  out.reserve(64 * 1024 + std::min<std::size_t>(ledger.spans().size(), limits.max_bars) * 260);
  out += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>cadre ";
  append_html(out, facts.mode);
  out += " run: ";
  append_html(out, scenario.name);
  out += "</title>\n";
  out += kStyle;
  out += "</head><body>\n<h1>cadre " + esc(facts.mode) + " run: " + esc(scenario.name) + "</h1>\n";
  out += "<p class=\"sub\">seed " + std::to_string(scenario.seed) + " &#183; " +
         grouped(ledger.goals().size()) + " goals &#183; " +
         grouped(core.scheduler().agents().size()) + " agents &#183; workflow " +
         esc(scenario.workflow.kind) + fmt(", %u samples, %u revisions, approval ",
                                           scenario.workflow.samples,
                                           scenario.workflow.max_revisions) +
         (scenario.workflow.approval == Approval::human ? "human" : "auto") + " &#183; finished: " +
         esc(core.finish_reason()) + "</p>\n";
  if (!scenario.description.empty()) out += "<p class=\"sub\">" + esc(scenario.description) + "</p>\n";
  if (facts.interrupted)
    out += "<p class=\"banner\">Interrupted by a signal: this report is partial.</p>\n";
  if (!facts.failure.empty())
    out += "<p class=\"banner\">The run could not go on: " + esc(facts.failure) + "</p>\n";

  out += "<h2>Outcomes</h2>\n";
  outcome_chart(out, counts);
  out += "<h2>Cost</h2>\n";
  cost_section(out, core, facts, counts);
  out += "<h2>Timeline</h2>\n<p class=\"note\">One row per agent, one bar per dispatch, coloured "
         "by task kind.</p>\n";
  timeline_section(out, core, limits);
  out += "<h2>Goal times</h2>\n";
  latency_section(out, ledger);
  out += "<h2>Goals</h2>\n<p class=\"note\">Those the team did not resolve (up to 10), then "
         "the slowest resolved (up to 10).</p>\n";
  goals_section(out, ledger);
  out += "<h2>Agents</h2>\n";
  agents_section(out, core, facts);
  out += "<h2>Files</h2>\n<p><a href=\"report.json\">report.json</a> (totals and every task "
         "attempt) &#183; <a href=\"goals.jsonl\">goals.jsonl</a> (one line per goal) &#183; "
         "<a href=\"trace.json\">trace.json</a> (every dispatch, for Perfetto: open "
         "ui.perfetto.dev and choose <i>Open trace file</i>, or chrome://tracing)</p>\n";
  out += "</body></html>\n";
  return out;
}

}  // namespace cadre::runtime
