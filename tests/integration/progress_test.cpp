// Live progress of `cadre sim` and `cadre run` end to end: plain lines when stdout is a file,
// a line redrawn in place on a pseudo-terminal (never glued to log lines or the summary), and
// nothing with --quiet.
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <regex>

#include "process_harness.h"

namespace cadre::testing {
namespace {

using namespace std::chrono_literals;

// Runs argv on a pseudo-terminal (200 columns, TERM=xterm) to the end (deadline `timeout`);
// returns {exit code or -1, every byte it wrote}. The child is killed and reaped by pid if it
// outlives the deadline or the test fails.
std::pair<int, std::string> run_on_pty(const std::vector<std::string>& argv,
                                       std::chrono::milliseconds timeout) {
  std::vector<char*> args;
  for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  winsize size{};
  size.ws_row = 50;
  size.ws_col = 200;
  int master = -1;
  const pid_t pid = ::forkpty(&master, nullptr, nullptr, &size);
  if (pid < 0) return {-1, std::string("forkpty: ") + std::strerror(errno)};
  if (pid == 0) {
    ::setenv("TERM", "xterm", 1);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  struct Reaper {
    pid_t pid;
    int master;
    std::optional<int> status;
    ~Reaper() {
      ::close(master);
      if (!status) {
        ::kill(pid, SIGKILL);
        int ignored = 0;
        ::waitpid(pid, &ignored, 0);
      }
    }
  } reaper{pid, master, std::nullopt};

  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string output;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) return {-1, output + "\n[test: deadline passed]"};
    pollfd p{master, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    char buffer[4096];
    const ssize_t n = ::read(master, buffer, sizeof buffer);
    if (n > 0) {
      output.append(buffer, static_cast<std::size_t>(n));
    } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
      break;  // EIO: every holder of the terminal's other side has closed it
    }
  }
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      reaper.status = status;
      return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
    }
    std::this_thread::sleep_for(20ms);
  }
  return {-1, output + "\n[test: no exit]"};
}

// What a terminal shows for `raw`, line by line: "\r" moves to the start of the line, "\x1b[K"
// clears from the cursor to its end, "\n" starts the next line, other characters overwrite.
std::vector<std::string> render(const std::string& raw) {
  std::vector<std::string> lines;
  std::string line;
  std::size_t cursor = 0;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    const char c = raw[i];
    if (c == '\n') {
      lines.push_back(line);
      line.clear();
      cursor = 0;
    } else if (c == '\r') {
      cursor = 0;
    } else if (raw.compare(i, 3, "\x1b[K") == 0) {
      line.resize(std::min(cursor, line.size()));
      i += 2;
    } else {
      if (cursor < line.size())
        line[cursor] = c;
      else
        line.push_back(c);
      ++cursor;
    }
  }
  if (!line.empty()) lines.push_back(line);
  return lines;
}

