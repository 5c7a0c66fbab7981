#include "hub_tools.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <variant>

#include "cadre/roles/messages.h"
#include "cadre/transport/endpoint.h"
#include "cadre/transport/envelope.h"
#include "security_args.h"

namespace cadre::cli {
namespace {

using nlohmann::json;
using transport::MessageKind;

// A failure to talk to the hub (exit 1) or a refusal of what was asked (exit 2).
struct ToolError {
  std::string message;
  int exit_code = kExitFailure;
};

// `--hub` names an endpoint, or a run folder whose hub.endpoint holds one.
Result<std::string> hub_endpoint(const std::string& hub) {
  if (hub.find("://") != std::string::npos) return hub;
  std::error_code ec;
  if (std::filesystem::is_directory(hub, ec)) {
    std::ifstream in(hub + "/hub.endpoint");
    std::string endpoint;
    if (!(in >> endpoint) || endpoint.empty())
      return make_error("no hub.endpoint in this folder (is it a running `cadre run`'s output?)",
                        hub);
    return endpoint;
  }
  return make_error("not an endpoint (tcp://HOST:PORT, ipc://PATH) nor a run folder", hub);
}

std::string tool_identity() {
  char host[256] = {0};
  if (::gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "host");
  return std::string("tool-") + host + "-" + std::to_string(::getpid());
}

// Sends one request and waits for its VIEW; an ERROR from the hub is a refusal (exit 2).
std::variant<std::string, ToolError> ask(const ToolArgs& args, MessageKind kind,
                                         std::string body) {
  auto endpoint = hub_endpoint(args.hub);
  if (!endpoint.ok()) return ToolError{endpoint.error().to_string(), kExitBadInput};
  auto security = agent_security(args.keys);
  if (!security.ok()) return ToolError{security.error().to_string(), kExitBadInput};
  const std::string identity = tool_identity();
  auto dealer = transport::DealerEndpoint::connect(*endpoint, identity,
                                                   security->has_value() ? &**security : nullptr);
  if (!dealer.ok()) return ToolError{dealer.error().to_string(), kExitBadInput};

  transport::Envelope request;
  request.kind = kind;
  request.msg_id = 1;
  request.sender = identity;
  request.body = std::move(body);
  if (!(*dealer)->send(transport::encode_envelope(request)))
    return ToolError{"cannot send to the hub at " + *endpoint};
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<long long>(args.timeout_s * 1000));
  while (std::chrono::steady_clock::now() < deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    auto frame = (*dealer)->receive(std::max(left, std::chrono::milliseconds(1)));
    if (!frame) continue;
    auto reply = transport::decode_envelope(*frame);
    if (!reply.ok()) continue;
    const transport::Envelope& envelope = reply.envelope();
    if (envelope.kind == MessageKind::view) {
      auto view = roles::decode_view(envelope.body);
      if (!view.ok()) return ToolError{"the hub's answer is malformed: " + view.error().to_string()};
      return view->json;
    }
    if (envelope.kind == MessageKind::error) {
      auto error = roles::decode_error(envelope.body);
      return ToolError{error.ok() ? error->message : "the hub refused the request",
                       kExitBadInput};
    }
  }
  char waited[32];
  std::snprintf(waited, sizeof waited, "%g", args.timeout_s);
  return ToolError{"no answer from the hub at " + *endpoint + " within " + waited +
                   " s (is it running? with CURVE keys: is this tool's key on its allow list?)"};
}

std::variant<json, ToolError> ask_json(const ToolArgs& args, MessageKind kind, std::string body) {
  auto answer = ask(args, kind, std::move(body));
  if (auto* error = std::get_if<ToolError>(&answer)) return *error;
  json document = json::parse(std::get<std::string>(answer), nullptr, false);
  if (document.is_discarded() || !document.is_object())
    return ToolError{"the hub's view is not a JSON object"};
  return document;
}

int fail(const ToolError& error) {
  print_error(error.message);
  return error.exit_code;
}

std::string number(double value, const char* format = "%.1f") {
  char text[48];
  std::snprintf(text, sizeof text, format, value);
  return text;
}

std::string first_lines(const std::string& text, std::size_t max_lines, const std::string& indent) {
  std::istringstream in(text);
  std::string line, out;
  std::size_t n = 0;
  while (std::getline(in, line)) {
    if (n == max_lines) {
      out += indent + "...\n";
      break;
    }
    out += indent + line + "\n";
    ++n;
  }
  return out;
}

void print_status(const json& view) {
  const json& goals = view.at("goals");
  const std::uint64_t total = goals.value("total", 0ull), open = goals.value("open", 0ull);
  std::cout << "  " << view.value("scenario", "") << ": "
            << (view.value("finished", false) ? "finished (" + view.value("finish_reason", "") + ")"
                                              : std::string("running"))
            << ", " << number(view.value("elapsed_s", 0.0)) << " s\n";
  std::cout << "  goals    " << (total - open) << " of " << total << " ended: "
            << goals.value("resolved", 0) << " resolved, " << goals.value("escalated", 0)
            << " escalated, " << goals.value("failed", 0) << " failed; " << open << " open";
  if (goals.value("awaiting_approval", 0) > 0)
    std::cout << " (" << goals.value("awaiting_approval", 0) << " awaiting approval)";
  if (goals.value("subtasks_with_a_human", 0) > 0)
    std::cout << " (" << goals.value("subtasks_with_a_human", 0) << " subtasks with a human)";
  std::cout << "\n";
  const json& tasks = view.at("tasks");
  std::cout << "  tasks    " << tasks.value("queued", 0) << " queued, " << tasks.value("running", 0)
            << " running, " << tasks.value("completed", 0) << " completed, "
            << tasks.value("requeued", 0) << " requeued\n";
  const json& cost = view.at("cost");
  std::cout << "  cost     $" << number(cost.value("usd", 0.0), "%.4f") << " ("
            << cost.value("tokens_in", 0) << " tokens in, " << cost.value("tokens_out", 0)
            << " out)\n\n";
  char line[256];
  std::snprintf(line, sizeof line, "  %-24s %-9s %-5s %-10s %s\n", "agent", "role", "state",
                "heartbeat", "current tasks");
  std::cout << line;
  for (const auto& agent : view.at("agents")) {
    std::string heartbeat = agent.value("person", false) ? "person"
                            : agent.at("heartbeat_age_s").is_null()
                                ? "-"
                                : number(agent.at("heartbeat_age_s").get<double>(), "%.2f s");
    std::string tasks_text;
    std::size_t shown = 0;
    for (const auto& key : agent.at("tasks")) {
      if (shown++ == 4) {
        tasks_text += " +" + std::to_string(agent.at("tasks").size() - 4) + " more";
        break;
      }
      tasks_text += (tasks_text.empty() ? "" : ", ") + key.get<std::string>();
    }
    std::snprintf(line, sizeof line, "  %-24s %-9s %-5s %-10s %s\n",
                  agent.value("id", "").c_str(), agent.value("role", "").c_str(),
                  agent.value("state", "").c_str(), heartbeat.c_str(),
                  tasks_text.empty() ? "-" : tasks_text.c_str());
    std::cout << line;
  }
}

void print_item(const json& item, std::size_t index, const std::string& hub) {
  const std::string goal = item.value("goal", "");
  const std::string kind = item.value("kind", "");
  std::cout << "  [" << index << "] " << goal << " \"" << item.value("goal_title", "") << "\" — "
            << (kind == "approve" ? std::string("awaits approval")
                                  : "subtask " + item.at("subtask").value("id", "") +
                                        " escalated to a person")
            << " (item " << item.value("item", "") << ", waiting "
            << number(item.value("waiting_s", 0.0)) << " s)\n";
  if (kind == "resolve") {
    const json& subtask = item.at("subtask");
    std::cout << "      subtask: " << subtask.value("title", "") << " ("
              << subtask.value("rounds", 0) << " rounds)\n";
    if (!subtask.value("instructions", "").empty() &&
        subtask.value("instructions", "") != subtask.value("title", ""))
      std::cout << first_lines(subtask.value("instructions", ""), 4, "        ");
    for (const auto& feedback : item.value("feedback", json::array()))
      std::cout << "      critic said: " << feedback.get<std::string>() << "\n";
  } else {
    std::cout << "      subtasks:";
    for (const auto& subtask : item.value("subtasks", json::array()))
      std::cout << " " << subtask.value("id", "") << " (" << subtask.value("by", "") << ")";
    std::cout << "; cost so far $" << number(item.value("cost_usd", 0.0), "%.4f") << "\n";
  }
  for (const auto& candidate : item.at("candidates")) {
    std::cout << "      candidate " << candidate.value("id", "");
    if (candidate.contains("critic")) {
      const json& critic = candidate.at("critic");
      std::cout << ": critic " << (critic.value("accept", false) ? "accepted" : "rejected")
                << " (score " << number(critic.value("score", 0.0), "%.2f") << ")";
      if (!critic.value("feedback", "").empty())
        std::cout << " \"" << critic.value("feedback", "") << "\"";
    }
    if (candidate.contains("verified"))
      std::cout << (candidate.value("verified", false) ? "; tests passed" : "; tests failed");
    std::cout << "\n" << first_lines(candidate.value("content", ""), 6, "        | ");
    for (const auto& file : candidate.value("files", json::array()))
      std::cout << "        file " << file.value("path", "") << " (" << file.value("bytes", 0)
                << " bytes)\n";
  }
  std::cout << "      decide: cadre inbox --hub " << hub << " --resolve " << goal
            << (kind == "resolve" ? " --item " + item.value("item", "") : std::string())
            << " --accept " << (kind == "approve" ? "team" : "CANDIDATE")
            << " | --answer TEXT | --reject [REASON]\n";
}

std::string default_person() {
  const char* user = std::getenv("USER");
  return user != nullptr && *user != '\0' ? user : "";
}

int decide(const InboxArgs& args, roles::Decision decision) {
  if (decision.by.empty()) decision.by = default_person();
  auto answer = ask_json(args.tool, MessageKind::decide, roles::encode(decision));
  if (auto* error = std::get_if<ToolError>(&answer)) return fail(*error);
  const json& result = std::get<json>(answer);
  if (args.tool.json) {
    std::cout << result.dump() << "\n";
  } else {
    std::cout << "  " << result.value("goal", "") << " " << result.value("item", "") << ": "
              << result.value("action", "") << " taken; the goal is now "
              << result.value("goal_outcome", "") << "\n";
  }
  return kExitOk;
}

// On a terminal: pick an item and a decision, one line each.
int prompt_decision(const InboxArgs& args, const json& items) {
  std::cout << "\n  decide which item? [1-" << items.size() << ", empty to quit] " << std::flush;
  std::string line;
  if (!std::getline(std::cin, line) || line.empty()) return kExitOk;
  std::size_t index = 0;
  try {
    index = std::stoul(line);
  } catch (...) {
    index = 0;
  }
  if (index < 1 || index > items.size()) {
    print_error("no item " + line);
    return kExitBadInput;
  }
  const json& item = items.at(index - 1);
  std::cout << "  accept CANDIDATE | answer TEXT | reject [REASON]: " << std::flush;
  if (!std::getline(std::cin, line) || line.empty()) return kExitOk;
  const auto space = line.find(' ');
  const std::string verb = line.substr(0, space);
  const std::string rest = space == std::string::npos ? "" : line.substr(space + 1);
  roles::Decision decision;
  decision.goal_id = item.value("goal", "");
  decision.item = item.value("item", "");
  decision.action = verb;
  if (verb == "accept") decision.candidate = rest;
  else if (verb == "answer") decision.answer = rest;
  else if (verb == "reject") decision.reason = rest;
  else {
    print_error("say accept, answer or reject");
    return kExitBadInput;
  }
  decision.by = args.by;
  return decide(args, std::move(decision));
}

}  // namespace

