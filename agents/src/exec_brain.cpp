#include "cadre/agents/exec_brain.h"

#include <charconv>
#include <chrono>
#include <cmath>
#include <csignal>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>

#include "cadre/roles/answers.h"
#include "cadre/subprocess.h"

namespace cadre::agents {
namespace {

using json = nlohmann::json;

const char* const kKnownParams[] = {"command", "timeout_s", "cpu_s", "memory_mb"};

constexpr std::size_t kStderrTail = 500;
constexpr std::size_t kStdoutQuote = 200;
// The answer travels in a RESULT frame of at most 4 MiB; anything much bigger is a broken program.
constexpr std::uint64_t kMaxAnswerBytes = 8 << 20;

std::string known_list() {
  std::string list;
  for (const char* name : kKnownParams) list += (list.empty() ? "" : ", ") + std::string(name);
  return list;
}

std::string_view trim(std::string_view text) {
  const auto space = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
  };
  while (!text.empty() && space(text.front())) text.remove_prefix(1);
  while (!text.empty() && space(text.back())) text.remove_suffix(1);
  return text;
}

// `text` with every byte that is not part of a well-formed UTF-8 sequence replaced by '?', so it
// can travel as a msgpack str and be printed.
std::string clean_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const auto byte = static_cast<unsigned char>(text[i]);
    std::size_t length = 0;
    std::uint32_t min = 0;
    if (byte < 0x80)
      length = 1;
    else if ((byte & 0xE0) == 0xC0)
      length = 2, min = 0x80;
    else if ((byte & 0xF0) == 0xE0)
      length = 3, min = 0x800;
    else if ((byte & 0xF8) == 0xF0)
      length = 4, min = 0x10000;
    bool good = length > 0 && i + length <= text.size();
    std::uint32_t code = length == 1 ? byte : byte & (0x7F >> length);
    for (std::size_t k = 1; good && k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      good = (next & 0xC0) == 0x80;
      code = (code << 6) | (next & 0x3F);
    }
    good = good && code >= min && code <= 0x10FFFF && !(code >= 0xD800 && code <= 0xDFFF);
    if (good) {
      out.append(text.substr(i, length));
      i += length;
    } else {
      out += '?';
      ++i;
    }
  }
  return out;
}

// The last `bytes` bytes of `text`, trimmed, starting on a character boundary, "..." in front
// when cut.
std::string tail(std::string_view text, std::size_t bytes) {
  text = trim(text);
  if (text.size() <= bytes) return clean_utf8(text);
  std::size_t start = text.size() - bytes;
  for (int k = 0;
       k < 3 && start < text.size() && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80;
       ++k) {
    ++start;
  }
  return "..." + clean_utf8(text.substr(start));
}

std::string head(std::string_view text, std::size_t bytes) {
  if (text.size() <= bytes) return clean_utf8(text);
  std::size_t end = bytes;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return clean_utf8(text.substr(0, end)) + "...";
}

Result<double> number_param(const std::map<std::string, std::string>& params,
                            const std::string& key, double fallback, double min,
                            bool min_exclusive) {
  auto it = params.find(key);
  if (it == params.end()) return fallback;
  const std::string_view text = trim(it->second);
  double value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  const bool in_range = min_exclusive ? value > min : value >= min;
  if (text.empty() || error != std::errc() || end != text.data() + text.size() ||
      !std::isfinite(value) || !in_range) {
    return make_error("exec brain parameter '" + key + "': expected a number " +
                      (min_exclusive ? "> " : ">= ") + (min == 0 ? "0" : std::to_string(min)) +
                      ", got '" + it->second + "'");
  }
  return value;
}

Result<std::vector<std::string>> command_param(const std::map<std::string, std::string>& params) {
  auto it = params.find("command");
  if (it == params.end())
    return make_error("an exec brain needs 'command' (a list: [program, arg, ...])");
  const std::string_view text = trim(it->second);
  std::vector<std::string> command;
  if (!text.empty() && text.front() == '[') {
    json list;
    try {
      list = json::parse(text);
    } catch (const json::exception& e) {
      return make_error("exec brain parameter 'command': not a valid JSON list of strings: " +
                        std::string(e.what()));
    }
    if (!list.is_array())
      return make_error("exec brain parameter 'command': expected a list of strings");
    for (std::size_t i = 0; i < list.size(); ++i) {
      if (!list[i].is_string())
        return make_error("exec brain parameter 'command': item " + std::to_string(i) +
                          " is not a string");
      command.push_back(list[i].get<std::string>());
    }
  } else {
    std::istringstream words{std::string(text)};
    for (std::string word; words >> word;) command.push_back(word);
  }
  if (command.empty() || command.front().empty())
    return make_error("exec brain parameter 'command': must name a program to run");
  return command;
}

