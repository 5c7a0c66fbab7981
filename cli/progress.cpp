#include "progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>

namespace cadre::cli {

ProgressSnapshot progress_snapshot(const runtime::HubCore& core) {
  ProgressSnapshot s;
  const auto& goals = core.ledger().goals();
  s.goals_total = goals.size();
  for (const auto& goal : goals) {
    switch (goal.outcome) {
      case runtime::GoalOutcome::none: break;
      case runtime::GoalOutcome::resolved: ++s.resolved; break;
      case runtime::GoalOutcome::escalated: ++s.escalated; break;
      case runtime::GoalOutcome::failed: ++s.failed; break;
      case runtime::GoalOutcome::stopped_by_budget: ++s.stopped; break;
    }
  }
  s.goals_ended = s.resolved + s.escalated + s.failed + s.stopped;
  for (const auto& agent : core.scheduler().agents()) {
    if (!agent.present) continue;
    ++s.agents_present;
    if (!agent.held.empty()) ++s.agents_busy;
  }
  s.usd = core.ledger().usd();
  return s;
}

namespace {

// "4.2s", "2m05s", "1h02m03s".
std::string duration_text(double seconds) {
  char text[48];
  if (!(seconds >= 0)) seconds = 0;  // also NaN
  if (seconds < 60) {
    std::snprintf(text, sizeof text, "%.1fs", seconds);
  } else {
    const auto whole = static_cast<unsigned long long>(seconds);
    const unsigned long long h = whole / 3600, m = whole / 60 % 60, sec = whole % 60;
    if (h > 0)
      std::snprintf(text, sizeof text, "%lluh%02llum%02llus", h, m, sec);
    else
      std::snprintf(text, sizeof text, "%llum%02llus", m, sec);
  }
  return text;
}

std::string usd_text(double usd) {
  char text[48];
  std::snprintf(text, sizeof text, std::fabs(usd) < 10 ? "$%.4f" : "$%.2f", usd);
  return text;
}

}  // namespace

std::string format_progress(const ProgressSnapshot& s) {
  std::string line = "goals " + std::to_string(s.goals_ended) + "/" +
                     std::to_string(s.goals_total) + " ended (" + std::to_string(s.resolved) +
                     " resolved, " + std::to_string(s.escalated) + " escalated, " +
                     std::to_string(s.failed) + " failed" +
                     (s.stopped > 0 ? ", " + std::to_string(s.stopped) + " stopped" : "") +
                     ") | agents " +
                     std::to_string(s.agents_busy) + "/" + std::to_string(s.agents_present) +
                     " busy | " + usd_text(s.usd) + " | ";
  if (s.virtual_s)
    line += "virtual " + duration_text(*s.virtual_s) + " | real " + duration_text(s.elapsed_s);
  else
    line += duration_text(s.elapsed_s);
  return line;
}

ProgressLine::ProgressLine(Options options) : options_(std::move(options)) {
  if (!options_.clock) {
    options_.clock = [] {
      return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
          .count();
    };
  }
  if (options_.out == nullptr) options_.out = &std::cout;
  started_ = options_.clock();
  // A terminal line shows at once; a plain one after the first interval.
  next_due_ = options_.terminal ? started_ : started_ + options_.plain_every_s;
}

ProgressLine::Options ProgressLine::for_stdout(bool enabled, double plain_every_s,
                                               std::function<void(const std::string&)> log) {
  Options options;
  options.enabled = enabled;
  const char* term = std::getenv("TERM");
  options.terminal = ::isatty(STDOUT_FILENO) == 1 && !(term != nullptr && std::strcmp(term, "dumb") == 0);
  options.plain_every_s = plain_every_s;
  options.log = std::move(log);
  options.columns = []() -> std::size_t {
    winsize size{};
    if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) != 0) return 0;
    return size.ws_col;
  };
  return options;
}

double ProgressLine::now() const { return options_.clock(); }

double ProgressLine::elapsed_s() const { return now() - started_; }

bool ProgressLine::due() const {
  return options_.enabled && !finished_ && now() >= next_due_;
}

void ProgressLine::update(ProgressSnapshot snapshot) {
  if (!due()) return;
  draw(std::move(snapshot), false);
}

void ProgressLine::update(const runtime::HubCore& core, std::optional<double> virtual_s) {
  if (!due()) return;
  ProgressSnapshot snapshot = progress_snapshot(core);
  snapshot.virtual_s = virtual_s;
  draw(std::move(snapshot), false);
}

void ProgressLine::before_log() {
  if (!shown_) return;
  *options_.out << "\r\x1b[K" << std::flush;
  shown_ = false;
}

void ProgressLine::finish(ProgressSnapshot snapshot) {
  if (!options_.enabled || finished_) return;
  draw(std::move(snapshot), true);
  finished_ = true;
}

void ProgressLine::finish(const runtime::HubCore& core, std::optional<double> virtual_s) {
  if (!options_.enabled || finished_) return;
  ProgressSnapshot snapshot = progress_snapshot(core);
  snapshot.virtual_s = virtual_s;
  finish(std::move(snapshot));
}

void ProgressLine::draw(ProgressSnapshot snapshot, bool final) {
  const double t = now();
  snapshot.elapsed_s = t - started_;
  std::string text = format_progress(snapshot);
  if (options_.terminal) {
    const std::size_t columns = options_.columns ? options_.columns() : 0;
    if (columns > 1 && text.size() > columns - 1) text.resize(columns - 1);
    *options_.out << "\r" << text << "\x1b[K";
    if (final) *options_.out << "\n";
    *options_.out << std::flush;
    shown_ = !final;
    next_due_ = t + options_.redraw_s;
  } else {
    text = "progress: " + text;
    if (options_.log)
      options_.log(text);
    else
      *options_.out << text << std::endl;
    // Steady pacing: the next line one interval after this one was due (not drifting).
    next_due_ += options_.plain_every_s;
    if (next_due_ <= t) next_due_ = t + options_.plain_every_s;
  }
}

}  // namespace cadre::cli
