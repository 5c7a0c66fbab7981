// `cadre sweep`: run a scenario over a grid of overrides and seeds, and chart how outcomes and
// cost move with inference compute.
#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "cadre/runtime/report.h"
#include "commands.h"
#include "scenario_args.h"
#include "sweep_chart.h"
#include "run_support.h"
#include "team_sim.h"

namespace cadre::cli {
namespace {

struct Dimension {
  std::string path;  // as the user wrote it
  std::string set_path;  // expanded for --set
  std::vector<std::string> values;
};

struct GridPoint {
  std::size_t index = 0;
  std::vector<std::string> values;  // one per dimension
  long long seed = 0;
};

const std::set<std::string> kTopLevelKeys = {"name",    "description", "seed",   "team",
                                             "workflow", "work",       "pricing", "limits",
                                             "faults"};

// "critic.tpr" is shorthand for "team.critic.brain.tpr", "coder.count" for "team.coder.count".
std::string expand_path(const std::string& path, const runtime::Scenario& scenario) {
  const auto dot = path.find('.');
  if (dot == std::string::npos) return path;
  const std::string head = path.substr(0, dot);
  if (kTopLevelKeys.count(head)) return path;
  for (const auto& entry : scenario.team) {
    if (entry.role != head) continue;
    const std::string rest = path.substr(dot + 1);
    if (rest == "count" || rest == "capacity" || rest.rfind("brain.", 0) == 0)
      return "team." + path;
    return "team." + head + ".brain." + rest;
  }
  return path;
}

Result<Dimension> parse_vary(const std::string& text, const runtime::Scenario& scenario) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size())
    return make_error("expected PATH=V1,V2,...", "--vary " + text);
  Dimension dimension;
  dimension.path = text.substr(0, eq);
  dimension.set_path = expand_path(dimension.path, scenario);
  std::stringstream values(text.substr(eq + 1));
  for (std::string value; std::getline(values, value, ',');)
    if (!value.empty()) dimension.values.push_back(value);
  if (dimension.values.empty()) return make_error("no values", "--vary " + text);
  return dimension;
}

std::string csv_escape(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

}  // namespace

