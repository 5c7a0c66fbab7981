// prometheus_text: a HubCore driven through a small run, its metrics text parsed back and checked
// line by line against the exposition format 0.0.4 and against the core's own figures.
#include "cadre/runtime/metrics.h"

#include <gtest/gtest.h>

#include <cctype>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core_test_support.h"

namespace cadre::runtime {
namespace {

using namespace coretest;

// ---------------------------------------------------------------------------------------------
// A strict little parser of the text format.

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;  // unescaped values
  double value = 0;
};

struct Parsed {
  std::vector<std::string> errors;
  std::vector<std::string> family_order;          // in order of their # HELP
  std::map<std::string, std::string> help, type;  // family -> text
  std::vector<Sample> samples;
  // "name{k=\"v\",...}" as written -> value
  std::map<std::string, double> series;
};

bool is_name_start(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':';
}
bool is_name_char(char c) {
  return is_name_start(c) || std::isdigit(static_cast<unsigned char>(c));
}

std::optional<double> parse_value(const std::string& text) {
  if (text == "+Inf") return 1.0 / 0.0;
  if (text == "-Inf") return -1.0 / 0.0;
  if (text == "NaN") return 0.0 / 0.0;
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size()) return std::nullopt;
  return v;
}

// The family a sample belongs to: histogram samples carry a suffix.
std::string family_of(const std::string& name, const std::map<std::string, std::string>& type) {
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string s = suffix;
    if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) {
      const std::string base = name.substr(0, name.size() - s.size());
      auto it = type.find(base);
      if (it != type.end() && it->second == "histogram") return base;
    }
  }
  return name;
}

Parsed parse(const std::string& text) {
  Parsed p;
  if (text.empty() || text.back() != '\n') p.errors.push_back("text does not end with a newline");
  std::istringstream in(text);
  std::string line;
  std::set<std::string> seen_series;
  std::string current_family;
  std::set<std::string> finished_families;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    const std::string where = "line " + std::to_string(number) + " '" + line + "': ";
    if (line.empty()) {
      p.errors.push_back(where + "empty line");
      continue;
    }
    if (line[0] == '#') {
      std::istringstream words(line);
      std::string hash, keyword, name;
      words >> hash >> keyword >> name;
      std::string rest;
      std::getline(words, rest);
      if (!rest.empty() && rest[0] == ' ') rest.erase(0, 1);
      if (keyword == "HELP") {
        if (p.help.count(name)) p.errors.push_back(where + "second HELP");
        p.help[name] = rest;
        p.family_order.push_back(name);
        if (!current_family.empty()) finished_families.insert(current_family);
        current_family = name;
      } else if (keyword == "TYPE") {
        if (p.type.count(name)) p.errors.push_back(where + "second TYPE");
        if (name != current_family) p.errors.push_back(where + "TYPE not right after its HELP");
        static const std::set<std::string> kTypes = {"counter", "gauge", "histogram", "summary",
                                                     "untyped"};
        if (!kTypes.count(rest)) p.errors.push_back(where + "unknown type");
        p.type[name] = rest;
      } else {
        p.errors.push_back(where + "a comment that is neither HELP nor TYPE");
      }
      continue;
    }
    // name{labels} value
    Sample s;
    std::size_t i = 0;
    if (!is_name_start(line[0])) {
      p.errors.push_back(where + "bad metric name");
      continue;
    }
    while (i < line.size() && is_name_char(line[i])) ++i;
    s.name = line.substr(0, i);
    bool ok = true;
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (ok && i < line.size() && line[i] != '}') {
        const std::size_t start = i;
        if (!is_name_start(line[i]) || line[i] == ':') ok = false;
        while (ok && i < line.size() && is_name_char(line[i]) && line[i] != ':') ++i;
        const std::string label = line.substr(start, i - start);
        if (!ok || i + 1 >= line.size() || line[i] != '=' || line[i + 1] != '"') {
          ok = false;
          break;
        }
        i += 2;
        std::string value;
        while (ok && i < line.size() && line[i] != '"') {
          if (line[i] == '\\') {
            if (i + 1 >= line.size()) ok = false;
            else if (line[i + 1] == '\\') value += '\\';
            else if (line[i + 1] == '"') value += '"';
            else if (line[i + 1] == 'n') value += '\n';
            else ok = false;
            i += 2;
          } else {
            value += line[i++];
          }
        }
        if (!ok || i >= line.size()) {
          ok = false;
          break;
        }
        ++i;  // closing quote
        if (s.labels.count(label)) ok = false;
        s.labels[label] = value;
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (!ok || i >= line.size() || line[i] != '}') {
        p.errors.push_back(where + "bad labels");
        continue;
      }
      ++i;
    }
    const std::string series = line.substr(0, i);
    if (i >= line.size() || line[i] != ' ') {
      p.errors.push_back(where + "no single space before the value");
      continue;
    }
    const auto value = parse_value(line.substr(i + 1));
    if (!value) {
      p.errors.push_back(where + "bad value");
      continue;
    }
    s.value = *value;
    const std::string family = family_of(s.name, p.type);
    if (!p.help.count(family)) p.errors.push_back(where + "no HELP for " + family);
    if (!p.type.count(family)) p.errors.push_back(where + "no TYPE for " + family);
    if (family != current_family) p.errors.push_back(where + "not grouped under its family");
    if (finished_families.count(family)) p.errors.push_back(where + "family split");
    if (s.name.rfind("cadre_", 0) != 0) p.errors.push_back(where + "not prefixed cadre_");
    if (!seen_series.insert(series).second) p.errors.push_back(where + "duplicate series");
    p.series[series] = s.value;
    p.samples.push_back(std::move(s));
  }
  for (const auto& [family, unused] : p.help)
    if (!p.type.count(family)) p.errors.push_back(family + " has HELP but no TYPE");
  for (const auto& family : p.family_order) {
    bool has_sample = false;
    for (const Sample& s : p.samples) has_sample |= family_of(s.name, p.type) == family;
    if (!has_sample) p.errors.push_back(family + " has no sample");
  }
  return p;
}

