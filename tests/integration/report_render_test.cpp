// The run's report page drawn by a real browser, and its trace checked against report.json:
// `cadre sim`, `cadre run` and `cadre sweep` write report.html, which headless Chromium renders to
// a screenshot; tests/integration/check_render.py counts the pixels of each chart's own colours
// (cadre/runtime/report_html.h). trace.json must hold a span for every task attempt of
// report.json, on its agent's named track.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <tuple>

#include "cadre/runtime/report_html.h"
#include "process_harness.h"

namespace cadre::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
namespace colours = runtime::report_colours;

std::string find_chromium() {
  for (const char* name : {"chromium", "chromium-browser", "google-chrome"}) {
    for (const char* dir : {"/usr/bin/", "/usr/local/bin/", "/snap/bin/"}) {
      const std::string path = std::string(dir) + name;
      if (::access(path.c_str(), X_OK) == 0) return path;
    }
  }
  return {};
}

// Each chart by the colours only it uses, and the least number of pixels it must cover. The
// thresholds are far above what the legends alone would give (outcome legend: 4 x 144 px;
// timeline legend: 5 x 121 px), so a chart that is not drawn fails.
std::vector<std::string> run_report_charts() {
  const std::string outcome = std::string(colours::kResolved) + "|" + colours::kEscalated + "|" +
                              colours::kFailed + "|" + colours::kOpen;
  const std::string timeline = std::string(colours::kPlan) + "|" + colours::kSolve + "|" +
                               colours::kReview + "|" + colours::kResolve + "|" +
                               colours::kApprove;
  return {"outcomes=" + outcome + ":10000", "timeline=" + timeline + ":2000",
          "latency=" + std::string(colours::kLatency) + ":2000"};
}

// Renders `html` into `png` and checks the charts; {exit code, what the checker printed}.
std::pair<int, std::string> check_render(const std::string& html, const std::string& png,
                                         const std::vector<std::string>& expects,
                                         const std::string& size = "1280x2000") {
  const std::string chromium = find_chromium();
  EXPECT_FALSE(chromium.empty())
      << "headless Chromium is needed to render the report (ci/install-missing.sh chromium)";
  std::vector<std::string> argv = {"/usr/bin/python3",
                                   source_dir() + "/tests/integration/check_render.py",
                                   "--html", html, "--png", png, "--size", size, "--timeout", "90",
                                   "--chromium", chromium};
  for (const auto& expect : expects) {
    argv.push_back("--expect");
    argv.push_back(expect);
  }
  // The checker kills Chromium itself after 90 s; this deadline only guards the checker.
  return run_to_end(argv, png + ".log", 150s);
}

// For every task attempt in report.json, a span with its goal/task/attempt on its agent's track;
// every span on a track with a thread_name; one span per dispatch.
void expect_trace_covers_attempts(const std::string& dir) {
  const json report = read_json(dir + "/report.json");
  const json trace = read_json(dir + "/trace.json");
  ASSERT_FALSE(report.is_discarded());
  ASSERT_FALSE(trace.is_discarded()) << "trace.json is not JSON";
  ASSERT_EQ(trace["displayTimeUnit"], "ms");
  std::map<std::int64_t, std::string> track_names;
  std::set<std::tuple<std::int64_t, std::string, std::string, std::uint32_t>> spans;
  std::size_t span_count = 0;
  bool process_named = false;
  for (const json& event : trace["traceEvents"]) {
    if (event["ph"] == "M" && event["name"] == "thread_name")
      track_names[event["tid"].get<std::int64_t>()] = event["args"]["name"];
    if (event["ph"] == "M" && event["name"] == "process_name")
      process_named = event["args"]["name"] == "cadre " + report["scenario"].get<std::string>();
    if (event["ph"] != "X") continue;
    ++span_count;
    ASSERT_TRUE(event["ts"].is_number() && event["dur"].is_number()) << event.dump();
    ASSERT_GE(event["dur"].get<double>(), 0.0) << event.dump();
    for (const char* arg : {"goal", "task", "subtask", "kind", "attempt", "agent", "verdict",
                            "end", "tokens_in", "tokens_out", "usd"})
      ASSERT_TRUE(event["args"].contains(arg)) << arg << " missing in " << event.dump();
    spans.emplace(event["tid"].get<std::int64_t>(), event["args"]["goal"],
                  event["args"]["task"], event["args"]["attempt"].get<std::uint32_t>());
  }
  EXPECT_TRUE(process_named);
  EXPECT_EQ(span_count, report["tasks"]["dispatched"].get<std::size_t>());
  std::map<std::string, std::int64_t> track_of_agent;  // "coder-1 (coder)" -> its tid
  for (const auto& [tid, name] : track_names)
    track_of_agent[name.substr(0, name.rfind(" ("))] = tid;
  for (const auto& [tid, goal, task, attempt] : spans)
    EXPECT_TRUE(track_names.count(tid)) << "span on a track without thread_name: " << tid;

  const json& attempts = report["task_attempts"];
  ASSERT_TRUE(attempts.is_array());
  ASSERT_FALSE(attempts.empty());
  for (const json& entry : attempts) {
    const std::string agent = entry["agent"];
    ASSERT_TRUE(track_of_agent.count(agent)) << "no track for " << entry.dump();
    EXPECT_TRUE(spans.count({track_of_agent[agent], entry["goal"], entry["task"],
                             entry["attempt"].get<std::uint32_t>()}))
        << "no span for " << entry.dump();
  }
}

