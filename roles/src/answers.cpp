// Parsing model replies into plans, candidates and verdicts. See answers.h for the contract.
#include "cadre/roles/answers.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "cadre/roles/workspace.h"

namespace cadre::roles {

namespace {

using json = nlohmann::json;

constexpr std::size_t kMaxReplyBytes = 8 * 1024 * 1024;
constexpr int kMaxBraceTries = 16;

std::string_view trim(std::string_view s) {
  auto space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Reasoning models may open with <think>...</think>; braces in there are not the answer.
std::string_view strip_think(std::string_view reply) {
  std::string_view t = trim(reply);
  if (t.substr(0, 7) == "<think>") {
    const std::size_t end = t.find("</think>");
    if (end != std::string_view::npos) return t.substr(end + 8);
  }
  return reply;
}

// Parses `text` as one JSON value (comments allowed). On failure sets `error` and returns nullopt.
std::optional<json> parse_json(std::string_view text, std::string& error) {
  try {
    return json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/true,
                       /*ignore_comments=*/true);
  } catch (const json::exception& e) {
    std::string what = e.what();
    // "[json.exception.parse_error.101] parse error at ..." -> "parse error at ..."
    if (!what.empty() && what.front() == '[') {
      const std::size_t close = what.find("] ");
      if (close != std::string::npos) what = what.substr(close + 2);
    }
    error = what;
    return std::nullopt;
  }
}

struct Fence {
  std::string info;  // lower-cased first word of the info string
  std::string_view body;
};

// Fenced blocks whose opening and closing ``` start a line (after optional blanks). A JSON string
// cannot hold a raw newline, so a closing fence at a line start cannot be inside the JSON.
std::vector<Fence> fenced_blocks(std::string_view text) {
  std::vector<Fence> out;
  auto at_line_start = [&](std::size_t pos) {
    std::size_t i = pos;
    while (i > 0 && (text[i - 1] == ' ' || text[i - 1] == '\t')) --i;
    return i == 0 || text[i - 1] == '\n';
  };
  std::size_t pos = 0;
  while ((pos = text.find("```", pos)) != std::string_view::npos) {
    if (!at_line_start(pos)) {
      pos += 3;
      continue;
    }
    const std::size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) break;
    std::string_view info = trim(text.substr(pos + 3, eol - pos - 3));
    while (!info.empty() && info.front() == '`') info.remove_prefix(1);
    const std::size_t word_end = info.find_first_of(" \t");
    Fence fence{lower(info.substr(0, word_end)), {}};
    std::size_t close = eol;
    bool closed = false;
    while ((close = text.find("```", close)) != std::string_view::npos) {
      if (at_line_start(close)) {
        closed = true;
        break;
      }
      close += 3;
    }
    fence.body = text.substr(eol + 1, (closed ? close : text.size()) - eol - 1);
    out.push_back(fence);
    if (!closed) break;
    pos = close + 3;
  }
  return out;
}

// From the '{' at `open`, the index just past its matching '}' (strings respected), or npos.
std::size_t matching_brace(std::string_view text, std::size_t open) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (std::size_t i = open; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{') {
      ++depth;
    } else if (c == '}') {
      if (--depth == 0) return i + 1;
    }
  }
  return std::string_view::npos;
}

struct Found {
  std::string text;
  json value;
};

Result<Found> find_object(std::string_view reply) {
  if (reply.size() > kMaxReplyBytes) {
    return make_error("reply is " + std::to_string(reply.size()) + " bytes, over the limit of " +
                      std::to_string(kMaxReplyBytes));
  }
  const std::string_view text = strip_think(reply);
  const std::string_view whole = trim(text);
  if (whole.empty()) return make_error("reply is empty; expected a JSON object");

  std::string first_error;  // of the most plausible candidate
  auto try_text = [&](std::string_view candidate) -> std::optional<Found> {
    candidate = trim(candidate);
    std::string error;
    auto value = parse_json(candidate, error);
    if (value && value->is_object()) return Found{std::string(candidate), std::move(*value)};
    if (first_error.empty()) {
      first_error = value ? "the JSON is not an object" : error;
    }
    return std::nullopt;
  };

  // 1. The whole reply.
  if (whole.front() == '{') {
    if (auto f = try_text(whole)) return std::move(*f);
  }
  // 2. Fenced blocks: ```json first, then any other.
  const std::vector<Fence> fences = fenced_blocks(text);
  for (const Fence& fence : fences) {
    if (fence.info != "json" && fence.info != "jsonc") continue;
    if (auto f = try_text(fence.body)) return std::move(*f);
  }
  for (const Fence& fence : fences) {
    if (fence.info == "json" || fence.info == "jsonc") continue;
    if (trim(fence.body).substr(0, 1) != "{") continue;
    if (auto f = try_text(fence.body)) return std::move(*f);
  }
  // 3. The outermost {...}: first '{' to last '}'.
  const std::size_t first = text.find('{');
  const std::size_t last = text.rfind('}');
  if (first == std::string_view::npos || last == std::string_view::npos || last < first) {
    return make_error("reply holds no JSON object");
  }
  if (auto f = try_text(text.substr(first, last - first + 1))) return std::move(*f);
  // 4. Balanced objects, from each '{' in turn (prose with stray braces around the answer).
  std::size_t open = first;
  for (int tries = 0; tries < kMaxBraceTries && open != std::string_view::npos; ++tries) {
    const std::size_t end = matching_brace(text, open);
    if (end != std::string_view::npos) {
      if (auto f = try_text(text.substr(open, end - open))) return std::move(*f);
    }
    open = text.find('{', open + 1);
  }
  return make_error("the JSON object in the reply does not parse: " + first_error);
}

