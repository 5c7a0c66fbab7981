// The run's views: trace.json (Chrome trace events), report.html (charts) and report.json's
// task_attempts, built from a HubCore driven by hand (core_test_support.h) or by the simulator.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <unistd.h>

#include "cadre/runtime/report.h"
#include "cadre/runtime/report_html.h"
#include "cadre/runtime/sim_run.h"
#include "cadre/runtime/trace.h"
#include "core_test_support.h"

namespace cadre::runtime {
namespace {

using namespace coretest;
using nlohmann::json;

RunFacts facts_for(const Driver& d) {
  RunFacts facts;
  facts.mode = "sim";
  facts.wall_s = us_to_seconds(d.now - d.core.started_at());
  return facts;
}

// Two goals, two coders and a critic; the critic rejects g2's first round, so g2 is revised.
Driver finished_run(Scenario scenario) {
  Rules rules;
  rules.correct = [](const TaskAssignment& a) { return a.goal_id != "g2" || a.revision > 0; };
  Driver d(scenario, rules);
  d.join_team(/*coders=*/2, /*critics=*/1);
  d.start();
  EXPECT_TRUE(d.run());
  return d;
}

Scenario two_goals() {
  return make_scenario({make_goal("g1", 2), make_goal("g2", 1)}, /*samples=*/2);
}

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

std::string kind_of(const TaskRecord& task) { return roles::task_kind_name(task.kind); }

// ---------------------------------------------------------------------------------------------
// trace.json

TEST(TraceJson, HasATrackPerAgentAndACompleteEventPerSpanWithItsArgs) {
  Driver d = finished_run(two_goals());
  const Ledger& ledger = d.core.ledger();
  const json trace = json::parse(trace_json(d.core, facts_for(d)));
  EXPECT_EQ(trace["displayTimeUnit"], "ms");
  ASSERT_TRUE(trace["traceEvents"].is_array());

  std::map<std::int64_t, std::string> thread_names;
  std::string process_name;
  std::vector<json> spans;
  for (const json& event : trace["traceEvents"]) {
    if (event["ph"] == "M" && event["name"] == "thread_name")
      thread_names[event["tid"].get<std::int64_t>()] = event["args"]["name"];
    if (event["ph"] == "M" && event["name"] == "process_name")
      process_name = event["args"]["name"];
    if (event["ph"] == "X") spans.push_back(event);
  }
  EXPECT_EQ(process_name, "cadre core-test");
  const auto& agents = d.core.scheduler().agents();
  ASSERT_EQ(thread_names.size(), agents.size());
  std::map<std::string, std::int64_t> tid_of;
  for (std::size_t i = 0; i < agents.size(); ++i) {
    EXPECT_EQ(thread_names[static_cast<std::int64_t>(i + 1)],
              agents[i].id + " (" + agents[i].role + ")");
    tid_of[agents[i].id] = static_cast<std::int64_t>(i + 1);
  }

  ASSERT_EQ(spans.size(), ledger.spans().size());
  ASSERT_GT(spans.size(), 8u);
  std::uint64_t tokens_in = 0, tokens_out = 0;
  std::set<std::string> kinds;
  for (std::size_t i = 0; i < spans.size(); ++i) {
    const DispatchSpan& span = ledger.spans()[i];
    const TaskRecord& task = ledger.task(span.task);
    const json& event = spans[i];
    const json& args = event["args"];
    EXPECT_EQ(event["pid"], 1);
    EXPECT_EQ(event["tid"], tid_of.at(d.core.agent_id(span.agent)));
    EXPECT_EQ(event["ts"], span.start - d.core.started_at());
    EXPECT_EQ(event["dur"], span.end - span.start);
    const std::string goal_id(ledger.goal_id_of(span.task));
    const std::string task_id(ledger.task_id_of(span.task));
    EXPECT_EQ(event["name"], kind_of(task) + " " + goal_id + "/" + task_id);
    EXPECT_EQ(args["goal"], goal_id);
    EXPECT_EQ(args["task"], task_id);
    EXPECT_EQ(args["attempt"], task.attempt);
    EXPECT_EQ(args["kind"], kind_of(task));
    EXPECT_EQ(args["agent"], d.core.agent_id(span.agent));
    EXPECT_EQ(args["verdict"], std::string(task.verdict));
    EXPECT_EQ(args["end"], span_end_name(span.how));
    const bool per_subtask = task.kind != TaskKind::plan;
    EXPECT_EQ(args["subtask"], per_subtask ? task_id.substr(0, 2) : "")
        << args.dump();
    EXPECT_TRUE(args["usd"].is_number());
    tokens_in += args["tokens_in"].get<std::uint64_t>();
    tokens_out += args["tokens_out"].get<std::uint64_t>();
    kinds.insert(args["kind"]);
  }
  // Each accepted result's tokens sit on exactly one span.
  EXPECT_EQ(tokens_in, ledger.tokens_in());
  EXPECT_EQ(tokens_out, ledger.tokens_out());
  EXPECT_EQ(kinds, (std::set<std::string>{"plan", "solve", "review"}));
}

TEST(TraceJson, CutsOffASpanStillOpenAtTheEndOfTheTimeline) {
  Driver d(make_scenario({make_goal("g1", 1)}));
  d.join("planner-1", "planner");
  d.join("coder-1", "coder");
  d.start();
  d.advance_s(1);
  d.answer("g1/plan#0");  // the solve is dispatched at t = 1 s and never answered
  d.advance_s(2.5);
  d.tick();  // the timeline ends at t = 3.5 s
  const json trace = json::parse(trace_json(d.core, facts_for(d)));
  std::vector<json> spans;
  for (const json& event : trace["traceEvents"])
    if (event["ph"] == "X") spans.push_back(event);
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(spans[0]["args"]["end"], "answered");
  EXPECT_EQ(spans[0]["args"]["verdict"], "planned");
  EXPECT_EQ(spans[1]["args"]["end"], "open");
  EXPECT_EQ(spans[1]["args"]["verdict"], "");
  EXPECT_EQ(spans[1]["ts"], 1'000'000);
  EXPECT_EQ(spans[1]["dur"], 2'500'000);
  EXPECT_EQ(spans[1]["args"]["tokens_in"], 0);
}

TEST(TraceJson, StaysValidJsonWhateverTheNamesHoldAndMarksLostSpans) {
  const std::string odd = "g\"1\\ <x>\n\t\x01 \xc3\xa9";  // quote, backslash, control, UTF-8
  Scenario scenario = make_scenario({make_goal(odd, 1), make_goal("bad\xff", 1)});
  scenario.name = "quote\" and \\ name";
  Driver d(scenario);
  d.join("planner-1", "planner");
  d.start();
  d.advance_s(1);
  d.leave("planner-1");  // the plan it held is lost with it
  d.drop(key_of(odd, "plan", 0));
  d.join("planner-2", "planner");
  d.advance_s(1);
  d.answer_all_pending();  // planner-2 plans the first goal, then is given the second
  d.answer_all_pending();
  const std::string text = trace_json(d.core, facts_for(d));
  const json trace = json::parse(text, nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(trace.is_discarded()) << text;
  std::set<std::string> seen;  // "goal agent end"
  std::size_t spans = 0;
  for (const json& event : trace["traceEvents"]) {
    if (event["ph"] != "X") continue;
    ++spans;
    seen.insert(event["args"]["goal"].get<std::string>() + " " +
                event["args"]["agent"].get<std::string>() + " " +
                event["args"]["end"].get<std::string>());
  }
  EXPECT_EQ(spans, d.core.ledger().spans().size());
  EXPECT_EQ(seen, (std::set<std::string>{odd + " planner-1 lost", odd + " planner-2 answered",
                                         // an invalid byte becomes U+FFFD
                                         "bad\xef\xbf\xbd planner-2 answered"}));
  EXPECT_EQ(trace["otherData"]["scenario"], scenario.name);
}

// ---------------------------------------------------------------------------------------------
// report.html

TEST(ReportHtml, DrawsEachChartAsInlineSvgAndNeedsNothingFromTheNetwork) {
  Driver d = finished_run(two_goals());
  const std::string html = report_html(d.core, facts_for(d));
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  for (const char* chart : {"id=\"outcomes\"", "id=\"timeline\"", "id=\"latency\""})
    EXPECT_EQ(count_of(html, chart), 1u) << chart;
  EXPECT_EQ(count_of(html, "<rect class=\"span\""), d.core.ledger().spans().size());
  EXPECT_EQ(count_of(html, "<rect class=\"outcome\""), 1u);  // both goals resolved
  EXPECT_GE(count_of(html, "<rect class=\"bin\""), 1u);
  EXPECT_NE(html.find(report_colours::kResolved), std::string::npos);
  EXPECT_NE(html.find(report_colours::kSolve), std::string::npos);
  EXPECT_NE(html.find(report_colours::kLatency), std::string::npos);
  EXPECT_NE(html.find("class=\"p50\""), std::string::npos);
  EXPECT_NE(html.find("class=\"p95\""), std::string::npos);
  // Tooltips name goal, task, attempt and verdict.
  EXPECT_NE(html.find("<title>goal g1 &#183; task s1 &#183; attempt 0 &#183; solve &#183; "
                      "verdict candidate &#183; answered"),
            std::string::npos);
  // Self-contained: no scripts, no external resources.
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("@import"), std::string::npos);
  EXPECT_EQ(html.find("url("), std::string::npos);
  // Nothing left out of a small run.
  EXPECT_EQ(html.find("timeline-omitted"), std::string::npos);
}

TEST(ReportHtml, ARunWithNothingDispatchedStillGivesAPageThatSaysSo) {
  Driver d(make_scenario({make_goal("g1", 1)}));
  d.start();  // no agent ever joins
  d.stop("interrupted");
  RunFacts facts = facts_for(d);
  facts.interrupted = true;
  const std::string html = report_html(d.core, facts);
  EXPECT_NE(html.find("id=\"timeline\""), std::string::npos);
  EXPECT_EQ(count_of(html, "<rect class=\"span\""), 0u);
  EXPECT_NE(html.find("no goal ended after being dispatched"), std::string::npos);
  EXPECT_NE(html.find("this report is partial"), std::string::npos);
  EXPECT_NE(html.find("</html>"), std::string::npos);
  const json trace = json::parse(trace_json(d.core, facts));
  EXPECT_EQ(trace["otherData"]["spans"], 0);
  EXPECT_EQ(json::parse(report_json(d.core, facts))["task_attempts"], json::array());
}

TEST(ReportHtml, EscapesScenarioNamesAndGoalTitles) {
  Scenario scenario = two_goals();
  scenario.name = "<script>alert('name')</script>";
  scenario.goals[0].title = "<script>alert(\"title\")</script> & more";
  scenario.goals[1].id = "g2<b>";
  Driver d = finished_run(scenario);
  const std::string html = report_html(d.core, facts_for(d));
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("g2<b>"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(&#39;name&#39;)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(&quot;title&quot;)&lt;/script&gt; &amp; more"),
            std::string::npos);
  EXPECT_NE(html.find("goal g2&lt;b&gt; &#183;"), std::string::npos);
  EXPECT_EQ(html_escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&#39;");
}

TEST(ReportHtml, CapsTheTimelineAndSaysWhatItLeftOut) {
  std::vector<GoalSpec> goals;
  for (int g = 0; g < 12; ++g) goals.push_back(make_goal("g" + std::to_string(g), 1));
  Driver d(make_scenario(goals));
  d.join_team(/*coders=*/6, /*critics=*/3);  // 11 agents
  d.start();
  ASSERT_TRUE(d.run());
  const std::size_t spans = d.core.ledger().spans().size();

  HtmlLimits rows;
  rows.max_agents = 5;
  const std::string by_rows = report_html(d.core, facts_for(d), rows);
  // In turn from each role: planner, coder, critic, human, coder.
  EXPECT_NE(by_rows.find("Shown: 5 of 11 agents (1 of 1 planner, 2 of 6 coder, 1 of 3 critic, "
                         "1 of 1 human"),
            std::string::npos)
      << by_rows;
  const std::set<std::string> shown = {"planner-1", "coder-1", "coder-2", "critic-1", "human-1"};
  std::size_t shown_spans = 0;
  for (const auto& span : d.core.ledger().spans()) shown_spans += shown.count(d.core.agent_id(span.agent));
  EXPECT_NE(by_rows.find("Not shown: 6 agents with " + std::to_string(spans - shown_spans) +
                         " dispatches"),
            std::string::npos);
  EXPECT_EQ(count_of(by_rows, "<rect class=\"span\""), shown_spans);

  HtmlLimits bars;
  bars.max_bars = 10;
  const std::string by_bars = report_html(d.core, facts_for(d), bars);
  const std::size_t drawn = count_of(by_bars, "<rect class=\"span\"");
  EXPECT_LE(drawn, 10u);
  EXPECT_GE(drawn, 1u);
  EXPECT_NE(by_bars.find("id=\"timeline-omitted\""), std::string::npos);
  EXPECT_NE(by_bars.find(" of " + std::to_string(spans) + " dispatches"), std::string::npos);

  HtmlLimits one;  // a single agent's own bars are cut at the limit, and that is said too
  one.max_agents = 1;
  one.max_bars = 3;
  const std::string cut = report_html(d.core, facts_for(d), one);
  EXPECT_EQ(count_of(cut, "<rect class=\"span\""), 3u);
  EXPECT_NE(cut.find("the last 9 dispatches of the agents shown"), std::string::npos) << cut;
}

// ---------------------------------------------------------------------------------------------
// report.json

TEST(ReportJson, ListsEveryDispatchedTaskAttemptAndTheApprovalMode) {
  Driver d = finished_run(two_goals());
  const Ledger& ledger = d.core.ledger();
  const json report = json::parse(report_json(d.core, facts_for(d)));
  EXPECT_EQ(report["workflow"]["approval"], "auto");
  EXPECT_EQ(report["goals"]["resolved"], 2);  // the rest of the report is still there
  const json& attempts = report["task_attempts"];
  ASSERT_TRUE(attempts.is_array());
  std::size_t dispatched = 0;
  for (TaskId id = 0; id < ledger.task_count(); ++id)
    if (ledger.task(id).dispatches > 0) ++dispatched;
  ASSERT_EQ(attempts.size(), dispatched);
  ASSERT_GT(dispatched, 8u);
  std::uint64_t tokens_in = 0;
  for (const json& entry : attempts) {
    auto id = ledger.find_task(entry["goal"].get<std::string>(), entry["task"].get<std::string>(),
                               entry["attempt"]);
    ASSERT_TRUE(id.has_value()) << entry.dump();
    const TaskRecord& task = ledger.task(*id);
    EXPECT_EQ(entry["kind"], kind_of(task));
    EXPECT_EQ(entry["state"], "done");
    EXPECT_EQ(entry["agent"], d.core.agent_id(task.agent));
    EXPECT_EQ(entry["verdict"], std::string(task.verdict));
    EXPECT_DOUBLE_EQ(entry["end_s"].get<double>(),
                     us_to_seconds(task.finished_at - d.core.started_at()));
    EXPECT_LE(entry["start_s"].get<double>(), entry["end_s"].get<double>());
    EXPECT_EQ(entry["tokens_out"], task.tokens_out);
    EXPECT_NEAR(entry["usd"].get<double>(), task.usd, 1e-6);
    tokens_in += entry["tokens_in"].get<std::uint64_t>();
  }
  EXPECT_EQ(tokens_in, ledger.tokens_in());

  Scenario copilot = two_goals();
  copilot.workflow.approval = Approval::human;
  Driver c(copilot);
  c.start();
  const json waiting = json::parse(report_json(c.core, facts_for(c)));
  EXPECT_EQ(waiting["workflow"]["approval"], "human");
  EXPECT_EQ(waiting["task_attempts"], json::array());  // nothing was dispatched
}

TEST(ReportJson, NamesTheLatestHolderOfAnAttemptNotYetAnswered) {
  Driver d(make_scenario({make_goal("g1", 1)}));
  d.join("planner-1", "planner");
  d.join("coder-1", "coder");
  d.start();
  d.answer("g1/plan#0");
  const json report = json::parse(report_json(d.core, facts_for(d)));
  ASSERT_EQ(report["task_attempts"].size(), 2u);
  const json& solve = report["task_attempts"][1];
  EXPECT_EQ(solve["task"], "s1");
  EXPECT_EQ(solve["state"], "leased");
  EXPECT_EQ(solve["agent"], "coder-1");
  EXPECT_EQ(solve["verdict"], "");
  EXPECT_TRUE(solve["end_s"].is_null());
}

class ReportFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("cadre-report-views-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(ReportFiles, WriteReportWritesFourFilesAndTheFiguresReadBack) {
  Driver d = finished_run(two_goals());
  ASSERT_TRUE(write_report(dir_.string(), d.core, facts_for(d)).ok());
  for (const char* name : {"report.json", "goals.jsonl", "report.html", "trace.json"})
    EXPECT_GT(std::filesystem::file_size(dir_ / name), 0u) << name;
  auto figures = read_report_figures((dir_ / "report.json").string());
  ASSERT_TRUE(figures.ok()) << figures.error().to_string();
  EXPECT_EQ(figures->goals, 2);
  EXPECT_EQ(figures->resolved, 2);
  EXPECT_EQ(figures->tokens_in, static_cast<double>(d.core.ledger().tokens_in()));
  std::ifstream trace(dir_ / "trace.json");
  EXPECT_FALSE(json::parse(trace, nullptr, false).is_discarded());
}

TEST_F(ReportFiles, WriteReportNamesTheFileItCannotWrite) {
  Driver d = finished_run(two_goals());
  const std::string missing = (dir_ / "no-such-folder").string();
  Status status = write_report(missing, d.core, facts_for(d));
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().to_string().find(missing + "/report.json"), std::string::npos)
      << status.error().to_string();
}

// ---------------------------------------------------------------------------------------------
// A large simulated run: 100,000 dispatches are written quickly, and the page stays small.

TEST(ReportViews, ALargeRunIsWrittenInWellUnderASecondPerFile) {
  std::vector<GoalSpec> goals;
  for (int g = 0; g < 20'000; ++g) goals.push_back(make_goal("g" + std::to_string(g), 1));
  Scenario scenario = make_scenario(goals, /*samples=*/2);
  std::vector<SimAgent> agents;
  for (int i = 0; i < 40; ++i) agents.push_back({"planner-" + std::to_string(i), "planner", "m", 4});
  for (int i = 0; i < 400; ++i) agents.push_back({"coder-" + std::to_string(i), "coder", "m", 2});
  for (int i = 0; i < 200; ++i) agents.push_back({"critic-" + std::to_string(i), "critic", "m", 4});
  agents.push_back({"human-1", "human", "m", 4});
  const Rules rules;
  SimRun sim(scenario, agents, [&](std::size_t, const TaskAssignment& task) {
    return SimAnswer{answer_for(rules, task), 0.5 + (key_hash(task) % 100) / 20.0};
  });
  const RunFacts facts = sim.run();
  ASSERT_EQ(sim.core().ledger().open_goals(), 0u);
  const std::size_t spans = sim.core().ledger().spans().size();
  ASSERT_GE(spans, 100'000u);

  using Clock = std::chrono::steady_clock;
  auto timed = [](auto&& make) {
    const auto start = Clock::now();
    const std::string text = make();
    return std::make_pair(text.size(),
                          std::chrono::duration<double>(Clock::now() - start).count());
  };
  const auto [trace_bytes, trace_s] = timed([&] { return trace_json(sim.core(), facts); });
  const auto [report_bytes, report_s] = timed([&] { return report_json(sim.core(), facts); });
  const auto [html_bytes, html_s] = timed([&] { return report_html(sim.core(), facts); });
  std::cout << spans << " spans: trace.json " << trace_bytes / 1024 << " KiB in " << trace_s
            << " s; report.json " << report_bytes / 1024 << " KiB in " << report_s
            << " s; report.html " << html_bytes / 1024 << " KiB in " << html_s << " s\n";
  // Generous bounds (sanitizer builds, a loaded machine); a release build takes ~0.1 s each.
  EXPECT_LT(trace_s, 2.0);
  EXPECT_LT(report_s, 2.0);
  EXPECT_LT(html_s, 2.0);
  EXPECT_LT(html_bytes, 3u << 20);
  const std::string html = report_html(sim.core(), facts);
  EXPECT_LE(count_of(html, "<rect class=\"span\""), 5000u);
  EXPECT_NE(html.find("id=\"timeline-omitted\""), std::string::npos);
}

}  // namespace
}  // namespace cadre::runtime