int status_command(const ToolArgs& args) {
  auto answer = ask_json(args, MessageKind::query, roles::encode(roles::Query{"status"}));
  if (auto* error = std::get_if<ToolError>(&answer)) return fail(*error);
  const json& view = std::get<json>(answer);
  if (args.json) {
    std::cout << view.dump(2) << "\n";
    return kExitOk;
  }
  try {
    print_status(view);
  } catch (const json::exception& e) {
    return fail(ToolError{std::string("the hub's status view lacks a field: ") + e.what()});
  }
  return kExitOk;
}

int inbox_command(const InboxArgs& args) {
  const int actions = (!args.accept.empty() ? 1 : 0) + (!args.answer.empty() ? 1 : 0) +
                      (args.reject ? 1 : 0);
  if (!args.resolve_goal.empty()) {
    if (actions != 1) {
      print_error("--resolve GOAL needs exactly one of --accept CANDIDATE, --answer TEXT, "
                  "--reject [REASON]");
      return kExitBadInput;
    }
    roles::Decision decision;
    decision.goal_id = args.resolve_goal;
    decision.item = args.item;
    decision.action = !args.accept.empty() ? "accept" : !args.answer.empty() ? "answer" : "reject";
    decision.candidate = args.accept;
    decision.answer = args.answer;
    decision.reason = args.reason;
    decision.by = args.by;
    return decide(args, std::move(decision));
  }
  if (actions > 0 || !args.item.empty()) {
    print_error("--accept, --answer, --reject and --item go with --resolve GOAL");
    return kExitBadInput;
  }
  auto answer = ask_json(args.tool, MessageKind::query, roles::encode(roles::Query{"inbox"}));
  if (auto* error = std::get_if<ToolError>(&answer)) return fail(*error);
  const json& view = std::get<json>(answer);
  if (args.tool.json) {
    std::cout << view.dump(2) << "\n";
    return kExitOk;
  }
  try {
    const json& items = view.at("items");
    if (!view.value("has_inbox", false)) {
      std::cout << "  this team has no inbox: its human is an agent (a person answers here when "
                   "the scenario's human has brain: {kind: inbox})\n";
      return kExitOk;
    }
    if (items.empty()) {
      std::cout << "  nothing waits for a person"
                << (view.value("finished", false) ? " (the run has finished)" : "") << "\n";
      return kExitOk;
    }
    std::cout << "  " << items.size() << (items.size() == 1 ? " item waits" : " items wait")
              << " for a person:\n\n";
    for (std::size_t i = 0; i < items.size(); ++i) print_item(items[i], i + 1, args.tool.hub);
    if (!args.no_prompt && ::isatty(STDIN_FILENO) && ::isatty(STDOUT_FILENO))
      return prompt_decision(args, items);
  } catch (const json::exception& e) {
    return fail(ToolError{std::string("the hub's inbox view lacks a field: ") + e.what()});
  }
  return kExitOk;
}

}  // namespace cadre::cli
