#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cadre/runtime/journal.h"
#include "cadre/runtime/replay.h"

#include "commands.h"
#include "run_support.h"
#include "scenario_args.h"

namespace cadre::cli {

void print_error(const std::string& message) { std::cerr << "cadre: error: " << message << "\n"; }

Result<runtime::Scenario> load_from_args(const ScenarioArgs& args) {
  std::vector<runtime::Override> overrides;
  for (const auto& text : args.sets) {
    auto parsed = runtime::parse_override(text);
    if (!parsed.ok()) return make_error(parsed.error().message, "--set " + text);
    overrides.push_back(*parsed);
  }
  return runtime::load_scenario(args.path, overrides, args.seed);
}

std::optional<runtime::Scenario> load_or_print(const ScenarioArgs& args) {
  auto loaded = load_from_args(args);
  if (!loaded.ok()) {
    print_error(loaded.error().to_string());
    return std::nullopt;
  }
  return std::move(loaded.value());
}

int validate_command(const ScenarioArgs& args) {
  auto scenario = load_or_print(args);
  if (!scenario) return kExitBadInput;
  if (auto plugins = check_plugins(*scenario); !plugins.ok()) {
    print_error(plugins.error().to_string());
    return kExitBadInput;
  }
  std::size_t agents = 0, subtasks = 0;
  bool inbox = false;
  for (const auto& entry : scenario->team) {
    if (entry.brain.kind == "inbox") inbox = true;
    else agents += entry.count;
  }
  for (const auto& goal : scenario->goals) subtasks += goal.subtasks.size();
  std::cout << args.path << ": ok: scenario '" << scenario->name << "', seed " << scenario->seed
            << ", " << agents << " agents" << (inbox ? " + an inbox for a person" : "") << ", "
            << scenario->goals.size() << " goals, " << subtasks << " subtasks\n";
  return kExitOk;
}

namespace {

Result<std::string> file_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error("cannot read the file", path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

bool apply_resume(const std::string& resume_dir, ScenarioArgs& scenario, std::string& out_dir) {
  if (resume_dir.empty()) {
    if (scenario.path.empty()) {
      print_error("give a scenario file (or --resume DIR to continue a run)");
      return false;
    }
    return true;
  }
  if (!scenario.path.empty() || !scenario.sets.empty() || scenario.seed != -1 || !out_dir.empty()) {
    print_error("--resume DIR takes the scenario, --set, --seed and the output folder from "
                "DIR/run.json; give --resume alone");
    return false;
  }
  auto record = read_run_record(resume_dir);
  if (!record.ok()) {
    print_error(record.error().to_string());
    return false;
  }
  // A damaged journal is bad input too: say so before anything starts.
  if (auto resumable = runtime::check_resumable(resume_dir + "/journal.jsonl"); !resumable.ok()) {
    print_error(resumable.error().to_string());
    return false;
  }
  scenario = *record;
  out_dir = resume_dir;
  return true;
}

bool prepare_run_folder(const std::string& out_dir, const std::string& subfolder,
                        const ScenarioArgs& scenario, bool resuming) {
  if (!make_out_dir(out_dir + subfolder)) return false;
  if (resuming) return true;
  if (auto recorded = write_run_record(out_dir, scenario); !recorded.ok()) {
    print_error(recorded.error().to_string());
    return false;
  }
  return true;
}

Status write_run_record(const std::string& dir, const ScenarioArgs& args) {
  auto text = file_text(args.path);
  if (!text.ok()) return text.error();
  std::error_code error;
  const auto absolute = std::filesystem::absolute(args.path, error);
  const nlohmann::json record = {
      {"scenario", error ? args.path : absolute.lexically_normal().string()},
      {"sets", args.sets},
      {"seed", args.seed},
      {"scenario_crc32", runtime::crc32(*text)},
  };
  std::ofstream out(dir + "/run.json");
  out << record.dump(2) << "\n";
  if (!out) return make_error("cannot write run.json", dir);
  return {};
}

Result<ScenarioArgs> read_run_record(const std::string& dir) {
  auto text = file_text(dir + "/run.json");
  if (!text.ok())
    return make_error("no run.json here: not the folder of a run started by `cadre run` or "
                      "`cadre hub`", dir);
  auto record = nlohmann::json::parse(*text, nullptr, false);
  ScenarioArgs args;
  try {
    if (!record.is_object()) throw std::runtime_error("not a JSON object");
    args.path = record.at("scenario").get<std::string>();
    args.sets = record.at("sets").get<std::vector<std::string>>();
    args.seed = record.at("seed").get<long long>();
    const auto crc = record.at("scenario_crc32").get<std::uint32_t>();
    auto scenario_text = file_text(args.path);
    if (!scenario_text.ok())
      return make_error("the run's scenario file " + args.path + " cannot be read", dir + "/run.json");
    if (runtime::crc32(*scenario_text) != crc)
      return make_error("the scenario file " + args.path +
                            " has changed since the run began; a resumed run must replay the same "
                            "work (restore the file, or start a new run)",
                        dir + "/run.json");
  } catch (const std::exception& e) {
    return make_error(std::string("malformed: ") + e.what(), dir + "/run.json");
  }
  return args;
}

}  // namespace cadre::cli
