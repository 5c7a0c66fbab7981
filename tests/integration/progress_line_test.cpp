// The progress line of `cadre run`/`sim`/`hub` (cli/progress.cpp, compiled in): formatting, the
// pacing on a terminal and off it (fake clock, no terminal needed), the snapshot of a core, and
// SimOptions::on_step of the simulation loop.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <sstream>

#include "cadre/agents/sim_brain.h"
#include "cadre/runtime/sim_run.h"
#include "../runtime/sim_test_support.h"
#include "progress.h"

namespace cadre::cli {
namespace {

ProgressSnapshot sample() {
  ProgressSnapshot s;
  s.goals_total = 6;
  s.goals_ended = 3;
  s.resolved = 2;
  s.escalated = 1;
  s.failed = 0;
  s.agents_present = 5;
  s.agents_busy = 2;
  s.usd = 0.0123;
  s.elapsed_s = 4.25;
  return s;
}

TEST(ProgressFormat, LiveLineHasEveryField) {
  EXPECT_EQ(format_progress(sample()),
            "goals 3/6 ended (2 resolved, 1 escalated, 0 failed) | agents 2/5 busy | $0.0123 | "
            "4.2s");
}

TEST(ProgressFormat, SimLineHasVirtualAndRealTime) {
  ProgressSnapshot s = sample();
  s.virtual_s = 3723.0;
  s.elapsed_s = 0.4;
  s.usd = 1234.5;
  EXPECT_EQ(format_progress(s),
            "goals 3/6 ended (2 resolved, 1 escalated, 0 failed) | agents 2/5 busy | $1234.50 | "
            "virtual 1h02m03s | real 0.4s");
  s.virtual_s = 125.9;
  EXPECT_NE(format_progress(s).find("virtual 2m05s |"), std::string::npos);
}

// A terminal ProgressLine on a string stream with a clock the test moves.
struct Fixture {
  double t = 100.0;
  std::ostringstream out;
  std::vector<std::string> logged;
  std::size_t columns = 0;
  ProgressLine::Options options(bool terminal, bool enabled = true) {
    ProgressLine::Options o;
    o.enabled = enabled;
    o.terminal = terminal;
    o.redraw_s = 0.1;
    o.plain_every_s = 5.0;
    o.out = &out;
    o.log = [this](const std::string& line) { logged.push_back(line); };
    o.clock = [this] { return t; };
    o.columns = [this] { return columns; };
    return o;
  }
};

TEST(ProgressLine, TerminalRedrawsInPlaceAtMostEveryRedrawInterval) {
  Fixture f;
  ProgressLine line(f.options(true));
  EXPECT_TRUE(line.due());  // a terminal line shows at once
  line.update(sample());
  const std::string first = "\rgoals 3/6 ended (2 resolved, 1 escalated, 0 failed) | agents 2/5 "
                            "busy | $0.0123 | 0.0s\x1b[K";
  EXPECT_EQ(f.out.str(), first);
  f.t += 0.05;
  EXPECT_FALSE(line.due());
  line.update(sample());
  EXPECT_EQ(f.out.str(), first);  // too soon: nothing
  f.t += 0.06;
  EXPECT_TRUE(line.due());
  line.update(sample());
  EXPECT_EQ(f.out.str().substr(first.size()),
            "\rgoals 3/6 ended (2 resolved, 1 escalated, 0 failed) | agents 2/5 busy | $0.0123 | "
            "0.1s\x1b[K");
  EXPECT_TRUE(f.logged.empty());
  EXPECT_EQ(f.out.str().find('\n'), std::string::npos);
}

TEST(ProgressLine, BeforeLogErasesTheShownLineOnce) {
  Fixture f;
  ProgressLine line(f.options(true));
  line.before_log();  // nothing shown yet
  EXPECT_EQ(f.out.str(), "");
  line.update(sample());
  const std::size_t drawn = f.out.str().size();
  line.before_log();
  EXPECT_EQ(f.out.str().substr(drawn), "\r\x1b[K");
  line.before_log();
  EXPECT_EQ(f.out.str().size(), drawn + 4);
}

TEST(ProgressLine, TerminalFinishEndsTheLineAndStopsEverything) {
  Fixture f;
  ProgressLine line(f.options(true));
  line.update(sample());
  f.t += 0.01;  // finish() draws whatever the pacing
  ProgressSnapshot last = sample();
  last.goals_ended = 6;
  last.resolved = 5;
  line.finish(last);
  const std::string text = f.out.str();
  ASSERT_GE(text.size(), 1u);
  EXPECT_EQ(text.back(), '\n');
  EXPECT_NE(text.find("\rgoals 6/6 ended (5 resolved"), std::string::npos);
  f.t += 10;
  line.update(sample());
  line.before_log();
  line.finish(sample());
  EXPECT_EQ(f.out.str(), text);
}

TEST(ProgressLine, TerminalLinesAreCutToTheWidth) {
  Fixture f;
  f.columns = 21;
  ProgressLine line(f.options(true));
  line.update(sample());
  EXPECT_EQ(f.out.str(), "\rgoals 3/6 ended (2 r\x1b[K");
}

TEST(ProgressLine, PlainLinesComeEveryIntervalWithoutControlCharacters) {
  Fixture f;
  ProgressLine line(f.options(false));
  EXPECT_FALSE(line.due());  // the first plain line after one interval
  line.update(sample());
  f.t += 4.9;
  line.update(sample());
  EXPECT_TRUE(f.logged.empty());
  f.t += 0.2;  // 5.1 s
  line.update(sample());
  ASSERT_EQ(f.logged.size(), 1u);
  EXPECT_EQ(f.logged[0],
            "progress: goals 3/6 ended (2 resolved, 1 escalated, 0 failed) | agents 2/5 busy | "
            "$0.0123 | 5.1s");
  f.t += 1;
  line.update(sample());
  EXPECT_EQ(f.logged.size(), 1u);
  f.t += 4;  // 10.1 s: the second interval
  line.update(sample());
  EXPECT_EQ(f.logged.size(), 2u);
  f.t += 100;  // a long stall gives one line, not a burst
  line.update(sample());
  line.update(sample());
  EXPECT_EQ(f.logged.size(), 3u);
  line.before_log();
  line.finish(sample());
  ASSERT_EQ(f.logged.size(), 4u);
  EXPECT_EQ(f.out.str(), "");  // everything went through the log
  for (const auto& logged : f.logged) {
    EXPECT_EQ(logged.find('\r'), std::string::npos);
    EXPECT_EQ(logged.find('\x1b'), std::string::npos);
  }
}

TEST(ProgressLine, PlainLinesGoToOutWithoutALog) {
  Fixture f;
  auto options = f.options(false);
  options.log = nullptr;
  ProgressLine line(options);
  line.finish(sample());
  EXPECT_EQ(f.out.str(),
            "progress: goals 3/6 ended (2 resolved, 1 escalated, 0 failed) | agents 2/5 busy | "
            "$0.0123 | 0.0s\n");
}

TEST(ProgressLine, DisabledWritesNothing) {
  for (bool terminal : {true, false}) {
    Fixture f;
    ProgressLine line(f.options(terminal, /*enabled=*/false));
    EXPECT_FALSE(line.due());
    line.update(sample());
    f.t += 60;
    line.update(sample());
    line.before_log();
    line.finish(sample());
    EXPECT_EQ(f.out.str(), "");
    EXPECT_TRUE(f.logged.empty());
  }
}

// A small team on the virtual clock (tests/runtime/sim_test_support.h).
runtime::Scenario small_scenario() { return simtest::small_scenario(11, 8); }
using SimTeam = simtest::Team;

std::map<std::string, std::string> outcomes(const runtime::HubCore& core) {
  std::map<std::string, std::string> result;
  for (const auto& goal : core.ledger().goals())
    result[goal.spec.id] = runtime::outcome_name(goal.outcome);
  return result;
}

TEST(SimOnStep, SnapshotsFollowTheRunAndEndAtTheReportsCounts) {
  const runtime::Scenario scenario = small_scenario();
  SimTeam team(scenario);
  std::vector<ProgressSnapshot> seen;
  std::vector<runtime::TimeUs> times;
  runtime::SimOptions options;
  options.step_every = 1;
  options.on_step = [&](const runtime::HubCore& core, runtime::TimeUs now) {
    seen.push_back(progress_snapshot(core));
    times.push_back(now);
  };
  runtime::SimRun sim(scenario, team.agents, team.answer(), options);
  const runtime::RunFacts facts = sim.run();
  ASSERT_GT(seen.size(), 10u);
  for (std::size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].goals_total, 8u);
    EXPECT_EQ(seen[i].goals_ended, seen[i].resolved + seen[i].escalated + seen[i].failed);
    EXPECT_LE(seen[i].agents_busy, seen[i].agents_present);
    EXPECT_EQ(seen[i].agents_present, 7u);
    EXPECT_LE(runtime::us_to_seconds(times[i]), facts.wall_s);
    if (i > 0) {
      EXPECT_GE(seen[i].goals_ended, seen[i - 1].goals_ended);
      EXPECT_GE(seen[i].usd, seen[i - 1].usd);
      EXPECT_GE(times[i], times[i - 1]);
    }
  }
  bool someone_busy = false;
  for (const auto& snapshot : seen) someone_busy = someone_busy || snapshot.agents_busy > 0;
  EXPECT_TRUE(someone_busy);