std::string command_label(const std::vector<std::string>& command) {
  std::string label;
  for (const auto& part : command) {
    if (!label.empty()) label += ' ';
    label += part;
  }
  return head(label, 120);
}

json subtask_json(const roles::SubtaskPlan& s) {
  return json{{"id", s.id},
              {"title", s.title},
              {"instructions", s.instructions},
              {"difficulty", s.difficulty},
              {"depends_on", s.depends_on}};
}

json files_json(const std::vector<roles::FileEdit>& files) {
  json list = json::array();
  for (const auto& f : files) list.push_back(json{{"path", f.path}, {"content", f.content}});
  return list;
}

// A "why" for a value of the wrong type.
std::string type_of(const json& value) {
  if (value.is_null()) return "null";
  if (value.is_boolean()) return "a boolean";
  if (value.is_number()) return "a number";
  if (value.is_string()) return "a string";
  if (value.is_array()) return "a list";
  return "an object";
}

Status read_tokens(const json& root, const char* key, std::uint64_t& into) {
  const auto it = root.find(key);
  if (it == root.end() || it->is_null()) return Status::Ok();
  if (it->is_number_unsigned()) {
    into = it->get<std::uint64_t>();
    return Status::Ok();
  }
  if (it->is_number_float()) {
    const double v = it->get<double>();
    if (v >= 0 && v < 1.8e19 && std::floor(v) == v) {
      into = static_cast<std::uint64_t>(v);
      return Status::Ok();
    }
  }
  return make_error(std::string("\"") + key + "\" must be a whole number >= 0, got " +
                    (it->is_number() ? it->dump() : type_of(*it)));
}

// The nlohmann error text without its "[json.exception.parse_error.101] " prefix.
std::string parse_message(const json::exception& e) {
  std::string text = e.what();
  if (auto close = text.find("] "); text.rfind("[json.exception", 0) == 0 && close != text.npos)
    text = text.substr(close + 2);
  return text;
}

Status read_plan(const json& root, roles::TaskOutcome& outcome) {
  const auto plan = root.find("plan");
  if (plan == root.end() || plan->is_null())
    return make_error("the answer to a plan task has no \"plan\" (a list of subtasks)");
  if (!plan->is_array()) return make_error("\"plan\" must be a list, got " + type_of(*plan));
  // The planner's rules (ids, dependencies, difficulty range) are the roles layer's: reuse them.
  auto parsed = roles::parse_plan_answer(
      json{{"subtasks", *plan}}.dump(-1, ' ', false, json::error_handler_t::replace));
  if (!parsed.ok()) {
    std::string message = parsed.error().to_string();
    if (message.rfind("subtasks", 0) == 0) message = "plan" + message.substr(8);
    return make_error(message);
  }
  outcome.plan = std::move(parsed.value());
  return Status::Ok();
}

Status read_candidate(const json& root, roles::TaskKind kind, roles::TaskOutcome& outcome) {
  const auto candidate = root.find("candidate");
  if (candidate == root.end() || candidate->is_null())
    return make_error(std::string("the answer to a ") + roles::task_kind_name(kind) +
                      " task has no \"candidate\" (an object with \"content\")");
  if (!candidate->is_object())
    return make_error("\"candidate\" must be an object, got " + type_of(*candidate));
  std::string content;
  const auto text = candidate->find("content");
  if (text != candidate->end() && !text->is_null()) {
    if (!text->is_string())
      return make_error("candidate.content must be a string, got " + type_of(*text));
    content = text->get<std::string>();
  }
  const auto files = candidate->find("files");
  if (files == candidate->end() || files->is_null() || (files->is_array() && files->empty())) {
    if (text == candidate->end() || text->is_null())
      return make_error("candidate has no \"content\" (a string)");
    outcome.candidate = roles::Candidate{std::move(content), std::nullopt, {}};
    return Status::Ok();
  }
  // Files: the coder's rules (paths that stay in the workspace, sizes) are the roles layer's.
  auto parsed = roles::parse_coder_answer(json{{"files", *files}, {"notes", content}}.dump(
      -1, ' ', false, json::error_handler_t::replace));
  if (!parsed.ok()) return make_error("candidate." + parsed.error().to_string());
  outcome.candidate = std::move(parsed.value());
  return Status::Ok();
}

