// Reading model answers: finding the JSON in a reply, and the checks on plans, coder answers and
// critic verdicts.
#include "cadre/roles/answers.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace cadre::roles {
namespace {

template <typename T>
void expect_error(const Result<T>& result, const std::string& needle) {
  ASSERT_FALSE(result.ok()) << "parsed unexpectedly; wanted an error mentioning " << needle;
  EXPECT_NE(result.error().to_string().find(needle), std::string::npos)
      << "error was: " << result.error().to_string();
}

const char* kPlan = R"({"subtasks": [
  {"id": "s1", "title": "Reader", "instructions": "Read input", "depends_on": []},
  {"id": "s2", "title": "Counter", "instructions": "Count", "depends_on": ["s1"], "difficulty": 0.8},
  {"id": "s3", "title": "Report", "instructions": "Print", "depends_on": ["s1", "s2", "s1"]}
]})";

void expect_sample_plan(const Result<std::vector<SubtaskPlan>>& got) {
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  ASSERT_EQ(got->size(), 3u);
  const auto& p = *got;
  EXPECT_EQ(p[0].id, "s1");
  EXPECT_EQ(p[0].title, "Reader");
  EXPECT_EQ(p[0].instructions, "Read input");
  EXPECT_TRUE(p[0].depends_on.empty());
  EXPECT_EQ(p[0].difficulty, 0.5);  // the default
  EXPECT_EQ(p[1].difficulty, 0.8);
  EXPECT_EQ(p[1].depends_on, std::vector<std::string>{"s1"});
  EXPECT_EQ(p[2].depends_on, (std::vector<std::string>{"s1", "s2"}));  // repeats dropped
}

// ---- finding the JSON ----

TEST(AnswerJson, BareFencedAndWrappedInProse) {
  expect_sample_plan(parse_plan_answer(kPlan));
  expect_sample_plan(parse_plan_answer(std::string("\n  ") + kPlan + "\n\n"));
  expect_sample_plan(parse_plan_answer(std::string("Here is the plan:\n```json\n") + kPlan +
                                       "\n```\nGood luck!"));
  expect_sample_plan(parse_plan_answer(std::string("```JSON\n") + kPlan + "\n```"));
  // A fence with no language, and prose with its own braces before it.
  expect_sample_plan(parse_plan_answer(std::string("Note {this}.\n```\n") + kPlan + "\n```"));
  // No fence at all: the outermost {...} in prose.
  expect_sample_plan(parse_plan_answer(std::string("Sure! ") + kPlan + " Hope this helps."));
  // Stray braces in the prose around the answer.
  expect_sample_plan(parse_plan_answer(std::string("Use {curly} ideas: ") + kPlan + " {end}"));
  // A reasoning model's <think> block with braces in it.
  expect_sample_plan(
      parse_plan_answer(std::string("<think>maybe {\"subtasks\": []}? no.</think>\n") + kPlan));
  // Comments are tolerated.
  expect_sample_plan(parse_plan_answer(std::string("// plan\n") + kPlan));
}

TEST(AnswerJson, FencedJsonMayHoldFencesInStrings) {
  // A README with code fences inside a JSON string (escaped newlines) inside a ```json block.
  const std::string reply =
      "```json\n{\"files\": [{\"path\": \"README.md\", \"content\": \"# x\\n```sh\\nmake\\n```\\n\"}],"
      " \"notes\": \"readme\"}\n```";
  auto got = parse_coder_answer(reply);
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  ASSERT_EQ(got->files.size(), 1u);
  EXPECT_EQ(got->files[0].content, "# x\n```sh\nmake\n```\n");
}

TEST(AnswerJson, ExtractReturnsTheObjectText) {
  auto got = extract_json_object("blah ```json\n{\"a\": 1}\n``` blah");
  // The fence opener is not at a line start, so this falls back to the braces.
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  EXPECT_EQ(*got, "{\"a\": 1}");
  auto fenced = extract_json_object("text\n```json\n  {\"b\": [1, 2]}  \n```\n");
  ASSERT_TRUE(fenced.ok());
  EXPECT_EQ(*fenced, "{\"b\": [1, 2]}");
}

TEST(AnswerJson, InvalidJsonIsAnError) {
  expect_error(parse_plan_answer(""), "empty");
  expect_error(parse_plan_answer("I cannot help with that."), "no JSON object");
  expect_error(parse_plan_answer("{\"subtasks\": [ {\"id\": \"s1\", }"), "does not parse");
  expect_error(parse_plan_answer("```json\n{\"subtasks\": [}\n```"), "does not parse");
  expect_error(parse_plan_answer("[1, 2, 3]"), "no JSON object");
  expect_error(parse_plan_answer("{\"tasks\": []}"), "no \"subtasks\" list");
  expect_error(parse_plan_answer("{\"subtasks\": {}}"), "subtasks: expected a list");
  expect_error(parse_plan_answer("{\"subtasks\": []}"), "empty");
}

