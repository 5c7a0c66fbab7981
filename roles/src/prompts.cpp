// Prompt templates: reading, checking and rendering. See prompts.h for the format.
#include "cadre/roles/prompts.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <string_view>

// Generated at configure time from roles/prompts/*.md (see roles/CMakeLists.txt).
#include "cadre/roles/default_prompts.h"

namespace cadre::roles {

namespace {

constexpr std::size_t kMaxTemplateBytes = 1 << 20;
constexpr std::size_t kMaxPlaceholderName = 64;

std::string_view trim(std::string_view s) {
  auto space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

struct Parts {
  std::string_view system;
  std::string_view user;
};

Result<Parts> split_template(std::string_view text) {
  std::size_t found = 0;
  Parts parts;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t eol = text.find('\n', start);
    const std::size_t end = eol == std::string_view::npos ? text.size() : eol;
    if (trim(text.substr(start, end - start)) == kUserSeparator) {
      if (++found > 1) {
        return make_error(std::string("template has more than one '") + kUserSeparator +
                          "' line");
      }
      parts.system = trim(text.substr(0, start));
      parts.user = trim(text.substr(std::min(end + 1, text.size())));
    }
    if (eol == std::string_view::npos) break;
    start = eol + 1;
  }
  if (found == 0) {
    return make_error(std::string("template has no '") + kUserSeparator +
                      "' line separating the system part from the user part");
  }
  return parts;
}

bool is_known(std::string_view name) {
  const auto& names = prompt_placeholders();
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::string known_list() {
  std::string out;
  for (const auto& n : prompt_placeholders()) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// Replaces the placeholders of `part`; `value` gives a known placeholder's text.
Status expand(std::string_view part, const std::function<std::string(std::string_view)>& value,
              std::string& out) {
  std::size_t pos = 0;
  while (true) {
    const std::size_t open = part.find("{{", pos);
    if (open == std::string_view::npos) {
      out.append(part.substr(pos));
      return Status::Ok();
    }
    const std::size_t close = part.find("}}", open + 2);
    const std::size_t eol = part.find('\n', open);
    if (close == std::string_view::npos || (eol != std::string_view::npos && close > eol)) {
      out.append(part.substr(pos, open + 2 - pos));  // a literal "{{"
      pos = open + 2;
      continue;
    }
    const std::string_view name = trim(part.substr(open + 2, close - open - 2));
    if (!is_known(name)) {
      std::string shown(name.substr(0, kMaxPlaceholderName));
      if (name.size() > kMaxPlaceholderName) shown += "...";
      return make_error("unknown placeholder {{" + shown + "}} (known: " + known_list() + ")");
    }
    out.append(part.substr(pos, open - pos));
    out += value(name);
    pos = close + 2;
  }
}

// Indents every line after the first by `indent`.
std::string indent_rest(std::string_view text, const std::string& indent) {
  std::string out;
  for (char c : trim(text)) {
    out += c;
    if (c == '\n') out += indent;
  }
  return out;
}

std::string fence_for(const std::string& content) {
  std::size_t longest = 0;
  std::size_t run = 0;
  for (char c : content) {
    run = c == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  return std::string(std::max<std::size_t>(3, longest + 1), '`');
}

std::string file_blocks(const std::vector<FileEdit>& files) {
  std::string out;
  for (const FileEdit& f : files) {
    if (!out.empty()) out += "\n";
    const std::string fence = fence_for(f.content);
    out += "File: " + f.path + "\n" + fence + "\n" + f.content;
    if (!f.content.empty() && f.content.back() != '\n') out += "\n";
    out += fence + "\n";
  }
  return out;
}

std::string render_feedback(const std::vector<std::string>& feedback) {
  std::string out;
  for (const std::string& item : feedback) {
    if (trim(item).empty()) continue;
    out += "- " + indent_rest(item, "  ") + "\n";
  }
  return out.empty() ? "(none)" : out;
}

std::string render_subtasks(const std::vector<SubtaskPlan>& subtasks) {
  std::string out;
  for (const SubtaskPlan& s : subtasks) {
    out += "- " + (s.id.empty() ? std::string("(no id)") : s.id);
    if (!trim(s.title).empty()) out += ": " + std::string(trim(s.title));
    out += "\n";
    if (!trim(s.instructions).empty()) out += "  " + indent_rest(s.instructions, "  ") + "\n";
    if (!s.depends_on.empty()) {
      out += "  Depends on:";
      for (std::size_t i = 0; i < s.depends_on.size(); ++i) {
        out += (i == 0 ? " " : ", ") + s.depends_on[i];
      }
      out += "\n";
    }
  }
  return out.empty() ? "(none)" : out;
}

std::string render_candidate(const std::optional<Candidate>& candidate) {
  if (!candidate) return "(none)";
  const std::string_view content = trim(candidate->content);
  if (candidate->files.empty()) {
    return content.empty() ? "(an empty candidate)" : std::string(content);
  }
  std::string out;
  if (!content.empty()) out += "Notes from the coder:\n" + std::string(content) + "\n\n";
  out += "Files written (complete new content):\n\n" + file_blocks(candidate->files);
  return out;
}

std::string render_workspace(const std::vector<FileEdit>& files) {
  return files.empty() ? "(the workspace is empty)" : file_blocks(files);
}

std::string subtask_of(const std::string& task_id) { return task_id.substr(0, task_id.find('/')); }

// The answer schemas; strings rather than generated JSON so their key order reads naturally.
constexpr const char* kPlanSchema = R"({
  "type": "object",
  "properties": {
    "subtasks": {
      "type": "array",
      "description": "1 to 50 subtasks",
      "items": {
        "type": "object",
        "properties": {
          "id": {"type": "string", "description": "short unique id such as \"s1\"; no \"/\"; not \"plan\""},
          "title": {"type": "string", "description": "a few words"},
          "instructions": {"type": "string", "description": "what to do, self-contained for the coder"},
          "depends_on": {"type": "array", "items": {"type": "string"}, "description": "ids of subtasks that must finish first; [] if none; no cycles"}
        },
        "required": ["id", "title", "instructions", "depends_on"],
        "additionalProperties": false
      }
    }
  },
  "required": ["subtasks"],
  "additionalProperties": false
})";

constexpr const char* kCoderSchema = R"({
  "type": "object",
  "properties": {
    "files": {
      "type": "array",
      "description": "at least one file; each with its complete new content",
      "items": {
        "type": "object",
        "properties": {
          "path": {"type": "string", "description": "relative to the workspace root, \"/\"-separated, e.g. \"src/main.c\"; no leading \"/\", no \"..\""},
          "content": {"type": "string", "description": "the whole file"}
        },
        "required": ["path", "content"],
        "additionalProperties": false
      }
    },
    "notes": {"type": "string", "description": "a short summary of the change for the reviewer"}
  },
  "required": ["files", "notes"],
  "additionalProperties": false
})";

constexpr const char* kCriticSchema = R"({
  "type": "object",
  "properties": {
    "accept": {"type": "boolean", "description": "true if the candidate is correct and complete"},
    "score": {"type": "number", "description": "confidence that the candidate is correct, from 0 to 1"},
    "feedback": {"type": "string", "description": "what is wrong and how to fix it; short when accepting"}
  },
  "required": ["accept", "score", "feedback"],
  "additionalProperties": false
})";

}  // namespace