const char* type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::object: return "an object";
    case json::value_t::array: return "a list";
    case json::value_t::string: return "a string";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float: return "a number";
    default: return "an unknown value";
  }
}

Error wrong_type(const std::string& field, const char* expected, const json& got) {
  return make_error(field + ": expected " + expected + ", got " + type_name(got));
}

// An optional string member: absent or null leaves `out` empty.
std::optional<Error> read_string(const json& obj, const char* key, const std::string& field,
                                 std::string& out, bool required = false) {
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    if (required) return make_error(field + " is missing");
    return std::nullopt;
  }
  if (!it->is_string()) return wrong_type(field, "a string", *it);
  out = it->get<std::string>();
  return std::nullopt;
}

// An optional number in [0, 1]: absent or null leaves `out` untouched.
std::optional<Error> read_unit(const json& obj, const char* key, const std::string& field,
                               double& out) {
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::nullopt;
  if (!it->is_number()) return wrong_type(field, "a number in [0, 1]", *it);
  const double v = it->get<double>();
  if (!(v >= 0.0 && v <= 1.0)) {
    return make_error(field + ": " + it->dump() + " is outside [0, 1]");
  }
  out = v;
  return std::nullopt;
}

std::optional<Error> check_subtask_id(const std::string& id, const std::string& field) {
  if (id.empty()) return make_error(field + " is empty");
  const std::string quoted = "'" + (id.size() > 80 ? id.substr(0, 80) + "..." : id) + "'";
  if (id.size() > kMaxSubtaskIdBytes) {
    return make_error(field + " " + quoted + " is longer than " +
                      std::to_string(kMaxSubtaskIdBytes) + " bytes");
  }
  if (id.find('/') != std::string::npos) {
    return make_error(field + " " + quoted + " must not contain '/'");
  }
  for (char c : id) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return make_error(field + " must not hold control characters");
  }
  if (id == "plan") return make_error(field + " 'plan' is reserved (it names the plan task)");
  return std::nullopt;
}

// Finds a dependency cycle; returns it as "a -> b -> a", or empty when there is none.
std::string find_cycle(const std::vector<SubtaskPlan>& plan) {
  std::map<std::string, const SubtaskPlan*> by_id;
  for (const auto& s : plan) by_id[s.id] = &s;
  enum class Mark { none, active, done };
  std::map<std::string, Mark> mark;
  std::vector<std::string> stack;
  std::string cycle;

  // Recursion depth is bounded by kMaxPlanSubtasks.
  auto visit = [&](auto&& self, const std::string& id) -> bool {
    mark[id] = Mark::active;
    stack.push_back(id);
    for (const std::string& dep : by_id[id]->depends_on) {
      const Mark m = mark[dep];
      if (m == Mark::active) {
        auto from = std::find(stack.begin(), stack.end(), dep);
        for (auto it = from; it != stack.end(); ++it) cycle += *it + " -> ";
        cycle += dep;
        return true;
      }
      if (m == Mark::none && self(self, dep)) return true;
    }
    stack.pop_back();
    mark[id] = Mark::done;
    return false;
  };
  for (const auto& s : plan) {
    if (mark[s.id] == Mark::none && visit(visit, s.id)) return cycle;
  }
  return {};
}

std::string plural(std::size_t n, const char* word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

}  // namespace

Result<std::string> extract_json_object(std::string_view reply) {
  auto found = find_object(reply);
  if (!found.ok()) return found.error();
  return std::move(found->text);
}