int sweep_command(const SweepArgs& args) {
  auto base = load_or_print(args.scenario);
  if (!base) return kExitBadInput;
  if (args.seeds < 1) {
    print_error("--seeds must be at least 1");
    return kExitBadInput;
  }
  std::vector<Dimension> dimensions;
  for (const auto& text : args.vary) {
    auto dimension = parse_vary(text, *base);
    if (!dimension.ok()) {
      print_error(dimension.error().to_string());
      return kExitBadInput;
    }
    dimensions.push_back(std::move(dimension.value()));
  }
  if (dimensions.empty()) {
    print_error("give at least one --vary PATH=V1,V2,...");
    return kExitBadInput;
  }

  // The grid: every combination of values, for each seed.
  std::vector<GridPoint> grid;
  std::vector<std::size_t> odometer(dimensions.size(), 0);
  while (true) {
    for (long long s = 0; s < args.seeds; ++s) {
      GridPoint point;
      point.index = grid.size();
      for (std::size_t d = 0; d < dimensions.size(); ++d)
        point.values.push_back(dimensions[d].values[odometer[d]]);
      point.seed = static_cast<long long>(base->seed) + s;
      grid.push_back(std::move(point));
    }
    std::size_t d = dimensions.size();
    while (d > 0 && ++odometer[d - 1] == dimensions[d - 1].values.size()) odometer[--d] = 0;
    if (d == 0) break;
  }

  // Every point is checked before any runs, so a bad value fails fast with its place.
  std::vector<ScenarioArgs> point_args;
  for (const auto& point : grid) {
    ScenarioArgs point_arg = args.scenario;
    point_arg.seed = point.seed;
    for (std::size_t d = 0; d < dimensions.size(); ++d)
      point_arg.sets.push_back(dimensions[d].set_path + "=" + point.values[d]);
    auto check = load_from_args(point_arg);
    if (!check.ok()) {
      print_error(check.error().to_string());
      return kExitBadInput;
    }
    // A live sweep runs unattended: nobody would answer an inbox.
    for (const auto& entry : check->team) {
      if (args.live && entry.brain.kind == "inbox") {
        print_error("--live with an inbox human: the sweep's runs would wait for a person; sweep "
                    "in simulation (a simulated person stands in) or give the human another brain");
        return kExitBadInput;
      }
    }
    point_args.push_back(std::move(point_arg));
  }

  const std::string out_dir =
      args.out_dir.empty() ? default_out_dir(base->name + "-sweep") : args.out_dir;
  if (!make_out_dir(out_dir + "/points")) return kExitFailure;
  std::cout << "sweep of '" << base->name << "': " << grid.size() << " runs ("
            << (args.live ? "live" : "sim") << "), output in " << out_dir << std::endl;

  std::vector<runtime::ReportFigures> reports(grid.size());
  std::vector<std::string> failures(grid.size());
  std::atomic<std::size_t> next{0};
  std::mutex print_mutex;
  auto worker = [&] {
    for (std::size_t i = next++; i < grid.size(); i = next++) {
      const std::string point_dir = out_dir + "/points/" + std::to_string(i);
      if (args.live) {
        std::vector<std::string> argv = {self_executable(), "run", args.scenario.path, "--out",
                                         point_dir, "--seed", std::to_string(grid[i].seed), "-q"};
        for (const auto& set : point_args[i].sets) {
          argv.push_back("--set");
          argv.push_back(set);
        }
        const int code = run_and_wait(argv, out_dir + "/points/" + std::to_string(i) + ".log");
        if (code != 0 && code != kExitLimit) failures[i] = "cadre run exited with " + std::to_string(code);
      } else {
        auto scenario = load_from_args(point_args[i]);
        auto team = scenario.ok() ? TeamSim::create(*scenario) : Result<std::unique_ptr<TeamSim>>(scenario.error());
        if (!team.ok()) {
          failures[i] = team.error().to_string();
          continue;
        }
        runtime::RunFacts facts = (*team)->run();
        std::error_code ignored;  // write_report names the folder if it is missing
        std::filesystem::create_directories(point_dir, ignored);
        auto written = runtime::write_report(point_dir, (*team)->core(), facts);
        if (!written.ok()) failures[i] = written.error().to_string();
      }
      if (failures[i].empty()) {
        auto figures = runtime::read_report_figures(point_dir + "/report.json");
        if (figures.ok()) reports[i] = *figures;
        else failures[i] = figures.error().to_string();
      }
      std::lock_guard<std::mutex> lock(print_mutex);
      std::cout << "  run " << (i + 1) << "/" << grid.size() << ":";
      for (std::size_t d = 0; d < dimensions.size(); ++d)
        std::cout << " " << dimensions[d].path << "=" << grid[i].values[d];
      std::cout << " seed=" << grid[i].seed;
      if (!failures[i].empty()) std::cout << "  FAILED: " << failures[i];
      std::cout << std::endl;
    }
  };
  const unsigned jobs = args.live ? 1u : std::max(1u, args.jobs);
  std::vector<std::thread> threads;
  for (unsigned j = 0; j < jobs; ++j) threads.emplace_back(worker);
  for (auto& thread : threads) thread.join();

  // sweep.csv: one row per grid point and seed.
  std::ofstream csv(out_dir + "/sweep.csv");
  csv << "run,seed";
  for (const auto& dimension : dimensions) csv << "," << csv_escape(dimension.path);
  csv << ",goals,resolved,escalated,failed,resolution_rate,escalation_rate,failure_rate,"
         "correct_rate,tokens_in,tokens_out,tokens_per_goal,usd,usd_per_resolved,goal_p95_s,"
         "false_accepts\n";
  std::vector<SweepSample> samples;
  bool any_failed = false;
  for (std::size_t i = 0; i < grid.size(); ++i) {
    if (!failures[i].empty()) {
      any_failed = true;
      continue;
    }
    const runtime::ReportFigures& r = reports[i];
    const double total = std::max(1.0, r.goals);
    const double tokens = r.tokens_in + r.tokens_out;
    SweepSample sample;
    sample.values = grid[i].values;
    sample.resolution_rate = r.resolved / total;
    sample.correct_rate = r.resolved_correct / total;
    sample.tokens_per_goal = tokens / total;
    sample.usd_per_resolved = r.usd_per_resolved;
    samples.push_back(sample);
    char row[512];
    std::snprintf(row, sizeof row,
                  ",%.0f,%.0f,%.0f,%.0f,%.6f,%.6f,%.6f,%.6f,%.0f,%.0f,%.1f,%.6f,%s,%.6f,%.0f\n",
                  r.goals, r.resolved, r.escalated, r.failed, r.resolved / total,
                  r.escalated / total, r.failed / total, r.resolved_correct / total, r.tokens_in,
                  r.tokens_out, tokens / total, r.usd,
                  r.usd_per_resolved < 0 ? "" : std::to_string(r.usd_per_resolved).c_str(),
                  r.goal_p95_s, r.false_accepts);
    csv << i << "," << grid[i].seed;
    for (const auto& value : grid[i].values) csv << "," << csv_escape(value);
    csv << row;
  }
  csv.close();

  std::vector<std::string> dimension_names;
  for (const auto& dimension : dimensions) dimension_names.push_back(dimension.path);
  const std::string chart = sweep_chart_svg(base->name, dimension_names, samples);
  std::ofstream(out_dir + "/sweep.svg") << chart;

  // report.html: the chart and every run, linking to the run's own report.html.
  std::vector<SweepRunRow> rows;
  for (std::size_t i = 0; i < grid.size(); ++i) {
    SweepRunRow row;
    row.run = i;
    row.seed = grid[i].seed;
    row.values = grid[i].values;
    row.failure = failures[i];
    const runtime::ReportFigures& r = reports[i];
    row.goals = r.goals;
    row.resolved = r.resolved;
    row.escalated = r.escalated;
    row.failed = r.failed;
    row.tokens_per_goal = (r.tokens_in + r.tokens_out) / std::max(1.0, r.goals);
    row.usd = r.usd;
    row.usd_per_resolved = r.usd_per_resolved;
    const std::string link = "points/" + std::to_string(i) + "/report.html";
    std::error_code ignored;
    if (std::filesystem::exists(out_dir + "/" + link, ignored)) row.link = link;
    rows.push_back(std::move(row));
  }
  const std::string html_path = out_dir + "/report.html";
  std::ofstream html(html_path);
  html << sweep_report_html(base->name, dimension_names, chart, rows);
  html.close();
  if (!html) {
    print_error(html_path + ": cannot write");
    return kExitFailure;
  }
  std::cout << "wrote " << out_dir << "/sweep.csv, " << out_dir << "/sweep.svg and " << html_path
            << std::endl;
  return any_failed ? kExitFailure : kExitOk;
}

}  // namespace cadre::cli