TEST(ReportRender, ASimulatedRunsPageDrawsEveryChartInChromiumAndItsTraceCoversEveryAttempt) {
  TempDir dir("render-sim");
  const std::string out = dir.path() + "/run";
  auto [code, output] = run_to_end(
      {cadre_binary(), "sim", scenario_path("small-team.yaml"), "--out", out, "-q"},
      dir.path() + "/sim.log", 60s);
  ASSERT_EQ(code, 0) << output;
  auto [render_code, render_output] =
      check_render(out + "/report.html", dir.path() + "/sim.png", run_report_charts());
  EXPECT_EQ(render_code, 0) << render_output;
  expect_trace_covers_attempts(out);
}

TEST(ReportRender, ALiveRunsPageDrawsEveryChartInChromiumAndItsTraceCoversEveryAttempt) {
  TempDir dir("render-live");
  const std::string out = dir.path() + "/run";
  auto [code, output] = run_to_end(
      {cadre_binary(), "run", scenario_path("small-team.yaml"), "--out", out, "-q"},
      dir.path() + "/run.log", 120s);
  ASSERT_EQ(code, 0) << output;
  auto [render_code, render_output] =
      check_render(out + "/report.html", dir.path() + "/live.png", run_report_charts());
  EXPECT_EQ(render_code, 0) << render_output;
  expect_trace_covers_attempts(out);
}

// The check can fail: a page cut off in the middle of its timeline has no histogram.
TEST(ReportRender, APageCutOffInItsTimelineFailsTheRenderCheck) {
  TempDir dir("render-broken");
  const std::string out = dir.path() + "/run";
  auto [code, output] = run_to_end(
      {cadre_binary(), "sim", scenario_path("small-team.yaml"), "--out", out, "-q"},
      dir.path() + "/sim.log", 60s);
  ASSERT_EQ(code, 0) << output;
  const std::string html = read_file(out + "/report.html");
  const auto timeline = html.find("id=\"timeline\"");
  const auto end = html.find("</svg>", timeline);
  ASSERT_NE(end, std::string::npos);
  const std::string broken = dir.path() + "/broken.html";
  std::ofstream(broken) << html.substr(0, timeline + (end - timeline) / 2);
  auto [render_code, render_output] =
      check_render(broken, dir.path() + "/broken.png", run_report_charts());
  EXPECT_EQ(render_code, 1) << render_output;
  EXPECT_NE(render_output.find("not drawn: latency"), std::string::npos) << render_output;
}

TEST(ReportRender, ASweepsPageDrawsItsCurveAndLinksEveryRunsOwnPage) {
  TempDir dir("render-sweep");
  const std::string out = dir.path() + "/sweep";
  auto [code, output] = run_to_end(
      {cadre_binary(), "sweep", scenario_path("compute-scaling.yaml"), "--vary",
       "workflow.samples=1,4", "--vary", "critic.tpr=0.6,0.9", "--set",
       "work.generate.count=30", "--out", out},
      dir.path() + "/sweep.log", 120s);
  ASSERT_EQ(code, 0) << output;
  const std::string html = read_file(out + "/report.html");
  std::set<std::string> links;
  const std::regex link("href=\"(points/[0-9]+/report\\.html)\"");
  for (auto it = std::sregex_iterator(html.begin(), html.end(), link);
       it != std::sregex_iterator(); ++it)
    links.insert((*it)[1]);
  EXPECT_EQ(links.size(), 4u) << html;
  for (const auto& target : links)
    EXPECT_TRUE(std::filesystem::exists(out + "/" + target)) << target;
  EXPECT_EQ(html.find("<script"), std::string::npos);
  // The two series of the chart (sweep_chart.cpp's first two colours: critic.tpr 0.6 and 0.9);
  // a series draws ~900 px of its colour, its legend swatch alone 100 and its dots ~200.
  auto [render_code, render_output] = check_render(
      out + "/report.html", dir.path() + "/sweep.png",
      {"series-1=#1f77b4:500", "series-2=#d62728:500"}, "1200x1000");
  EXPECT_EQ(render_code, 0) << render_output;
}

}  // namespace
}  // namespace cadre::testing
