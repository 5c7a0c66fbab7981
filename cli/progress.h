// Live progress of `cadre run`, `cadre sim` and `cadre hub`: goals ended of total (resolved,
// escalated, failed), agents busy of present, cost so far, elapsed time (and virtual time in sim).
//
// On a terminal one line is redrawn in place ("\r" + text + "\x1b[K"), at most every
// `redraw_s`; any other output first erases it (before_log), and finish() leaves the last state
// on a line of its own, so log lines and the summary never share a line with it. Elsewhere
// (a pipe, a file, TERM=dumb) it writes a plain log line every `plain_every_s` and one at the end,
// with no control characters. Disabled (--quiet), it writes nothing.
//
// Pure formatting and pacing: the clock and the terminal flag are injected, so it is testable
// without a terminal.
#pragma once

#include <cstddef>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>

#include "cadre/runtime/hub_core.h"

namespace cadre::cli {

struct ProgressSnapshot {
  std::size_t goals_total = 0;
  std::size_t goals_ended = 0;
  std::size_t resolved = 0;
  std::size_t escalated = 0;
  std::size_t failed = 0;
  std::size_t stopped = 0;  // stopped_by_budget
  std::size_t agents_present = 0;
  std::size_t agents_busy = 0;  // present and holding at least one task
  double usd = 0.0;
  double elapsed_s = 0.0;           // wall-clock seconds since the command started
  std::optional<double> virtual_s;  // sim: the virtual clock
};

// Counts goals and agents of `core`: O(goals + agents), so call it only when a line is due.
ProgressSnapshot progress_snapshot(const runtime::HubCore& core);

// One line, no newline, ASCII only:
// "goals 3/6 ended (2 resolved, 1 escalated, 0 failed) | agents 2/5 busy | $0.0123 | 4.2s"
// (", 1 stopped" after "failed" once a limit stopped a goal)
// with virtual time: "... | $0.0123 | virtual 312.5s | real 0.4s".
std::string format_progress(const ProgressSnapshot& snapshot);

class ProgressLine {
 public:
  struct Options {
    bool enabled = true;    // false: every call is a no-op
    bool terminal = false;  // redraw in place on `out`; otherwise plain lines through `log`
    double redraw_s = 0.1;  // terminal: at most one redraw per this many seconds
    double plain_every_s = 5.0;
    std::ostream* out = nullptr;  // terminal output; null: std::cout
    // Plain lines (text without a newline); null: written to std::cout with a newline.
    std::function<void(const std::string&)> log;
    // Monotonic seconds; null: std::chrono::steady_clock. Elapsed time counts from construction.
    std::function<double()> clock;
    // Terminal width in columns (0: unknown): terminal lines are cut to one less, so they never
    // wrap (a wrapped line cannot be redrawn with "\r"). Null: unknown.
    std::function<std::size_t()> columns;
  };

  explicit ProgressLine(Options options);

  // Options for the standard output of this process: terminal when stdout is a tty and TERM is
  // not "dumb"; columns from the tty. `log` as given.
  static Options for_stdout(bool enabled, double plain_every_s,
                            std::function<void(const std::string&)> log);

  // Cheap (one clock read): whether update() would write now.
  bool due() const;
  double elapsed_s() const;

  // Writes `snapshot` if due (its elapsed_s is set from the clock).
  void update(ProgressSnapshot snapshot);
  // update() with a snapshot of `core`, computed only when due.
  void update(const runtime::HubCore& core, std::optional<double> virtual_s = std::nullopt);

  // Call before any other output to the terminal (stdout or stderr): erases the line shown, if
  // any; the next due update draws it again. No-op when not on a terminal.
  void before_log();

  // The end: on a terminal, draws `snapshot` one last time and ends the line; otherwise writes it
  // as a last plain line. Later calls of any kind do nothing.
  void finish(ProgressSnapshot snapshot);
  void finish(const runtime::HubCore& core, std::optional<double> virtual_s = std::nullopt);

 private:
  double now() const;
  void draw(ProgressSnapshot snapshot, bool final);

  Options options_;
  double started_ = 0.0;
  double next_due_ = 0.0;
  bool shown_ = false;  // a terminal line is on screen (the cursor is at its end)
  bool finished_ = false;
};

}  // namespace cadre::cli