// ---- plans ----

TEST(PlanAnswer, IdsAreChecked) {
  expect_error(parse_plan_answer(R"({"subtasks": [{"id": "s1"}, {"id": "s1"}]})"),
               "subtasks[1].id: duplicate id 's1'");
  expect_error(parse_plan_answer(R"({"subtasks": [{"id": "plan", "title": "x"}]})"),
               "subtasks[0].id 'plan' is reserved");
  expect_error(parse_plan_answer(R"({"subtasks": [{"id": "s1/review"}]})"),
               "must not contain '/'");
  expect_error(parse_plan_answer(R"({"subtasks": [{"id": ""}]})"), "subtasks[0].id is empty");
  expect_error(parse_plan_answer(R"({"subtasks": [{"title": "no id"}]})"),
               "subtasks[0].id is missing");
  expect_error(parse_plan_answer(R"({"subtasks": [{"id": 1}]})"),
               "subtasks[0].id: expected a string, got a number");
  expect_error(parse_plan_answer(R"({"subtasks": [{"id": "a\tb"}]})"), "control characters");
  expect_error(parse_plan_answer(R"({"subtasks": ["s1"]})"), "subtasks[0]: expected an object");
}

TEST(PlanAnswer, DependenciesMustExist) {
  expect_error(parse_plan_answer(
                   R"({"subtasks": [{"id": "s1"}, {"id": "s2", "depends_on": ["s1", "s9"]}]})"),
               "subtasks[1].depends_on: unknown subtask 's9'");
  expect_error(parse_plan_answer(R"({"subtasks": [{"id": "s1", "depends_on": "s2"}]})"),
               "subtasks[0].depends_on: expected a list of ids");
  expect_error(parse_plan_answer(R"({"subtasks": [{"id": "s1", "depends_on": [2]}]})"),
               "subtasks[0].depends_on[0]");
}

TEST(PlanAnswer, CyclesAreNamed) {
  expect_error(parse_plan_answer(R"({"subtasks": [
      {"id": "s1", "depends_on": ["s2"]}, {"id": "s2", "depends_on": ["s1"]}]})"),
               "dependency cycle: s1 -> s2 -> s1");
  expect_error(parse_plan_answer(R"({"subtasks": [{"id": "a", "depends_on": ["a"]}]})"),
               "dependency cycle: a -> a");
  // A longer cycle behind an acyclic prefix is reported from where it closes.
  expect_error(parse_plan_answer(R"({"subtasks": [
      {"id": "s0", "depends_on": ["s1"]},
      {"id": "s1", "depends_on": ["s2"]},
      {"id": "s2", "depends_on": ["s3"]},
      {"id": "s3", "depends_on": ["s1"]}]})"),
               "dependency cycle: s1 -> s2 -> s3 -> s1");
  // A diamond is not a cycle.
  auto diamond = parse_plan_answer(R"({"subtasks": [
      {"id": "a"}, {"id": "b", "depends_on": ["a"]}, {"id": "c", "depends_on": ["a"]},
      {"id": "d", "depends_on": ["b", "c"]}]})");
  ASSERT_TRUE(diamond.ok()) << diamond.error().to_string();
}

TEST(PlanAnswer, FieldsAndLimits) {
  auto minimal = parse_plan_answer(R"({"subtasks": [{"id": "only", "title": null}]})");
  ASSERT_TRUE(minimal.ok()) << minimal.error().to_string();
  EXPECT_EQ((*minimal)[0].title, "");
  EXPECT_EQ((*minimal)[0].difficulty, 0.5);
  expect_error(parse_plan_answer(R"({"subtasks": [{"id": "s1", "difficulty": 1.5}]})"),
               "subtasks[0].difficulty: 1.5 is outside [0, 1]");
  expect_error(parse_plan_answer(R"({"subtasks": [{"id": "s1", "title": 3}]})"),
               "subtasks[0].title: expected a string");
  auto many = [](int n) {
    std::string s = "{\"subtasks\": [";
    for (int i = 0; i < n; ++i) s += (i ? ", " : "") + std::string("{\"id\": \"s") + std::to_string(i) + "\"}";
    return s + "]}";
  };
  EXPECT_TRUE(parse_plan_answer(many(50)).ok());
  expect_error(parse_plan_answer(many(51)), "over the limit of 50");
}

// ---- coders ----