Status read_verdict(const json& root, roles::TaskOutcome& outcome) {
  const auto verdict = root.find("verdict");
  if (verdict == root.end() || verdict->is_null())
    return make_error("the answer to a review task has no \"verdict\" (an object with \"accept\")");
  if (!verdict->is_object())
    return make_error("\"verdict\" must be an object, got " + type_of(*verdict));
  auto parsed =
      roles::parse_critic_answer(verdict->dump(-1, ' ', false, json::error_handler_t::replace));
  if (!parsed.ok()) {
    const std::string message = parsed.error().to_string();
    const std::string answer_has = "the answer has";
    if (message.rfind(answer_has, 0) == 0)
      return make_error("verdict has" + message.substr(answer_has.size()));
    return make_error("verdict." + message);
  }
  outcome.verdict = parsed.value();
  return Status::Ok();
}

}  // namespace

Result<ExecBrainParams> parse_exec_params(const std::map<std::string, std::string>& params) {
  for (const auto& [key, value] : params) {
    bool known = false;
    for (const char* name : kKnownParams) known = known || key == name;
    if (!known)
      return make_error("unknown brain parameter '" + key +
                        "' for brain 'exec' (known: " + known_list() + ")");
  }
  ExecBrainParams out;
  auto command = command_param(params);
  if (!command.ok()) return command.error();
  out.command = std::move(command.value());
  auto timeout = number_param(params, "timeout_s", 60, 0, true);
  if (!timeout.ok()) return timeout.error();
  out.timeout_s = *timeout;
  auto cpu = number_param(params, "cpu_s", 0, 0, false);
  if (!cpu.ok()) return cpu.error();
  out.cpu_s = *cpu;
  if (auto it = params.find("memory_mb"); it != params.end()) {
    const std::string_view text = trim(it->second);
    std::uint64_t mb = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), mb);
    if (text.empty() || error != std::errc() || end != text.data() + text.size() ||
        mb > (std::uint64_t{1} << 40)) {
      return make_error("exec brain parameter 'memory_mb': expected a whole number >= 0, got '" +
                        it->second + "'");
    }
    out.memory_mb = mb;
  }
  return out;
}