const std::vector<std::string>& prompt_placeholders() {
  static const std::vector<std::string> names = {
      "goal_title", "instructions", "subtask_id", "attempt",   "revision",
      "feedback",   "goal_subtasks", "candidate", "workspace", "answer_format"};
  return names;
}

Status check_template(const std::string& template_text) {
  auto parts = split_template(template_text);
  if (!parts.ok()) return parts.error();
  std::string sink;
  auto blank = [](std::string_view) { return std::string(); };
  if (auto st = expand(parts->system, blank, sink); !st.ok()) return st;
  if (auto st = expand(parts->user, blank, sink); !st.ok()) return st;
  return Status::Ok();
}

Result<std::string> read_template_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return make_error("cannot read prompt template '" + path + "': " + std::strerror(errno));
  }
  std::string text;
  char buffer[65536];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    text.append(buffer, static_cast<std::size_t>(in.gcount()));
    if (text.size() > kMaxTemplateBytes) {
      return make_error("prompt template '" + path + "' is larger than 1 MiB");
    }
  }
  if (in.bad()) return make_error("cannot read prompt template '" + path + "'");
  if (auto st = check_template(text); !st.ok()) {
    return make_error("prompt template '" + path + "': " + st.error().message);
  }
  return text;
}

std::string default_template(TaskKind kind) {
  switch (kind) {
    case TaskKind::plan: return std::string(kDefaultPlannerPrompt);
    case TaskKind::review:
    case TaskKind::approve: return std::string(kDefaultCriticPrompt);
    case TaskKind::solve:
    case TaskKind::resolve: return std::string(kDefaultCoderPrompt);
  }
  return std::string(kDefaultCoderPrompt);
}

std::string answer_schema(TaskKind kind) {
  switch (kind) {
    case TaskKind::plan: return kPlanSchema;
    case TaskKind::review:
    case TaskKind::approve: return kCriticSchema;
    case TaskKind::solve:
    case TaskKind::resolve: return kCoderSchema;
  }
  return kCoderSchema;
}

Result<RolePrompt> render_prompt(const std::string& template_text, const TaskAssignment& task) {
  auto parts = split_template(template_text);
  if (!parts.ok()) return parts.error();
  auto value = [&task](std::string_view name) -> std::string {
    if (name == "goal_title") return task.goal_title;
    if (name == "instructions") return task.instructions;
    if (name == "subtask_id") return subtask_of(task.task_id);
    if (name == "attempt") return std::to_string(task.attempt);
    if (name == "revision") return std::to_string(task.revision);
    if (name == "feedback") return render_feedback(task.feedback);
    if (name == "goal_subtasks") return render_subtasks(task.goal_subtasks);
    if (name == "candidate") return render_candidate(task.candidate);
    if (name == "workspace") return render_workspace(task.workspace_files);
    if (name == "answer_format") return answer_schema(task.kind);
    return {};  // unreachable: expand() refuses unknown names
  };
  RolePrompt prompt;
  if (auto st = expand(parts->system, value, prompt.system); !st.ok()) return st.error();
  if (auto st = expand(parts->user, value, prompt.user); !st.ok()) return st.error();
  return prompt;
}

}  // namespace cadre::roles