Result<std::vector<SubtaskPlan>> parse_plan_answer(std::string_view reply) {
  auto found = find_object(reply);
  if (!found.ok()) return found.error();
  const json& root = found->value;
  const auto list = root.find("subtasks");
  if (list == root.end()) return make_error("the answer has no \"subtasks\" list");
  if (!list->is_array()) return wrong_type("subtasks", "a list", *list);
  if (list->empty()) return make_error("subtasks: the list is empty; a plan needs at least one");
  if (list->size() > kMaxPlanSubtasks) {
    return make_error("subtasks: " + std::to_string(list->size()) + " subtasks, over the limit of " +
                      std::to_string(kMaxPlanSubtasks));
  }

  std::vector<SubtaskPlan> plan;
  std::set<std::string> ids;
  for (std::size_t i = 0; i < list->size(); ++i) {
    const json& item = (*list)[i];
    const std::string field = "subtasks[" + std::to_string(i) + "]";
    if (!item.is_object()) return wrong_type(field, "an object", item);
    SubtaskPlan s;
    if (auto e = read_string(item, "id", field + ".id", s.id, true)) return *e;
    if (auto e = check_subtask_id(s.id, field + ".id")) return *e;
    if (!ids.insert(s.id).second) return make_error(field + ".id: duplicate id '" + s.id + "'");
    if (auto e = read_string(item, "title", field + ".title", s.title)) return *e;
    if (auto e = read_string(item, "instructions", field + ".instructions", s.instructions)) {
      return *e;
    }
    if (auto e = read_unit(item, "difficulty", field + ".difficulty", s.difficulty)) return *e;
    const auto deps = item.find("depends_on");
    if (deps != item.end() && !deps->is_null()) {
      if (!deps->is_array()) return wrong_type(field + ".depends_on", "a list of ids", *deps);
      for (std::size_t d = 0; d < deps->size(); ++d) {
        const json& dep = (*deps)[d];
        const std::string dep_field = field + ".depends_on[" + std::to_string(d) + "]";
        if (!dep.is_string()) return wrong_type(dep_field, "a subtask id (string)", dep);
        std::string id = dep.get<std::string>();
        if (std::find(s.depends_on.begin(), s.depends_on.end(), id) == s.depends_on.end()) {
          s.depends_on.push_back(std::move(id));
        }
      }
    }
    plan.push_back(std::move(s));
  }
  for (std::size_t i = 0; i < plan.size(); ++i) {
    for (const std::string& dep : plan[i].depends_on) {
      if (!ids.count(dep)) {
        const std::string shown_dep = dep.size() > 80 ? dep.substr(0, 80) + "..." : dep;
        return make_error("subtasks[" + std::to_string(i) + "].depends_on: unknown subtask '" +
                          shown_dep + "'");
      }
    }
  }
  if (std::string cycle = find_cycle(plan); !cycle.empty()) {
    return make_error("dependency cycle: " + cycle);
  }
  return plan;
}

Result<Candidate> parse_coder_answer(std::string_view reply) {
  auto found = find_object(reply);
  if (!found.ok()) return found.error();
  const json& root = found->value;
  const auto list = root.find("files");
  if (list == root.end() || list->is_null()) return make_error("the answer has no \"files\" list");
  if (!list->is_array()) return wrong_type("files", "a list", *list);
  if (list->empty()) return make_error("files: the list is empty; write at least one file");
  if (list->size() > kMaxAnswerFiles) {
    return make_error("files: " + std::to_string(list->size()) + " files, over the limit of " +
                      std::to_string(kMaxAnswerFiles));
  }
  Candidate candidate;
  std::set<std::string> paths;
  std::size_t total = 0;
  for (std::size_t i = 0; i < list->size(); ++i) {
    const json& item = (*list)[i];
    const std::string field = "files[" + std::to_string(i) + "]";
    if (!item.is_object()) return wrong_type(field, "an object", item);
    FileEdit file;
    if (auto e = read_string(item, "path", field + ".path", file.path, true)) return *e;
    if (auto st = check_relative_path(file.path); !st.ok()) {
      return make_error(field + ": " + st.error().message);
    }
    if (!paths.insert(file.path).second) {
      return make_error(field + ": path '" + file.path + "' appears twice");
    }
    if (auto e = read_string(item, "content", field + ".content", file.content, true)) return *e;
    total += file.content.size();
    if (total > kMaxAnswerFileBytes) {
      return make_error("files: over " + std::to_string(kMaxAnswerFileBytes) +
                        " bytes of content in all");
    }
    candidate.files.push_back(std::move(file));
  }
  std::string notes;
  if (auto e = read_string(root, "notes", "notes", notes)) return *e;
  if (!trim(notes).empty()) {
    candidate.content = std::move(notes);
  } else {
    candidate.content = "Wrote " + plural(candidate.files.size(), "file") + ":";
    for (std::size_t i = 0; i < candidate.files.size(); ++i) {
      candidate.content += (i == 0 ? " " : ", ") + candidate.files[i].path;
    }
  }
  return candidate;
}

Result<Verdict> parse_critic_answer(std::string_view reply) {
  auto found = find_object(reply);
  if (!found.ok()) return found.error();
  const json& root = found->value;
  Verdict verdict;
  const auto accept = root.find("accept");
  if (accept == root.end() || accept->is_null()) {
    return make_error("the answer has no \"accept\" (true or false)");
  }
  if (!accept->is_boolean()) return wrong_type("accept", "true or false", *accept);
  verdict.accept = accept->get<bool>();
  verdict.score = verdict.accept ? 1.0 : 0.0;
  if (auto e = read_unit(root, "score", "score", verdict.score)) return *e;
  if (auto e = read_string(root, "feedback", "feedback", verdict.feedback)) return *e;
  return verdict;
}

}  // namespace cadre::roles