std::string exec_task_json(const roles::TaskAssignment& task) {
  json doc{{"goal_id", task.goal_id},
           {"task_id", task.task_id},
           {"attempt", task.attempt},
           {"kind", roles::task_kind_name(task.kind)},
           {"kind_id", static_cast<int>(task.kind)},
           {"role", task.role},
           {"seed", task.seed},
           {"revision", task.revision},
           {"difficulty", task.difficulty},
           {"goal_title", task.goal_title},
           {"instructions", task.instructions},
           {"goal_subtasks", json::array()},
           {"feedback", task.feedback},
           {"lease_ms", task.lease_ms},
           {"workspace_files", files_json(task.workspace_files)}};
  for (const auto& s : task.goal_subtasks) doc["goal_subtasks"].push_back(subtask_json(s));
  if (task.candidate) {
    json candidate{{"content", task.candidate->content}};
    if (task.candidate->sim_correct) candidate["sim_correct"] = *task.candidate->sim_correct;
    if (!task.candidate->files.empty()) candidate["files"] = files_json(task.candidate->files);
    doc["candidate"] = std::move(candidate);
  }
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

Status read_exec_answer(const roles::TaskAssignment& task, std::string_view text,
                        roles::TaskOutcome& outcome) {
  const std::string_view body = trim(text);
  if (body.empty()) return make_error("printed nothing on stdout; expected one JSON object");
  json root;
  try {
    root = json::parse(body);
  } catch (const json::exception& e) {
    return make_error("stdout is not valid JSON (" + parse_message(e) + "); it began: '" +
                      head(body, kStdoutQuote) + "'");
  }
  if (!root.is_object()) return make_error("stdout must be one JSON object, got " + type_of(root));
  if (auto st = read_tokens(root, "tokens_in", outcome.tokens_in); !st.ok()) return st;
  if (auto st = read_tokens(root, "tokens_out", outcome.tokens_out); !st.ok()) return st;
  bool ok = true;
  if (const auto it = root.find("ok"); it != root.end() && !it->is_null()) {
    if (!it->is_boolean()) return make_error("\"ok\" must be true or false, got " + type_of(*it));
    ok = it->get<bool>();
  }
  std::string error;
  if (const auto it = root.find("error"); it != root.end() && !it->is_null()) {
    if (!it->is_string()) return make_error("\"error\" must be a string, got " + type_of(*it));
    error = it->get<std::string>();
  }
  if (!ok) {
    outcome.ok = false;
    outcome.error = error.empty() ? "the program answered ok: false without an error" : error;
    return Status::Ok();
  }
  switch (task.kind) {
    case roles::TaskKind::plan:
      return read_plan(root, outcome);
    case roles::TaskKind::solve:
    case roles::TaskKind::resolve:
      return read_candidate(root, task.kind, outcome);
    case roles::TaskKind::review:
    case roles::TaskKind::approve:
      return read_verdict(root, outcome);
  }
  return make_error("unknown task kind " + std::to_string(static_cast<int>(task.kind)));
}

ExecBrain::ExecBrain(std::string role, std::string model, ExecBrainParams params)
    : role_(std::move(role)),
      model_(std::move(model)),
      params_(std::move(params)),
      label_(command_label(params_.command)) {}

Result<std::unique_ptr<ExecBrain>> ExecBrain::create(
    const std::string& role, const std::string& model,
    const std::map<std::string, std::string>& params) {
  auto parsed = parse_exec_params(params);
  if (!parsed.ok()) return parsed.error();
  return std::make_unique<ExecBrain>(role, model, std::move(parsed.value()));
}

BrainAnswer ExecBrain::answer(const roles::TaskAssignment& task) {
  const std::atomic<bool> never{false};
  return answer(task, never);
}

BrainAnswer ExecBrain::answer(const roles::TaskAssignment& task,
                              const std::atomic<bool>& cancelled) {
  const auto started = std::chrono::steady_clock::now();
  const auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  };
  BrainAnswer answer{roles::outcome_for(task, model_)};
  roles::TaskOutcome& outcome = answer.outcome;
  const auto fail = [&](std::string why) {
    outcome.ok = false;
    outcome.error = "exec brain '" + label_ + "': " + std::move(why);
    outcome.plan.clear();
    outcome.candidate.reset();
    outcome.verdict.reset();
  };
  try {
    SubprocessLimits limits;
    limits.timeout_s = params_.timeout_s;
    limits.cpu_s = params_.cpu_s;
    limits.memory_mb = params_.memory_mb;
    limits.max_output_bytes = kMaxAnswerBytes;
    limits.cancel = &cancelled;
    auto run = run_subprocess(params_.command, exec_task_json(task), limits, {},
                              {{"CADRE_ROLE", role_}, {"CADRE_MODEL", model_}});
    if (run.ok() && run->cancelled) return cancelled_answer(task, model_, elapsed());
    if (!run.ok()) {
      fail(run.error().to_string());
    } else {
      const SubprocessResult& r = *run;
      const std::string stderr_tail = tail(r.stderr_text, kStderrTail);
      const std::string with_stderr =
          stderr_tail.empty() ? std::string() : "; stderr: " + stderr_tail;
      const bool clean_exit = !r.timed_out && r.term_signal == 0 && r.exit_code == 0;
      if (!clean_exit) {
        // Keep the tokens it reported, if it printed an answer before failing.
        roles::TaskOutcome partial;
        (void)read_exec_answer(task, r.stdout_text, partial);
        outcome.tokens_in = partial.tokens_in;
        outcome.tokens_out = partial.tokens_out;
        std::string why = r.describe();
        const int sig = r.term_signal;
        if (!r.timed_out && params_.memory_mb > 0 &&
            (sig == SIGKILL || sig == SIGSEGV || sig == SIGABRT || sig == SIGBUS)) {
          why +=
              " (it may have hit its memory limit of " + std::to_string(params_.memory_mb) + " MB)";
        }
        fail(why + (partial.ok || partial.error.empty() ? "" : ": " + partial.error) + with_stderr);
      } else if (r.output_truncated && r.stdout_text.size() >= kMaxAnswerBytes) {
        fail("printed more than " + std::to_string(kMaxAnswerBytes) + " bytes on stdout" +
             with_stderr);
      } else if (auto read = read_exec_answer(task, r.stdout_text, outcome); !read.ok()) {
        fail(read.error().to_string() + with_stderr);
      } else if (!outcome.ok) {
        fail(clean_utf8(outcome.error));  // the program's own words, said to come from it
      }
    }
  } catch (const std::exception& e) {  // bad_alloc and the like: still an outcome, never a throw
    fail(std::string("internal error: ") + e.what());
  } catch (...) {
    fail("internal error");
  }
  outcome.brain_s = elapsed();
  answer.delay_s = 0;
  return answer;
}

}  // namespace cadre::agents