// Parses and fails the test on any format error.
Parsed parse_ok(const std::string& text) {
  Parsed p = parse(text);
  for (const std::string& e : p.errors) ADD_FAILURE() << e;
  return p;
}

double value_of(const Parsed& p, const std::string& series) {
  auto it = p.series.find(series);
  if (it == p.series.end()) {
    ADD_FAILURE() << "no series " << series;
    return -1;
  }
  return it->second;
}

// Checks the histogram's buckets are cumulative, end in +Inf and agree with _count.
void expect_consistent_histogram(const Parsed& p, const std::string& name) {
  double previous = 0, last_le = -1;
  bool saw_inf = false;
  std::size_t buckets = 0;
  for (const Sample& s : p.samples) {
    if (s.name != name + "_bucket") continue;
    ++buckets;
    ASSERT_EQ(s.labels.size(), 1u);
    const double le = *parse_value(s.labels.at("le"));
    EXPECT_GT(le, last_le) << "le not increasing";
    EXPECT_GE(s.value, previous) << "buckets not cumulative at le=" << s.labels.at("le");
    previous = s.value;
    last_le = le;
    saw_inf = s.labels.at("le") == "+Inf";
  }
  EXPECT_EQ(buckets, LatencyHistogram::kBuckets + 1);
  EXPECT_TRUE(saw_inf) << "the last bucket is not +Inf";
  EXPECT_EQ(previous, value_of(p, name + "_count"));
  EXPECT_GE(value_of(p, name + "_sum"), 0.0);
}

const std::vector<std::string> kFamilies = {
    "cadre_goals",
    "cadre_goals_in_run",
    "cadre_tasks_dispatched_total",
    "cadre_tasks_completed_total",
    "cadre_tasks_requeued_total",
    "cadre_tasks_duplicates_ignored_total",
    "cadre_tasks_failed_attempts_total",
    "cadre_tasks_queued",
    "cadre_messages_sent_total",
    "cadre_messages_received_total",
    "cadre_messages_malformed_total",
    "cadre_connections_refused_total",
    "cadre_agents",
    "cadre_agent_capacity",
    "cadre_tokens_total",
    "cadre_cost_usd_total",
    "cadre_dispatch_latency_seconds",
    "cadre_run_elapsed_seconds",
    "cadre_run_finished",
};

// ---------------------------------------------------------------------------------------------