  const ProgressSnapshot end = progress_snapshot(sim.core());
  EXPECT_EQ(end.goals_ended, 8u);
  std::map<std::string, std::size_t> counted;
  for (const auto& [id, outcome] : outcomes(sim.core())) ++counted[outcome];
  EXPECT_EQ(end.resolved, counted["resolved"]);
  EXPECT_EQ(end.escalated, counted["escalated"]);
  EXPECT_EQ(end.failed, counted["failed"]);
  EXPECT_DOUBLE_EQ(end.usd, sim.core().ledger().usd());
  EXPECT_GT(end.usd, 0.0);
}

TEST(SimOnStep, IsCalledEveryStepEveryEventsAndDoesNotChangeTheRun) {
  const runtime::Scenario scenario = small_scenario();
  SimTeam plain_team(scenario);
  runtime::SimRun plain(scenario, plain_team.agents, plain_team.answer());
  const runtime::RunFacts plain_facts = plain.run();

  std::size_t every_one = 0, every_ten = 0;
  for (std::uint32_t every : {1u, 10u}) {
    SimTeam team(scenario);
    runtime::SimOptions options;
    options.step_every = every;
    options.on_step = [&](const runtime::HubCore&, runtime::TimeUs) {
      ++(every == 1 ? every_one : every_ten);
    };
    runtime::SimRun sim(scenario, team.agents, team.answer(), options);
    const runtime::RunFacts facts = sim.run();
    EXPECT_EQ(outcomes(sim.core()), outcomes(plain.core()));
    EXPECT_EQ(facts.wall_s, plain_facts.wall_s);
    EXPECT_DOUBLE_EQ(sim.core().ledger().usd(), plain.core().ledger().usd());
  }
  ASSERT_GT(every_one, 20u);
  EXPECT_EQ(every_ten, every_one / 10);
}

}  // namespace
}  // namespace cadre::cli