std::size_t count_of(const std::string& text, const std::string& part) {
  std::size_t n = 0;
  for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

const std::string kCounts =
    R"(goals (\d+)/(\d+) ended \(\d+ resolved, \d+ escalated, \d+ failed\) \| agents \d+/\d+ busy \| \$\d+\.\d+ \| )";
const std::string kDuration = R"((\d+\.\ds|\d+m\d\ds|\d+h\d\dm\d\ds))";

// Output written for a pipe or a file carries no control characters at all.
void expect_no_control_characters(const std::string& output) {
  EXPECT_EQ(output.find('\r'), std::string::npos) << output;
  EXPECT_EQ(output.find('\x1b'), std::string::npos) << output;
}

// On the terminal: the only escape sequence is clear-to-end; as displayed, progress text never
// shares a line with anything, exactly one progress line stays (the last state) and the summary
// follows it after the summary's blank line.
void expect_clean_terminal(const std::string& raw, const std::string& summary_start,
                           const std::string& final_counts) {
  EXPECT_EQ(count_of(raw, "\x1b"), count_of(raw, "\x1b[K")) << raw;
  const auto shown = render(raw);
  std::vector<std::size_t> progress_lines;
  for (std::size_t i = 0; i < shown.size(); ++i) {
    // Progress text has "ended ("; a per-goal log line "goal g1 resolved (3/6 ended)" has not.
    if (shown[i].find("ended (") == std::string::npos) continue;
    EXPECT_EQ(shown[i].rfind("goals ", 0), 0u) << "glued: '" << shown[i] << "'";
    EXPECT_EQ(shown[i].find('['), std::string::npos) << "glued: '" << shown[i] << "'";
    progress_lines.push_back(i);
  }
  ASSERT_EQ(progress_lines.size(), 1u) << raw;
  const std::size_t last = progress_lines[0];
  EXPECT_EQ(shown[last].rfind(final_counts, 0), 0u) << shown[last];
  ASSERT_GE(shown.size(), last + 3);
  EXPECT_EQ(shown[last + 1], "");
  EXPECT_EQ(shown[last + 2].rfind(summary_start, 0), 0u) << shown[last + 2];
}

TEST(ProgressCli, SimOnAPipeWritesAPlainLastLineWithEveryField) {
  TempDir dir("progress-sim-pipe");
  auto [code, output] = run_to_end({cadre_binary(), "sim", scenario_path("small-team.yaml"),
                                    "--out", dir.path() + "/out"},
                                   dir.path() + "/out.log", 60s);
  ASSERT_EQ(code, 0) << output;
  expect_no_control_characters(output);
  const std::regex line("progress: " + kCounts + "virtual " + kDuration + " \\| real " + kDuration);
  std::vector<std::string> progress;
  for (const auto& l : lines_of(output))
    if (l.find("progress:") != std::string::npos) progress.push_back(l);
  ASSERT_FALSE(progress.empty()) << output;
  for (const auto& l : progress) EXPECT_TRUE(std::regex_match(l, line)) << l;
  EXPECT_EQ(progress.back().rfind("progress: goals 6/6 ended", 0), 0u) << progress.back();
  // The last progress line comes before the summary.
  EXPECT_LT(output.rfind("progress: "), output.find("cadre sim run: small-team"));
}

TEST(ProgressCli, LongSimOnAPipeWritesALineEveryInterval) {
  TempDir dir("progress-sim-interval");
  // 20,000 goals for 1,000 agents: seconds of wall time, so several 0.2 s intervals pass.
  auto [code, output] =
      run_to_end({cadre_binary(), "sim", scenario_path("scale-10k.yaml"), "--set",
                  "work.generate.count=20000", "--set", "team.planner.count=50", "--set",
                  "team.coder.count=600", "--set", "team.critic.count=300", "--set",
                  "team.human.count=50", "--progress-s", "0.2", "--out", dir.path() + "/out"},
                 dir.path() + "/out.log", 120s);
  ASSERT_EQ(code, 0) << output;
  expect_no_control_characters(output);
  std::vector<std::size_t> ended;
  const std::regex line("progress: " + kCounts + "virtual " + kDuration + " \\| real " + kDuration);
  for (const auto& l : lines_of(output)) {
    std::smatch m;
    if (l.find("progress:") == std::string::npos) continue;
    ASSERT_TRUE(std::regex_match(l, m, line)) << l;
    EXPECT_EQ(m[2], "20000");
    ended.push_back(std::stoul(m[1]));
  }
  ASSERT_GE(ended.size(), 3u) << output;
  EXPECT_TRUE(std::is_sorted(ended.begin(), ended.end()));
  EXPECT_EQ(ended.back(), 20000u);
  EXPECT_LT(ended.front(), 20000u);
}

TEST(ProgressCli, RunOnAPipeWritesStampedPlainLinesEveryInterval) {
  TempDir dir("progress-run-pipe");
  auto [code, output] = run_to_end({cadre_binary(), "run", scenario_path("small-team.yaml"),
                                    "--progress-s", "0.5", "--out", dir.path() + "/out"},
                                   dir.path() + "/out.log", 120s);
  ASSERT_EQ(code, 0) << output;
  expect_no_control_characters(output);
  const std::regex line(R"(\[ *(\d+\.\d\d)s\] progress: )" + kCounts + kDuration);
  std::vector<double> stamps;
  std::string last;
  for (const auto& l : lines_of(output)) {
    if (l.find("progress:") == std::string::npos) continue;
    std::smatch m;
    ASSERT_TRUE(std::regex_match(l, m, line)) << l;
    stamps.push_back(std::stod(m[1]));
    last = l;
  }
  // The run takes seconds: lines on a 0.5 s grid, and one at the end. A line may be late by the
  // hub loop's wake-up granularity (up to 0.1 s) and the machine's scheduling, not early.
  ASSERT_GE(stamps.size(), 4u) << output;
  for (std::size_t i = 1; i + 1 < stamps.size(); ++i)
    EXPECT_GE(stamps[i] - stamps[i - 1], 0.3) << output;
  const double mean_gap = (stamps[stamps.size() - 2] - stamps.front()) / (stamps.size() - 2);
  EXPECT_NEAR(mean_gap, 0.5, 0.08) << output;
  EXPECT_NE(last.find("progress: goals 6/6 ended"), std::string::npos) << last;
  EXPECT_LT(output.rfind("progress: "), output.find("cadre live run: small-team"));
}

TEST(ProgressCli, SimOnATerminalRedrawsAndEndsTheLineBeforeTheSummary) {
  TempDir dir("progress-sim-pty");
  auto [code, raw] = run_on_pty({cadre_binary(), "sim", scenario_path("small-team.yaml"),
                                 "--out", dir.path() + "/out"},
                                60s);
  ASSERT_EQ(code, 0) << raw;
  EXPECT_GE(count_of(raw, "\rgoals "), 1u) << raw;
  EXPECT_EQ(raw.find("progress:"), std::string::npos) << raw;  // no plain lines on a terminal
  expect_clean_terminal(raw, "  cadre sim run: small-team", "goals 6/6 ended (");
}

TEST(ProgressCli, RunOnATerminalRedrawsInPlaceAndNeverGluesLines) {
  TempDir dir("progress-run-pty");
  auto [code, raw] = run_on_pty({cadre_binary(), "run", scenario_path("small-team.yaml"),
                                 "--out", dir.path() + "/out"},
                                120s);
  ASSERT_EQ(code, 0) << raw;
  // Seconds of running at up to 10 redraws a second, each "\r" + text + "\x1b[K".
  EXPECT_GE(count_of(raw, "\rgoals "), 5u) << raw;
  EXPECT_GE(count_of(raw, "\x1b[K"), 5u) << raw;
  EXPECT_EQ(raw.find("progress:"), std::string::npos) << raw;
  // Log lines still appear, each on a line of its own.
  const auto shown = render(raw);
  EXPECT_TRUE(std::any_of(shown.begin(), shown.end(), [](const std::string& l) {
    return l.find("] scenario 'small-team'") != std::string::npos && l.rfind("[", 0) == 0;
  })) << raw;
  expect_clean_terminal(raw, "  cadre live run: small-team", "goals 6/6 ended (");
}

TEST(ProgressCli, QuietPrintsNoProgress) {
  TempDir dir("progress-quiet");
  for (const std::string command : {"sim", "run"}) {
    auto [code, output] =
        run_to_end({cadre_binary(), command, scenario_path("small-team.yaml"), "-q",
                    "--progress-s", "0.2", "--out", dir.path() + "/" + command},
                   dir.path() + "/" + command + ".log", 120s);
    ASSERT_EQ(code, 0) << output;
    EXPECT_EQ(output.find("progress:"), std::string::npos) << output;
    EXPECT_EQ(output.find("ended ("), std::string::npos) << output;
    EXPECT_NE(output.find("run: small-team"), std::string::npos) << output;  // the summary
    expect_no_control_characters(output);
  }
  auto [code, raw] = run_on_pty({cadre_binary(), "sim", scenario_path("small-team.yaml"), "-q",
                                 "--out", dir.path() + "/pty"},
                                60s);
  ASSERT_EQ(code, 0) << raw;
  EXPECT_EQ(raw.find('\x1b'), std::string::npos) << raw;
  EXPECT_EQ(raw.find("ended ("), std::string::npos) << raw;
  // On a terminal "\n" arrives as "\r\n"; no other "\r".
  EXPECT_EQ(count_of(raw, "\r"), count_of(raw, "\r\n")) << raw;
}

}  // namespace
}  // namespace cadre::testing