TEST(Metrics, EveryFamilyInAFixedOrderWithHelpAndType) {
  Driver d(make_scenario({make_goal("g1", 1), make_goal("g2", 2)}));
  const Parsed p = parse_ok(prometheus_text(d.core, {}, 0));
  EXPECT_EQ(p.family_order, kFamilies);
  EXPECT_EQ(p.type.at("cadre_goals"), "gauge");
  EXPECT_EQ(p.type.at("cadre_tasks_dispatched_total"), "counter");
  EXPECT_EQ(p.type.at("cadre_tasks_queued"), "gauge");
  EXPECT_EQ(p.type.at("cadre_tokens_total"), "counter");
  EXPECT_EQ(p.type.at("cadre_dispatch_latency_seconds"), "histogram");
  for (const auto& [family, help] : p.help) EXPECT_FALSE(help.empty()) << family;
}

TEST(Metrics, BeforeStartEverythingIsOpenAndZero) {
  Driver d(make_scenario({make_goal("g1", 1), make_goal("g2", 2)}));
  d.advance_s(5);
  const Parsed p = parse_ok(prometheus_text(d.core, {}, d.now));
  EXPECT_EQ(value_of(p, "cadre_goals{state=\"open\"}"), 2);
  EXPECT_EQ(value_of(p, "cadre_goals{state=\"resolved\"}"), 0);
  EXPECT_EQ(value_of(p, "cadre_goals{state=\"escalated\"}"), 0);
  EXPECT_EQ(value_of(p, "cadre_goals{state=\"failed\"}"), 0);
  EXPECT_EQ(value_of(p, "cadre_goals_in_run"), 2);
  EXPECT_EQ(value_of(p, "cadre_tasks_dispatched_total"), 0);
  EXPECT_EQ(value_of(p, "cadre_tasks_queued"), 0);
  EXPECT_EQ(value_of(p, "cadre_run_elapsed_seconds"), 0);
  EXPECT_EQ(value_of(p, "cadre_run_finished"), 0);
  EXPECT_EQ(value_of(p, "cadre_dispatch_latency_seconds_count"), 0);
  // Every role of the team is listed, with no agents yet.
  for (const char* role : {"planner", "coder", "critic", "human"}) {
    for (const char* state : {"idle", "busy", "gone"})
      EXPECT_EQ(value_of(p, std::string("cadre_agents{role=\"") + role + "\",state=\"" + state +
                                "\"}"),
                0);
    EXPECT_EQ(value_of(p, std::string("cadre_agent_capacity{role=\"") + role + "\"}"), 0);
  }
  expect_consistent_histogram(p, "cadre_dispatch_latency_seconds");
}

TEST(Metrics, AfterDispatchTheQueueTheAgentsAndTheLatencyShowIt) {
  Driver d(make_scenario({make_goal("g1", 1), make_goal("g2", 1)}));
  d.advance_s(10);
  d.start();  // two plan tasks queue at t = 10 s
  d.advance_s(3);
  d.join("planner-1", "planner", 1);  // takes one at t = 13 s: waited 3 s
  d.join("coder-1", "coder", 2);
  d.advance_s(0.5);
  const Parsed p = parse_ok(prometheus_text(d.core, {}, d.now));
  EXPECT_EQ(value_of(p, "cadre_tasks_dispatched_total"), 1);
  EXPECT_EQ(value_of(p, "cadre_tasks_queued"), 1);
  EXPECT_EQ(value_of(p, "cadre_agents{role=\"planner\",state=\"busy\"}"), 1);
  EXPECT_EQ(value_of(p, "cadre_agents{role=\"planner\",state=\"idle\"}"), 0);
  EXPECT_EQ(value_of(p, "cadre_agents{role=\"coder\",state=\"idle\"}"), 1);
  EXPECT_EQ(value_of(p, "cadre_agent_capacity{role=\"coder\"}"), 2);
  EXPECT_EQ(value_of(p, "cadre_agent_capacity{role=\"planner\"}"), 1);
  EXPECT_DOUBLE_EQ(value_of(p, "cadre_run_elapsed_seconds"), 3.5);

  // One observation of 3 s: above le=2.5, within le=10.
  EXPECT_EQ(value_of(p, "cadre_dispatch_latency_seconds_bucket{le=\"2.5\"}"), 0);
  EXPECT_EQ(value_of(p, "cadre_dispatch_latency_seconds_bucket{le=\"10\"}"), 1);
  EXPECT_EQ(value_of(p, "cadre_dispatch_latency_seconds_bucket{le=\"+Inf\"}"), 1);
  EXPECT_EQ(value_of(p, "cadre_dispatch_latency_seconds_count"), 1);
  EXPECT_DOUBLE_EQ(value_of(p, "cadre_dispatch_latency_seconds_sum"), 3.0);
  EXPECT_EQ(value_of(p, "cadre_dispatch_latency_seconds_bucket{le=\"0.0001\"}"), 0);
  expect_consistent_histogram(p, "cadre_dispatch_latency_seconds");
}

