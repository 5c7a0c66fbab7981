// Prompt templates: every placeholder renders, unknown ones are errors, the separator rules, the
// compiled-in defaults match roles/prompts/*.md, and the answer schemas are valid JSON.
#include "cadre/roles/prompts.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>

namespace cadre::roles {
namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TaskAssignment full_task(TaskKind kind) {
  TaskAssignment t;
  t.goal_id = "g1";
  t.task_id = kind == TaskKind::plan ? "plan" : (kind == TaskKind::review ? "s2/review" : "s2");
  t.kind = kind;
  t.attempt = 7;
  t.revision = 3;
  t.goal_title = "Build a word counter";
  t.instructions = "Count words on stdin.\nPrint the total.";
  t.goal_subtasks = {SubtaskPlan{"s1", "Reader", "Read stdin\nline by line", 0.5},
                     SubtaskPlan{"s2", "Counter", "Count", 0.5, {"s1"}}};
  t.candidate = Candidate{"Implemented wc.", std::nullopt,
                          {FileEdit{"src/wc.c", "int main() {}\n"}}};
  t.feedback = {"handle empty input", "", "tabs are separators\ntoo"};
  t.workspace_files = {FileEdit{"README.md", "# wc\n"}, FileEdit{"src/util.h", "#pragma once"}};
  return t;
}

std::string all_placeholders_template() {
  return "sys {{goal_title}} | {{answer_format}}\n"
         "---user---\n"
         "title={{goal_title}}\n"
         "instr={{instructions}}\n"
         "sub={{subtask_id}}\n"
         "att={{attempt}}\n"
         "rev={{revision}}\n"
         "fb=\n{{feedback}}\n"
         "subs=\n{{goal_subtasks}}\n"
         "cand=\n{{candidate}}\n"
         "ws=\n{{workspace}}\n";
}

TEST(Prompts, RendersEveryPlaceholder) {
  auto got = render_prompt(all_placeholders_template(), full_task(TaskKind::review));
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  const RolePrompt& p = *got;
  EXPECT_TRUE(p.system.rfind("sys Build a word counter | {", 0) == 0) << p.system;
  EXPECT_TRUE(contains(p.system, "\"accept\"")) << "review answers with a verdict";
  EXPECT_FALSE(contains(p.system, "---user---"));
  EXPECT_TRUE(p.user.rfind("title=Build a word counter\n", 0) == 0) << p.user;
  EXPECT_TRUE(contains(p.user, "instr=Count words on stdin.\nPrint the total.\n"));
  EXPECT_TRUE(contains(p.user, "sub=s2\n")) << "the subtask of s2/review is s2";
  EXPECT_TRUE(contains(p.user, "att=7\n"));
  EXPECT_TRUE(contains(p.user, "rev=3\n"));
  // Feedback: bulleted, empty items skipped, later lines indented under their bullet.
  EXPECT_TRUE(contains(p.user, "fb=\n- handle empty input\n- tabs are separators\n  too\n"))
      << p.user;
  EXPECT_TRUE(contains(p.user, "- s1: Reader\n  Read stdin\n  line by line\n"));
  EXPECT_TRUE(contains(p.user, "- s2: Counter\n  Count\n  Depends on: s1\n"));
  // Candidate: content, then the files as fenced blocks with their paths.
  EXPECT_TRUE(contains(p.user, "Implemented wc."));
  EXPECT_TRUE(contains(p.user, "File: src/wc.c\n```\nint main() {}\n```\n"));
  // Workspace: each file fenced with its path; a missing final newline is supplied.
  EXPECT_TRUE(contains(p.user, "File: README.md\n```\n# wc\n```\n"));
  EXPECT_TRUE(contains(p.user, "File: src/util.h\n```\n#pragma once\n```\n"));
  EXPECT_FALSE(contains(p.system + p.user, "{{"));
  EXPECT_FALSE(contains(p.system + p.user, "}}"));
}

TEST(Prompts, EmptyValuesRenderAsPlaceholdersText) {
  TaskAssignment t;
  t.task_id = "plan";
  t.kind = TaskKind::plan;
  auto got = render_prompt(
      "s\n---user---\n[{{feedback}}][{{goal_subtasks}}][{{candidate}}][{{workspace}}][{{subtask_id}}]",
      t);
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  EXPECT_EQ(got->user, "[(none)][(none)][(none)][(the workspace is empty)][plan]");
}

TEST(Prompts, AnswerFormatFollowsTheTaskKind) {
  const std::string tpl = "{{answer_format}}\n---user---\nu";
  for (TaskKind kind : {TaskKind::plan, TaskKind::solve, TaskKind::review, TaskKind::resolve}) {
    auto got = render_prompt(tpl, full_task(kind));
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(got->system, answer_schema(kind));
  }
  EXPECT_TRUE(contains(answer_schema(TaskKind::plan), "\"subtasks\""));
  EXPECT_TRUE(contains(answer_schema(TaskKind::plan), "\"depends_on\""));
  EXPECT_TRUE(contains(answer_schema(TaskKind::solve), "\"files\""));
  EXPECT_EQ(answer_schema(TaskKind::resolve), answer_schema(TaskKind::solve));
  EXPECT_TRUE(contains(answer_schema(TaskKind::review), "\"accept\""));
}

// Every object in a schema lists all its properties as required and forbids others (what strict
// structured outputs demand).
void expect_strict(const nlohmann::json& schema, const std::string& where) {
  if (!schema.is_object()) return;
  if (schema.value("type", "") == "object") {
    ASSERT_TRUE(schema.contains("properties")) << where;
    ASSERT_TRUE(schema.contains("required")) << where;
    EXPECT_EQ(schema["required"].size(), schema["properties"].size()) << where;
    for (const auto& [key, _] : schema["properties"].items()) {
      bool listed = false;
      for (const auto& r : schema["required"]) listed = listed || r == key;
      EXPECT_TRUE(listed) << where << "." << key;
    }
    EXPECT_EQ(schema.value("additionalProperties", true), false) << where;
    for (const auto& [key, sub] : schema["properties"].items()) expect_strict(sub, where + "." + key);
  }
  if (schema.contains("items")) expect_strict(schema["items"], where + "[]");
}

TEST(Prompts, AnswerSchemasAreStrictJsonSchemas) {
  for (TaskKind kind : {TaskKind::plan, TaskKind::solve, TaskKind::review, TaskKind::resolve}) {
    nlohmann::json schema;
    ASSERT_NO_THROW(schema = nlohmann::json::parse(answer_schema(kind))) << task_kind_name(kind);
    EXPECT_EQ(schema["type"], "object");
    expect_strict(schema, task_kind_name(kind));
  }
}

TEST(Prompts, UnknownPlaceholderIsAnErrorNamingIt) {
  const TaskAssignment t = full_task(TaskKind::solve);
  auto got = render_prompt("s\n---user---\nHello {{goal}} there", t);
  ASSERT_FALSE(got.ok());
  EXPECT_TRUE(contains(got.error().message, "unknown placeholder {{goal}}")) << got.error().message;
  EXPECT_TRUE(contains(got.error().message, "goal_title")) << "lists the known names";
  // In the system part, too.
  auto in_system = render_prompt("{{ Attempt }}\n---user---\nu", t);
  ASSERT_FALSE(in_system.ok());
  EXPECT_TRUE(contains(in_system.error().message, "{{Attempt}}")) << in_system.error().message;
  EXPECT_FALSE(check_template("a {{nope}}\n---user---\nb").ok());
  EXPECT_TRUE(check_template("a {{attempt}}\n---user---\nb").ok());
}

TEST(Prompts, PlaceholderSyntax) {
  TaskAssignment t = full_task(TaskKind::solve);
  // Spaces inside the braces are allowed.
  auto spaced = render_prompt("s\n---user---\n{{ goal_title }}", t);
  ASSERT_TRUE(spaced.ok());
  EXPECT_EQ(spaced->user, "Build a word counter");
  // "{{" with no "}}" on its line is literal.
  auto literal = render_prompt("s\n---user---\nuse {{ like this\n}} ok {{attempt}}", t);
  ASSERT_TRUE(literal.ok()) << literal.error().to_string();
  EXPECT_EQ(literal->user, "use {{ like this\n}} ok 7");
  // Values are never expanded again.
  t.goal_title = "a {{workspace}} b {{nope}}";
  auto verbatim = render_prompt("s\n---user---\n{{goal_title}}", t);
  ASSERT_TRUE(verbatim.ok());
  EXPECT_EQ(verbatim->user, "a {{workspace}} b {{nope}}");
}

TEST(Prompts, SeparatorRules) {
  const TaskAssignment t = full_task(TaskKind::solve);
  auto missing = render_prompt("only a system part {{goal_title}}", t);
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(contains(missing.error().message, "---user---"));
  auto twice = render_prompt("a\n---user---\nb\n---user---\nc", t);
  ASSERT_FALSE(twice.ok());
  EXPECT_TRUE(contains(twice.error().message, "more than one"));
  // Blanks around the separator and CRLF line ends are fine; parts are trimmed.
  auto crlf = render_prompt("\r\n  system\r\n  ---user---  \r\n\r\nuser {{attempt}}\r\n", t);
  ASSERT_TRUE(crlf.ok()) << crlf.error().to_string();
  EXPECT_EQ(crlf->system, "system");
  EXPECT_EQ(crlf->user, "user 7");
  // A separator inside a line is not a separator.
  EXPECT_FALSE(render_prompt("a ---user--- b", t).ok());
}

TEST(Prompts, FencesOutgrowBackticksInContent) {
  TaskAssignment t = full_task(TaskKind::solve);
  t.workspace_files = {FileEdit{"doc.md", "text\n```c\ncode\n```\nmore ````` five\n"}};
  auto got = render_prompt("s\n---user---\n{{workspace}}", t);
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(contains(got->user, "File: doc.md\n``````\ntext\n```c\n")) << got->user;
  EXPECT_TRUE(contains(got->user, "five\n``````\n")) << got->user;
}

TEST(Prompts, DefaultsExistForEveryKindAndRender) {
  for (TaskKind kind : {TaskKind::plan, TaskKind::solve, TaskKind::review, TaskKind::resolve}) {
    const std::string tpl = default_template(kind);
    ASSERT_FALSE(tpl.empty()) << task_kind_name(kind);
    EXPECT_TRUE(check_template(tpl).ok()) << task_kind_name(kind);
    auto got = render_prompt(tpl, full_task(kind));
    ASSERT_TRUE(got.ok()) << task_kind_name(kind) << ": " << got.error().to_string();
    EXPECT_FALSE(got->system.empty());
    EXPECT_FALSE(got->user.empty());
    EXPECT_TRUE(contains(got->system, answer_schema(kind))) << task_kind_name(kind);
    EXPECT_TRUE(contains(got->system, "JSON")) << task_kind_name(kind);
    EXPECT_TRUE(contains(got->user, "Build a word counter")) << task_kind_name(kind);
    EXPECT_FALSE(contains(got->system + got->user, "{{")) << task_kind_name(kind);
  }
  // Role-specific content reaches the prompt.
  auto plan = render_prompt(default_template(TaskKind::plan), full_task(TaskKind::plan));
  EXPECT_TRUE(contains(plan->user, "- s2: Counter"));
  auto solve = render_prompt(default_template(TaskKind::solve), full_task(TaskKind::solve));
  EXPECT_TRUE(contains(solve->user, "- handle empty input"));
  EXPECT_TRUE(contains(solve->user, "File: src/util.h"));
  auto review = render_prompt(default_template(TaskKind::review), full_task(TaskKind::review));
  EXPECT_TRUE(contains(review->user, "File: src/wc.c"));
  EXPECT_TRUE(contains(review->user, "attempt 7"));
  // A human resolving a subtask answers like a coder.
  EXPECT_EQ(default_template(TaskKind::resolve), default_template(TaskKind::solve));
}

TEST(Prompts, DefaultsAreTheShippedMarkdownFiles) {
  const std::string dir = std::string(CADRE_SOURCE_DIR) + "/roles/prompts/";
  EXPECT_EQ(default_template(TaskKind::plan), read_file(dir + "planner.md"));
  EXPECT_EQ(default_template(TaskKind::solve), read_file(dir + "coder.md"));
  EXPECT_EQ(default_template(TaskKind::review), read_file(dir + "critic.md"));
  for (const char* role : {"planner", "coder", "critic"}) {
    auto got = read_template_file(dir + role + ".md");
    EXPECT_TRUE(got.ok()) << role << ": " << got.error().to_string();
  }
}

class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    char name[] = "/tmp/cadre-prompt-XXXXXX";
    const int fd = ::mkstemp(name);
    EXPECT_GE(fd, 0);
    ::close(fd);
    path_ = name;
    std::ofstream(path_, std::ios::binary) << content;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(Prompts, ReadTemplateFile) {
  TempFile good("You are {{goal_title}}.\n---user---\nDo {{instructions}}.\n");
  auto text = read_template_file(good.path());
  ASSERT_TRUE(text.ok()) << text.error().to_string();
  EXPECT_EQ(*text, "You are {{goal_title}}.\n---user---\nDo {{instructions}}.\n");

  const std::string missing = "/nonexistent/cadre/prompt.md";
  auto none = read_template_file(missing);
  ASSERT_FALSE(none.ok());
  EXPECT_TRUE(contains(none.error().to_string(), missing)) << none.error().to_string();

  TempFile bad("x {{whatever}}\n---user---\ny");
  auto refused = read_template_file(bad.path());
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(contains(refused.error().to_string(), bad.path()));
  EXPECT_TRUE(contains(refused.error().to_string(), "{{whatever}}"));

  TempFile no_separator("just text");
  auto unsplit = read_template_file(no_separator.path());
  ASSERT_FALSE(unsplit.ok());
  EXPECT_TRUE(contains(unsplit.error().to_string(), no_separator.path()));
}

}  // namespace
}  // namespace cadre::roles