TEST(CoderAnswer, FilesAndNotes) {
  auto got = parse_coder_answer(R"(```json
{"files": [{"path": "src/main.c", "content": "int main() { return 0; }\n"},
           {"path": "Makefile", "content": ""}],
 "notes": "Added main and a Makefile."}
```)");
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  ASSERT_EQ(got->files.size(), 2u);
  EXPECT_EQ(got->files[0].path, "src/main.c");
  EXPECT_EQ(got->files[0].content, "int main() { return 0; }\n");
  EXPECT_EQ(got->files[1].path, "Makefile");
  EXPECT_EQ(got->files[1].content, "");
  EXPECT_EQ(got->content, "Added main and a Makefile.");
  EXPECT_FALSE(got->sim_correct.has_value());

  // Without notes, the content summarises the files.
  auto summary = parse_coder_answer(
      R"({"files": [{"path": "a.c", "content": "x"}, {"path": "b/c.c", "content": "y"}]})");
  ASSERT_TRUE(summary.ok()) << summary.error().to_string();
  EXPECT_EQ(summary->content, "Wrote 2 files: a.c, b/c.c");
  auto one = parse_coder_answer(R"({"files": [{"path": "a.c", "content": "x"}], "notes": " "})");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->content, "Wrote 1 file: a.c");
}

TEST(CoderAnswer, PathEscapesAreRefusedAndNamed) {
  for (const char* bad : {"../x", "/etc/x", "a/../../x", "./a", "a//b", "a\\\\b", ""}) {
    const std::string reply =
        std::string(R"({"files": [{"path": "ok.txt", "content": ""}, {"path": ")") + bad +
        R"(", "content": "pwned"}]})";
    auto got = parse_coder_answer(reply);
    ASSERT_FALSE(got.ok()) << bad;
    std::string shown = bad;
    if (shown == "a\\\\b") shown = "a\\b";
    EXPECT_NE(got.error().message.find("files[1]: path '" + shown + "'"), std::string::npos)
        << got.error().message;
  }
  expect_error(parse_coder_answer(R"({"files": [{"path": "../x", "content": ""}]})"),
               "contains a '..' segment");
  expect_error(parse_coder_answer(R"({"files": [{"path": "/etc/x", "content": ""}]})"),
               "is absolute");
}

TEST(CoderAnswer, ShapeIsChecked) {
  expect_error(parse_coder_answer(R"({"notes": "I did it"})"), "no \"files\" list");
  expect_error(parse_coder_answer(R"({"files": []})"), "files: the list is empty");
  expect_error(parse_coder_answer(R"({"files": "a.c"})"), "files: expected a list");
  expect_error(parse_coder_answer(R"({"files": [{"content": "x"}]})"), "files[0].path is missing");
  expect_error(parse_coder_answer(R"({"files": [{"path": "a"}]})"), "files[0].content is missing");
  expect_error(parse_coder_answer(R"({"files": [{"path": "a", "content": 3}]})"),
               "files[0].content: expected a string");
  expect_error(parse_coder_answer(
                   R"({"files": [{"path": "a", "content": ""}, {"path": "a", "content": ""}]})"),
               "files[1]: path 'a' appears twice");
  expect_error(parse_coder_answer(R"({"files": [{"path": "a", "content": ""}], "notes": 1})"),
               "notes: expected a string");
}

// ---- critics ----

TEST(CriticAnswer, Verdicts) {
  auto yes = parse_critic_answer(R"({"accept": true, "score": 0.75, "feedback": "fine"})");
  ASSERT_TRUE(yes.ok()) << yes.error().to_string();
  EXPECT_TRUE(yes->accept);
  EXPECT_EQ(yes->score, 0.75);
  EXPECT_EQ(yes->feedback, "fine");

  auto no = parse_critic_answer("Verdict:\n```json\n{\"accept\": false, \"feedback\": \"crashes on empty input\"}\n```");
  ASSERT_TRUE(no.ok()) << no.error().to_string();
  EXPECT_FALSE(no->accept);
  EXPECT_EQ(no->score, 0.0);  // default when rejected
  EXPECT_EQ(no->feedback, "crashes on empty input");

  auto bare_yes = parse_critic_answer(R"({"accept": true})");
  ASSERT_TRUE(bare_yes.ok());
  EXPECT_EQ(bare_yes->score, 1.0);  // default when accepted
  EXPECT_EQ(bare_yes->feedback, "");
  auto integral = parse_critic_answer(R"({"accept": true, "score": 1})");
  ASSERT_TRUE(integral.ok());
  EXPECT_EQ(integral->score, 1.0);
}

TEST(CriticAnswer, ShapeIsChecked) {
  expect_error(parse_critic_answer(R"({"score": 0.5})"), "no \"accept\"");
  expect_error(parse_critic_answer(R"({"accept": "yes"})"), "accept: expected true or false");
  expect_error(parse_critic_answer(R"({"accept": true, "score": 1.2})"), "score: 1.2 is outside [0, 1]");
  expect_error(parse_critic_answer(R"({"accept": true, "score": -0.1})"), "outside [0, 1]");
  expect_error(parse_critic_answer(R"({"accept": true, "score": "high"})"), "score: expected a number");
  expect_error(parse_critic_answer(R"({"accept": false, "feedback": ["a"]})"),
               "feedback: expected a string");
  expect_error(parse_critic_answer("LGTM"), "no JSON object");
}

}  // namespace
}  // namespace cadre::roles
