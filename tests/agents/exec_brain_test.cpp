// The exec brain: real python3 scripts answering real tasks through stdin/stdout, and the ways
// such a program can fail turned into readable ok = false outcomes.
#include "cadre/agents/exec_brain.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <thread>

#include "cadre/agents/brain.h"

namespace cadre::agents {
namespace {

namespace fs = std::filesystem;

class ExecBrainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("cadre-exec-brain-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes a python3 script and returns a brain running it.
  std::unique_ptr<Brain> brain_for(const std::string& script,
                                   std::map<std::string, std::string> params = {}) {
    const fs::path path = dir_ / ("agent" + std::to_string(scripts_++) + ".py");
    std::ofstream(path) << script;
    params["command"] = "[\"python3\", \"" + path.string() + "\"]";
    if (!params.count("timeout_s")) params["timeout_s"] = "10";
    auto brain = make_brain("exec", "coder", "my-tool", params);
    EXPECT_TRUE(brain.ok()) << brain.error().to_string();
    return brain.ok() ? std::move(brain.value()) : nullptr;
  }

  static roles::TaskAssignment task(roles::TaskKind kind) {
    roles::TaskAssignment t;
    t.goal_id = "g1";
    t.task_id = kind == roles::TaskKind::plan ? "plan" : "s1";
    t.attempt = 2;
    t.kind = kind;
    t.role = "coder";
    t.seed = 7;
    t.difficulty = 0.25;
    t.goal_title = "Greeter";
    t.instructions = "Say hello";
    t.feedback = {"too terse"};
    t.lease_ms = 30000;
    t.goal_subtasks = {{"a", "first", "do a", 0.3, {}}};
    if (kind == roles::TaskKind::review) t.candidate = roles::Candidate{"print('hi')", true, {}};
    return t;
  }

  fs::path dir_;
  int scripts_ = 0;
};

TEST_F(ExecBrainTest, AnswersASolveTaskFromTheTaskItReads) {
  auto brain = brain_for(R"(
import json, os, sys
task = json.load(sys.stdin)
assert task["kind"] == "solve" and task["kind_id"] == 2, task
assert task["goal_subtasks"][0]["id"] == "a"
content = "|".join([task["goal_id"], task["task_id"], str(task["attempt"]), task["instructions"],
                    task["feedback"][0], str(task["difficulty"]), str(task["lease_ms"]),
                    str(task["seed"]), os.environ["CADRE_MODEL"], os.environ["CADRE_ROLE"]])
print(json.dumps({"tokens_in": 120, "tokens_out": 30, "candidate": {"content": content}}))
)");
  ASSERT_TRUE(brain);
  EXPECT_TRUE(brain->blocking());
  EXPECT_EQ(brain->model(), "my-tool");
  const BrainAnswer answer = brain->answer(task(roles::TaskKind::solve));
  const roles::TaskOutcome& out = answer.outcome;
  ASSERT_TRUE(out.ok) << out.error;
  EXPECT_EQ(out.goal_id, "g1");
  EXPECT_EQ(out.task_id, "s1");
  EXPECT_EQ(out.attempt, 2u);
  EXPECT_EQ(out.model, "my-tool");
  EXPECT_EQ(out.tokens_in, 120u);
  EXPECT_EQ(out.tokens_out, 30u);
  ASSERT_TRUE(out.candidate.has_value());
  EXPECT_EQ(out.candidate->content, "g1|s1|2|Say hello|too terse|0.25|30000|7|my-tool|coder");
  EXPECT_FALSE(out.candidate->sim_correct.has_value());
  EXPECT_GT(out.brain_s, 0.0);
  EXPECT_EQ(answer.delay_s, 0.0);
}

TEST_F(ExecBrainTest, AnswersWithFilesWhenItWritesThem) {
  auto brain = brain_for(R"(
import json, sys
json.load(sys.stdin)
print(json.dumps({"candidate": {"content": "notes", "files": [{"path": "src/a.py", "content": "x = 1\n"}]}}))
)");
  ASSERT_TRUE(brain);
  const auto out = brain->answer(task(roles::TaskKind::solve)).outcome;
  ASSERT_TRUE(out.ok) << out.error;
  ASSERT_TRUE(out.candidate.has_value());
  EXPECT_EQ(out.candidate->content, "notes");
  ASSERT_EQ(out.candidate->files.size(), 1u);
  EXPECT_EQ(out.candidate->files[0].path, "src/a.py");

  auto escaping = brain_for(R"(
import json, sys
print(json.dumps({"candidate": {"content": "", "files": [{"path": "../evil", "content": "x"}]}}))
)");
  ASSERT_TRUE(escaping);
  const auto bad = escaping->answer(task(roles::TaskKind::solve)).outcome;
  EXPECT_FALSE(bad.ok);
  EXPECT_NE(bad.error.find("'../evil'"), std::string::npos) << bad.error;
}

TEST_F(ExecBrainTest, AnswersAPlan) {
  auto brain = brain_for(R"(
import json, sys
task = json.load(sys.stdin)
plan = [{"id": s["id"], "title": s["title"], "instructions": s["instructions"],
         "difficulty": s["difficulty"]} for s in task["goal_subtasks"]]
plan.append({"id": "b", "title": "second", "instructions": "do b", "difficulty": 0.9,
             "depends_on": ["a"]})
print(json.dumps({"ok": True, "plan": plan, "tokens_in": 5}))
)");
  ASSERT_TRUE(brain);
  const auto out = brain->answer(task(roles::TaskKind::plan)).outcome;
  ASSERT_TRUE(out.ok) << out.error;
  ASSERT_EQ(out.plan.size(), 2u);
  EXPECT_EQ(out.plan[0].id, "a");
  EXPECT_EQ(out.plan[0].title, "first");
  EXPECT_DOUBLE_EQ(out.plan[0].difficulty, 0.3);
  EXPECT_EQ(out.plan[1].depends_on, std::vector<std::string>{"a"});
  EXPECT_EQ(out.tokens_in, 5u);
}

TEST_F(ExecBrainTest, AnswersAReview) {
  auto brain = brain_for(R"(
import json, sys
task = json.load(sys.stdin)
c = task["candidate"]
print(json.dumps({"verdict": {"accept": c["sim_correct"], "score": 0.75,
                              "feedback": "saw " + c["content"]}}))
)");
  ASSERT_TRUE(brain);
  const auto out = brain->answer(task(roles::TaskKind::review)).outcome;
  ASSERT_TRUE(out.ok) << out.error;
  ASSERT_TRUE(out.verdict.has_value());
  EXPECT_TRUE(out.verdict->accept);
  EXPECT_DOUBLE_EQ(out.verdict->score, 0.75);
  EXPECT_EQ(out.verdict->feedback, "saw print('hi')");
}

TEST_F(ExecBrainTest, ANonZeroExitIsAFailureQuotingStderr) {
  auto brain = brain_for(R"(
import sys
sys.stdin.read()
sys.stderr.write("model server unreachable\n")
sys.exit(3)
)");
  ASSERT_TRUE(brain);
  const auto out = brain->answer(task(roles::TaskKind::solve)).outcome;
  EXPECT_FALSE(out.ok);
  EXPECT_NE(out.error.find("exit 3"), std::string::npos) << out.error;
  EXPECT_NE(out.error.find("model server unreachable"), std::string::npos) << out.error;
  EXPECT_NE(out.error.find("python3"), std::string::npos) << out.error;  // names the command
  EXPECT_EQ(out.goal_id, "g1");
  EXPECT_EQ(out.model, "my-tool");
  EXPECT_FALSE(out.candidate.has_value());
}

TEST_F(ExecBrainTest, GarbageOnStdoutIsAFailure) {
  auto brain = brain_for("print('Sure! Here is my answer: {oops')\n");
  ASSERT_TRUE(brain);
  const auto out = brain->answer(task(roles::TaskKind::solve)).outcome;
  EXPECT_FALSE(out.ok);
  EXPECT_NE(out.error.find("not valid JSON"), std::string::npos) << out.error;
  EXPECT_NE(out.error.find("Sure! Here is"), std::string::npos) << out.error;

  auto two = brain_for("print('{\"candidate\": {\"content\": \"a\"}} {}')\n");
  ASSERT_TRUE(two);
  EXPECT_FALSE(two->answer(task(roles::TaskKind::solve)).outcome.ok);

  auto silent = brain_for("pass\n");
  ASSERT_TRUE(silent);
  const auto none = silent->answer(task(roles::TaskKind::solve)).outcome;
  EXPECT_FALSE(none.ok);
  EXPECT_NE(none.error.find("printed nothing"), std::string::npos) << none.error;
}

TEST_F(ExecBrainTest, AProgramPastItsTimeoutIsStopped) {
  auto brain = brain_for("import time\ntime.sleep(30)\n", {{"timeout_s", "0.3"}});
  ASSERT_TRUE(brain);
  const auto started = std::chrono::steady_clock::now();
  const auto out = brain->answer(task(roles::TaskKind::solve)).outcome;
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(), 3);
  EXPECT_FALSE(out.ok);
  EXPECT_NE(out.error.find("timed out"), std::string::npos) << out.error;
}

TEST_F(ExecBrainTest, ACancelledCallKillsTheCommandAndReturnsAtOnce) {
  const fs::path pid_file = dir_ / "pid";
  auto brain = brain_for(R"(
import json, os, sys, time
with open(sys.argv[0] + ".pid.tmp", "w") as f:
    f.write(str(os.getpid()))
os.rename(sys.argv[0] + ".pid.tmp", ")" + pid_file.string() + R"(")
time.sleep(30)
print(json.dumps({"candidate": {"content": "too late"}}))
)", {{"timeout_s", "60"}});
  ASSERT_TRUE(brain);
  std::atomic<bool> cancelled{false};
  auto call = std::async(std::launch::async,
                         [&] { return brain->answer(task(roles::TaskKind::solve), cancelled); });
  pid_t pid = 0;
  for (int i = 0; i < 1000 && pid <= 0; ++i) {
    std::ifstream in(pid_file);
    if (!(in >> pid)) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GT(pid, 0) << "the command never started";
  EXPECT_EQ(::kill(pid, 0), 0) << "the command is running";

  const auto set_at = std::chrono::steady_clock::now();
  cancelled = true;
  if (call.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
    ::kill(pid, SIGKILL);  // the call then reaps it
    FAIL() << "the command outlived its cancel";
  }
  const double latency =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - set_at).count();
  const BrainAnswer answer = call.get();
  EXPECT_FALSE(answer.outcome.ok);
  EXPECT_EQ(answer.outcome.error, "cancelled");
  EXPECT_EQ(answer.outcome.goal_id, "g1");
  EXPECT_LT(latency, 2.0);
  std::printf("exec brain cancel latency: %.0f ms\n", latency * 1000);
  // Killed and reaped by the call: no such process, and no zombie of ours.
  errno = 0;
  EXPECT_EQ(::kill(pid, 0), -1);
  EXPECT_EQ(errno, ESRCH);
  EXPECT_EQ(::waitpid(pid, nullptr, WNOHANG), -1);

  // A flag already set: nothing runs.
  fs::remove(pid_file);
  const BrainAnswer never = brain->answer(task(roles::TaskKind::solve), cancelled);
  EXPECT_EQ(never.outcome.error, "cancelled");
  EXPECT_FALSE(fs::exists(pid_file));
}

TEST_F(ExecBrainTest, AnAnswerOfTheWrongShapeIsAFailure) {
  // A candidate where a verdict is due.
  auto coder = brain_for("print('{\"candidate\": {\"content\": \"x\"}}')\n");
  ASSERT_TRUE(coder);
  const auto review = coder->answer(task(roles::TaskKind::review)).outcome;
  EXPECT_FALSE(review.ok);
  EXPECT_NE(review.error.find("\"verdict\""), std::string::npos) << review.error;
  const auto plan = coder->answer(task(roles::TaskKind::plan)).outcome;
  EXPECT_FALSE(plan.ok);
  EXPECT_NE(plan.error.find("\"plan\""), std::string::npos) << plan.error;

  auto typed = brain_for("print('{\"candidate\": {\"content\": 5}, \"tokens_in\": -1}')\n");
  ASSERT_TRUE(typed);
  EXPECT_FALSE(typed->answer(task(roles::TaskKind::solve)).outcome.ok);
  auto list = brain_for("print('[1, 2]')\n");
  ASSERT_TRUE(list);
  EXPECT_FALSE(list->answer(task(roles::TaskKind::solve)).outcome.ok);
  auto verdict = brain_for("print('{\"verdict\": {\"score\": 0.5}}')\n");
  ASSERT_TRUE(verdict);
  const auto no_accept = verdict->answer(task(roles::TaskKind::review)).outcome;
  EXPECT_FALSE(no_accept.ok);
  EXPECT_NE(no_accept.error.find("verdict has no \"accept\""), std::string::npos)
      << no_accept.error;
  auto cyclic = brain_for(R"(
print('{"plan": [{"id": "a", "depends_on": ["b"]}, {"id": "b", "depends_on": ["a"]}]}')
)");
  ASSERT_TRUE(cyclic);
  const auto cycle = cyclic->answer(task(roles::TaskKind::plan)).outcome;
  EXPECT_FALSE(cycle.ok);
  EXPECT_NE(cycle.error.find("cycle"), std::string::npos) << cycle.error;
}

TEST_F(ExecBrainTest, ItsOwnFailureIsPassedOnWithItsTokens) {
  auto brain = brain_for(
      "print('{\"ok\": false, \"error\": \"rate limited\", \"tokens_in\": 9, \"tokens_out\": "
      "1}')\n");
  ASSERT_TRUE(brain);
  const auto out = brain->answer(task(roles::TaskKind::solve)).outcome;
  EXPECT_FALSE(out.ok);
  EXPECT_NE(out.error.find("rate limited"), std::string::npos) << out.error;
  EXPECT_EQ(out.tokens_in, 9u);
  EXPECT_EQ(out.tokens_out, 1u);
}

TEST_F(ExecBrainTest, AMemoryLimitStopsAGreedyProgram) {
  auto brain = brain_for("x = bytearray(512 * 1024 * 1024)\nprint('{}')\n", {{"memory_mb", "100"}});
  ASSERT_TRUE(brain);
  const auto out = brain->answer(task(roles::TaskKind::solve)).outcome;
  EXPECT_FALSE(out.ok);
  EXPECT_NE(out.error.find("MemoryError"), std::string::npos) << out.error;
}

TEST_F(ExecBrainTest, AMissingProgramIsAFailedOutcome) {
  auto brain = make_brain("exec", "coder", "m", {{"command", "no-such-cadre-tool --flag"}});
  ASSERT_TRUE(brain.ok()) << brain.error().to_string();
  const auto out = brain.value()->answer(task(roles::TaskKind::solve)).outcome;
  EXPECT_FALSE(out.ok);
  EXPECT_NE(out.error.find("cannot run 'no-such-cadre-tool'"), std::string::npos) << out.error;
}

TEST_F(ExecBrainTest, AnswersSeveralTasksAtOnce) {
  auto brain = brain_for(R"(
import json, sys, time
task = json.load(sys.stdin)
time.sleep(0.2)
print(json.dumps({"candidate": {"content": task["task_id"]}}))
)");
  ASSERT_TRUE(brain);
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      auto t = task(roles::TaskKind::solve);
      t.task_id = "s" + std::to_string(i);
      const auto out = brain->answer(t).outcome;
      if (out.ok && out.candidate && out.candidate->content == t.task_id) ++good;
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(good.load(), 4);
}

TEST_F(ExecBrainTest, TheDocumentedExampleAnswersEveryKind) {
  std::ifstream doc(std::string(CADRE_SOURCE_DIR) + "/docs/exec-brain.md");
  ASSERT_TRUE(doc) << "docs/exec-brain.md is missing";
  const std::string text((std::istreambuf_iterator<char>(doc)), std::istreambuf_iterator<char>());
  const std::string fence = "```python\n";
  const auto start = text.find(fence);
  ASSERT_NE(start, std::string::npos);
  const auto end = text.find("```", start + fence.size());
  ASSERT_NE(end, std::string::npos);
  auto brain = brain_for(text.substr(start + fence.size(), end - start - fence.size()));
  ASSERT_TRUE(brain);

  const auto planned = brain->answer(task(roles::TaskKind::plan)).outcome;
  ASSERT_TRUE(planned.ok) << planned.error;
  ASSERT_EQ(planned.plan.size(), 1u);
  EXPECT_EQ(planned.plan[0].id, "a");
  const auto solved = brain->answer(task(roles::TaskKind::solve)).outcome;
  ASSERT_TRUE(solved.ok) << solved.error;
  ASSERT_TRUE(solved.candidate && solved.candidate->files.size() == 1u);
  EXPECT_EQ(solved.candidate->files[0].path, "s1.py");
  EXPECT_GT(solved.tokens_in, 0u);
  auto resolve = task(roles::TaskKind::resolve);
  resolve.task_id = "s1/resolve";
  const auto resolved = brain->answer(resolve).outcome;
  ASSERT_TRUE(resolved.ok) << resolved.error;
  EXPECT_EQ(resolved.candidate->files[0].path, "s1_resolve.py");
  auto review = task(roles::TaskKind::review);
  review.candidate = solved.candidate;
  const auto reviewed = brain->answer(review).outcome;
  ASSERT_TRUE(reviewed.ok) << reviewed.error;
  ASSERT_TRUE(reviewed.verdict.has_value());
  EXPECT_TRUE(reviewed.verdict->accept);
  const auto rejected = brain->answer(task(roles::TaskKind::review)).outcome;  // no files
  ASSERT_TRUE(rejected.ok) << rejected.error;
  EXPECT_FALSE(rejected.verdict->accept);
}

TEST(ExecBrainParams, ReadsTheCommandAsAListOrWords) {
  auto list = parse_exec_params({{"command", "[\"python3\", \"my agent.py\"]"},
                                 {"timeout_s", "5"},
                                 {"cpu_s", "2.5"},
                                 {"memory_mb", "256"}});
  ASSERT_TRUE(list.ok()) << list.error().to_string();
  EXPECT_EQ(list->command, (std::vector<std::string>{"python3", "my agent.py"}));
  EXPECT_DOUBLE_EQ(list->timeout_s, 5);
  EXPECT_DOUBLE_EQ(list->cpu_s, 2.5);
  EXPECT_EQ(list->memory_mb, 256u);
  auto words = parse_exec_params({{"command", "  node  agent.js --fast "}});
  ASSERT_TRUE(words.ok());
  EXPECT_EQ(words->command, (std::vector<std::string>{"node", "agent.js", "--fast"}));
  EXPECT_DOUBLE_EQ(words->timeout_s, 60);
  EXPECT_EQ(words->memory_mb, 0u);
}

TEST(ExecBrainParams, RefusesBadParameters) {
  const auto error_of = [](std::map<std::string, std::string> params) {
    auto brain = make_brain("exec", "coder", "m", params);
    return brain.ok() ? std::string("(accepted)") : brain.error().message;
  };
  EXPECT_NE(error_of({}).find("needs 'command'"), std::string::npos);
  EXPECT_NE(error_of({{"command", ""}}).find("must name a program"), std::string::npos);
  EXPECT_NE(error_of({{"command", "[]"}}).find("must name a program"), std::string::npos);
  EXPECT_NE(error_of({{"command", "[\"a\", 3]"}}).find("item 1 is not a string"),
            std::string::npos);
  EXPECT_NE(error_of({{"command", "[\"a\""}}).find("not a valid JSON list"), std::string::npos);
  EXPECT_EQ(error_of({{"command", "x"}, {"timeout", "5"}}),
            "unknown brain parameter 'timeout' for brain 'exec' (known: command, timeout_s, "
            "cpu_s, memory_mb)");
  EXPECT_NE(error_of({{"command", "x"}, {"timeout_s", "0"}}).find("'timeout_s'"),
            std::string::npos);
  EXPECT_NE(error_of({{"command", "x"}, {"cpu_s", "lots"}}).find("'cpu_s'"), std::string::npos);
  EXPECT_NE(error_of({{"command", "x"}, {"memory_mb", "1.5"}}).find("'memory_mb'"),
            std::string::npos);
  EXPECT_NE(error_of({{"command", "x"}, {"memory_mb", "-1"}}).find("'memory_mb'"),
            std::string::npos);
}

TEST(ExecBrainJson, TheTaskDocumentCarriesEveryField) {
  roles::TaskAssignment t;
  t.goal_id = "g";
  t.task_id = "s1/review";
  t.kind = roles::TaskKind::review;
  t.candidate = roles::Candidate{"c", std::nullopt, {{"a.txt", "A"}}};
  t.workspace_files = {{"b.txt", "B"}};
  t.instructions = std::string("bad \xff utf8");
  const std::string text = exec_task_json(t);
  for (const char* key :
       {"\"goal_id\":\"g\"", "\"task_id\":\"s1/review\"", "\"kind\":\"review\"", "\"kind_id\":3",
        "\"attempt\":0", "\"role\":", "\"seed\":0", "\"revision\":0", "\"difficulty\":0.5",
        "\"goal_title\":", "\"goal_subtasks\":[]", "\"feedback\":[]", "\"lease_ms\":0",
        "\"workspace_files\":[{\"content\":\"B\",\"path\":\"b.txt\"}]",
        "\"files\":[{\"content\":\"A\",\"path\":\"a.txt\"}]"}) {
    EXPECT_NE(text.find(key), std::string::npos) << key << " missing from " << text;
  }
  EXPECT_EQ(text.find("sim_correct"), std::string::npos);
  EXPECT_NE(text.find("bad \xEF\xBF\xBD utf8"), std::string::npos) << text;  // replaced, no throw
}

}  // namespace
}  // namespace cadre::agents