TEST(Metrics, AFinishedRunShowsItsOutcomesCountersAndCost) {
  // g2's only candidate is wrong and there are no revisions: it goes to the human.
  Rules rules;
  rules.correct = [](const TaskAssignment& a) { return a.goal_id != "g2"; };
  Driver d(make_scenario({make_goal("g1", 2), make_goal("g2", 1)}, 1, 0), rules);
  d.join_team(2, 1);
  d.start();
  ASSERT_TRUE(d.run());
  const TimeUs end = d.core.last_event_at();
  d.advance_s(100);  // the clock goes on after the end; elapsed does not

  MessageStats messages;
  messages.sent = 41;
  messages.received = 39;
  messages.malformed = 2;
  messages.refused = 1;
  const Parsed p = parse_ok(prometheus_text(d.core, messages, d.now));

  const Ledger& ledger = d.core.ledger();
  std::map<GoalOutcome, double> expected;
  for (const GoalRecord& g : ledger.goals()) ++expected[g.outcome];
  EXPECT_EQ(value_of(p, "cadre_goals{state=\"open\"}"), 0);
  EXPECT_EQ(value_of(p, "cadre_goals{state=\"resolved\"}"), expected[GoalOutcome::resolved]);
  EXPECT_EQ(value_of(p, "cadre_goals{state=\"escalated\"}"), expected[GoalOutcome::escalated]);
  EXPECT_EQ(value_of(p, "cadre_goals{state=\"failed\"}"), expected[GoalOutcome::failed]);
  EXPECT_GE(expected[GoalOutcome::resolved], 1);
  EXPECT_EQ(value_of(p, "cadre_goals_in_run"), 2);

  EXPECT_EQ(value_of(p, "cadre_tasks_dispatched_total"),
            static_cast<double>(d.dispatched().size()));
  EXPECT_EQ(value_of(p, "cadre_tasks_dispatched_total"), ledger.counters().dispatched);
  EXPECT_EQ(value_of(p, "cadre_tasks_completed_total"), ledger.counters().completed);
  EXPECT_GT(ledger.counters().completed, 0u);
  EXPECT_EQ(value_of(p, "cadre_tasks_requeued_total"), 0);
  EXPECT_EQ(value_of(p, "cadre_tasks_duplicates_ignored_total"), 0);
  EXPECT_EQ(value_of(p, "cadre_tasks_failed_attempts_total"), 0);
  EXPECT_EQ(value_of(p, "cadre_tasks_queued"), 0);

  EXPECT_EQ(value_of(p, "cadre_messages_sent_total"), 41);
  EXPECT_EQ(value_of(p, "cadre_messages_received_total"), 39);
  EXPECT_EQ(value_of(p, "cadre_messages_malformed_total"), 2);
  EXPECT_EQ(value_of(p, "cadre_connections_refused_total"), 1);

  EXPECT_EQ(value_of(p, "cadre_tokens_total{direction=\"in\"}"), ledger.tokens_in());
  EXPECT_EQ(value_of(p, "cadre_tokens_total{direction=\"out\"}"), ledger.tokens_out());
  EXPECT_GT(ledger.tokens_in(), 0u);
  EXPECT_DOUBLE_EQ(value_of(p, "cadre_cost_usd_total"), ledger.usd());
  EXPECT_GT(ledger.usd(), 0.0);

  EXPECT_EQ(value_of(p, "cadre_dispatch_latency_seconds_count"), ledger.counters().dispatched);
  expect_consistent_histogram(p, "cadre_dispatch_latency_seconds");

  EXPECT_EQ(value_of(p, "cadre_run_finished"), 1);
  EXPECT_DOUBLE_EQ(value_of(p, "cadre_run_elapsed_seconds"), us_to_seconds(end));
  EXPECT_EQ(value_of(p, "cadre_agents{role=\"coder\",state=\"idle\"}"), 2);
}

TEST(Metrics, RequeuesDuplicatesFailuresAndAgentsThatLeftAreCounted) {
  Rules rules;
  rules.solve_ok = [](const TaskAssignment& a) { return a.attempt > 0; };  // first attempts fail
  Driver d(make_scenario({make_goal("g1", 1)}), rules);
  d.join("planner-1", "planner");
  d.join("coder-1", "coder");
  d.join("critic-1", "critic");
  d.start();
  d.answer("g1/plan#0");
  const auto plan = answer_for(d.rules, d.dispatched(TaskKind::plan).at(0).assignment);
  d.send("planner-1", plan);  // a duplicate
  d.leave("planner-1");
  d.answer("g1/s1#0");  // fails: counted as a failed attempt
  d.advance_s(31);
  d.tick();  // whatever the coder holds now has its lease expire: requeued
  const Parsed p = parse_ok(prometheus_text(d.core, {}, d.now));
  EXPECT_EQ(value_of(p, "cadre_tasks_duplicates_ignored_total"), d.counters().duplicates_ignored);
  EXPECT_EQ(value_of(p, "cadre_tasks_duplicates_ignored_total"), 1);
  EXPECT_EQ(value_of(p, "cadre_tasks_failed_attempts_total"), 1);
  EXPECT_EQ(value_of(p, "cadre_tasks_requeued_total"), d.counters().requeued);
  EXPECT_EQ(value_of(p, "cadre_agents{role=\"planner\",state=\"gone\"}"), 1);
  EXPECT_EQ(value_of(p, "cadre_agents{role=\"planner\",state=\"idle\"}"), 0);
  EXPECT_EQ(value_of(p, "cadre_agent_capacity{role=\"planner\"}"), 0);
  expect_consistent_histogram(p, "cadre_dispatch_latency_seconds");
}

TEST(Metrics, LabelValuesAreEscaped) {
  EXPECT_EQ(prometheus_escape_label("plain"), "plain");
  EXPECT_EQ(prometheus_escape_label("a\"b"), "a\\\"b");
  EXPECT_EQ(prometheus_escape_label("a\\b"), "a\\\\b");
  EXPECT_EQ(prometheus_escape_label("a\nb"), "a\\nb");

  const std::string odd = "re\"view\\er\nx";
  Driver d(make_scenario({make_goal("g1", 1)}));
  d.join("odd-1", odd, 3);
  const std::string text = prometheus_text(d.core, {}, 0);
  const Parsed p = parse_ok(text);
  EXPECT_NE(text.find("cadre_agent_capacity{role=\"re\\\"view\\\\er\\nx\"} 3\n"), std::string::npos)
      << text;
  bool found = false;
  for (const Sample& s : p.samples)
    if (s.name == "cadre_agents" && s.labels.at("role") == odd && s.labels.at("state") == "idle") {
      found = true;
      EXPECT_EQ(s.value, 1);
    }
  EXPECT_TRUE(found);
}

TEST(Metrics, TheSameStateGivesTheSameText) {
  const auto run = [] {
    Driver d(make_scenario({make_goal("g1", 2), make_goal("g2", 1)}, 2));
    d.join_team(3, 2);
    d.start();
    for (int i = 0; i < 7 && !d.pending.empty(); ++i) {
      d.advance_s(0.3);
      d.answer_index(0);
    }
    return prometheus_text(d.core, {1, 2, 3, 4}, d.now);
  };
  const std::string first = run();
  EXPECT_EQ(first, run());
  parse_ok(first);
}

TEST(Metrics, TheParserRejectsMalformedText) {
  // The checks above are only as good as the parser: make sure it catches what it should.
  EXPECT_FALSE(parse("cadre_x 1\n").errors.empty());  // no HELP/TYPE
  EXPECT_FALSE(parse("# HELP cadre_x h\n# TYPE cadre_x gauge\ncadre_x{a=\"b} 1\n").errors.empty());
  EXPECT_FALSE(parse("# HELP cadre_x h\n# TYPE cadre_x gauge\ncadre_x one\n").errors.empty());
  EXPECT_FALSE(
      parse("# HELP cadre_x h\n# TYPE cadre_x gauge\ncadre_x{a=\"\\t\"} 1\n").errors.empty());
  EXPECT_FALSE(
      parse("# HELP cadre_x h\n# TYPE cadre_x gauge\ncadre_x 1\ncadre_x 2\n").errors.empty());
  EXPECT_TRUE(
      parse("# HELP cadre_x h\n# TYPE cadre_x gauge\ncadre_x{a=\"\\\"\"} +Inf\n").errors.empty());
}

}  // namespace
}  // namespace cadre::runtime
