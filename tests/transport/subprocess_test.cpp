// run_subprocess: input, output, exit codes, timeouts that reach grandchildren, limits.
#include "cadre/subprocess.h"

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

namespace cadre {
namespace {

SubprocessLimits quick(double timeout_s = 10) {
  SubprocessLimits limits;
  limits.timeout_s = timeout_s;
  return limits;
}

TEST(Subprocess, PassesStdinThroughAndCollectsStdout) {
  auto run = run_subprocess({"cat"}, "hello\nworld\n", quick());
  ASSERT_TRUE(run.ok()) << run.error().to_string();
  EXPECT_EQ(run->exit_code, 0);
  EXPECT_EQ(run->stdout_text, "hello\nworld\n");
  EXPECT_EQ(run->describe(), "exit 0");
}

TEST(Subprocess, ReportsExitCodesAndStderr) {
  auto run = run_subprocess({"sh", "-c", "echo oops >&2; exit 3"}, "", quick());
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->exit_code, 3);
  EXPECT_EQ(run->stderr_text, "oops\n");
  EXPECT_EQ(run->describe(), "exit 3");
}

TEST(Subprocess, LargeOutputAndInputDoNotDeadlock) {
  const std::string input(4 << 20, 'x');
  auto run = run_subprocess({"cat"}, input, quick());
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->stdout_text.size(), input.size());
  // Both streams full at once: the child blocks on stderr unless the parent drains both.
  auto both = run_subprocess(
      {"sh", "-c", "head -c 3000000 /dev/zero >&2; head -c 5000000 /dev/zero; echo x >&2"}, "",
      quick());
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(both->exit_code, 0);
  EXPECT_EQ(both->stdout_text.size(), 5000000u);
  EXPECT_EQ(both->stderr_text.size(), 3000002u);
}

TEST(Subprocess, ATimeoutKillsTheWholeProcessGroup) {
  const auto marker =
      std::filesystem::temp_directory_path() / ("cadre-subprocess-" + std::to_string(::getpid()));
  auto run = run_subprocess({"sh", "-c", "sleep 30 & echo $! > " + marker.string() + "; sleep 30"},
                            "", quick(0.5));
  ASSERT_TRUE(run.ok());
  EXPECT_TRUE(run->timed_out);
  EXPECT_LT(run->seconds, 5.0);
  EXPECT_NE(run->describe().find("timed out"), std::string::npos);
  std::ifstream in(marker);
  pid_t grandchild = 0;
  in >> grandchild;
  ASSERT_GT(grandchild, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  // Gone, or a zombie waiting for whoever adopted it: either way no longer running.
  std::ifstream stat("/proc/" + std::to_string(grandchild) + "/stat");
  std::string state;
  if (stat) {
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    state = text.substr(text.rfind(')') + 2, 1);
  }
  EXPECT_TRUE(state.empty() || state == "Z") << "the grandchild survived, state " << state;
  std::filesystem::remove(marker);
}

TEST(Subprocess, AMemoryLimitStopsABigAllocation) {
  SubprocessLimits limits = quick();
  limits.memory_mb = 100;
  auto run = run_subprocess({"python3", "-c", "x = bytearray(512 * 1024 * 1024)"}, "", limits);
  ASSERT_TRUE(run.ok());
  EXPECT_NE(run->exit_code, 0);
}

TEST(Subprocess, ACpuLimitStopsABusyLoop) {
  SubprocessLimits limits = quick();
  limits.cpu_s = 1;
  auto run = run_subprocess({"sh", "-c", "while :; do :; done"}, "", limits);
  ASSERT_TRUE(run.ok());
  EXPECT_FALSE(run->timed_out);
  EXPECT_EQ(run->term_signal, SIGXCPU);
  EXPECT_EQ(run->describe(), "exceeded its CPU limit");
}

TEST(Subprocess, AMissingProgramIsAnErrorNamingIt) {
  auto run = run_subprocess({"no-such-program-cadre"}, "", quick());
  ASSERT_FALSE(run.ok());
  EXPECT_EQ(run.error().message, "cannot run 'no-such-program-cadre': No such file or directory");
  auto by_path = run_subprocess({"/no/such/dir/prog"}, "", quick());
  ASSERT_FALSE(by_path.ok());
  EXPECT_NE(by_path.error().message.find("'/no/such/dir/prog'"), std::string::npos);
}

TEST(Subprocess, HonoursTheWorkingFolderAndExtraEnvironment) {
  const auto dir = std::filesystem::temp_directory_path();
  auto run = run_subprocess({"sh", "-c", "pwd; echo $CADRE_TEST_VALUE"}, "", quick(), dir.string(),
                            {{"CADRE_TEST_VALUE", "42"}});
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->stdout_text, std::filesystem::canonical(dir).string() + "\n42\n");
  auto missing = run_subprocess({"true"}, "", quick(), "/no/such/folder");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("cannot enter '/no/such/folder'"), std::string::npos)
      << missing.error().message;
}

TEST(Subprocess, AChildThatIgnoresItsInputDoesNotKillTheCaller) {
  // Without SIGPIPE handling, writing 1 MiB to a child that exits at once kills this process.
  const std::string input(1 << 20, 'y');
  for (int i = 0; i < 3; ++i) {
    auto run = run_subprocess({"true"}, input, quick());
    ASSERT_TRUE(run.ok());
    EXPECT_EQ(run->exit_code, 0);
  }
  sigset_t pending;
  sigemptyset(&pending);
  sigpending(&pending);
  EXPECT_FALSE(sigismember(&pending, SIGPIPE)) << "a SIGPIPE was left pending";
}

TEST(Subprocess, KillsWhatTheChildLeftBehindWhenItExits) {
  // The background sleep keeps stdout open; the run must still end when `sh` exits.
  auto run = run_subprocess({"sh", "-c", "sleep 30 & echo done"}, "", quick(10));
  ASSERT_TRUE(run.ok());
  EXPECT_FALSE(run->timed_out);
  EXPECT_EQ(run->exit_code, 0);
  EXPECT_EQ(run->stdout_text, "done\n");
  EXPECT_LT(run->seconds, 2.0);
}

TEST(Subprocess, ReportsASignalAndTruncatesLongOutput) {
  auto killed = run_subprocess({"sh", "-c", "kill -9 $$"}, "", quick());
  ASSERT_TRUE(killed.ok());
  EXPECT_EQ(killed->term_signal, SIGKILL);
  EXPECT_EQ(killed->describe().rfind("killed by signal 9", 0), 0u) << killed->describe();

  SubprocessLimits limits = quick();
  limits.max_output_bytes = 1000;
  auto chatty = run_subprocess({"sh", "-c", "head -c 100000 /dev/zero; echo end"}, "", limits);
  ASSERT_TRUE(chatty.ok());
  EXPECT_EQ(chatty->exit_code, 0);
  EXPECT_TRUE(chatty->output_truncated);
  EXPECT_EQ(chatty->stdout_text.size(), 1000u);
}

TEST(Subprocess, AScriptWithoutAShebangRunsUnderSh) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("cadre-subprocess-script-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto script = dir / "plain-script";
  std::ofstream(script) << "echo from-script \"$1\"\n";
  std::filesystem::permissions(script, std::filesystem::perms::owner_all);
  auto run = run_subprocess({"plain-script", "arg"}, "", quick(), {},
                            {{"PATH", dir.string() + ":/usr/bin:/bin"}});
  ASSERT_TRUE(run.ok()) << run.error().to_string();
  EXPECT_EQ(run->stdout_text, "from-script arg\n");
  std::filesystem::remove_all(dir);
}

TEST(Subprocess, EndsEvenWhenTheCallerIgnoresSIGCHLD) {
  // SIGCHLD ignored: the kernel reaps children itself; the exit status is lost but the run
  // must still end when the child does, not at its timeout.
  struct sigaction ignore {
  }, old{};
  ignore.sa_handler = SIG_IGN;
  sigaction(SIGCHLD, &ignore, &old);
  auto run = run_subprocess({"sh", "-c", "echo hi"}, "", quick(5));
  sigaction(SIGCHLD, &old, nullptr);
  ASSERT_TRUE(run.ok());
  EXPECT_FALSE(run->timed_out);
  EXPECT_EQ(run->stdout_text, "hi\n");
  EXPECT_LT(run->seconds, 2.0);
}

// Waits up to `timeout` for `path` to hold a pid (written by the child); 0 if it never does.
pid_t wait_for_pid_file(const std::filesystem::path& path, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(path);
    pid_t pid = 0;
    if (in >> pid && pid > 0) return pid;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return 0;
}

// "" when `pid` no longer exists, else its state letter ("Z": a zombie waiting for its reaper).
std::string process_state(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return "";
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  return text.substr(text.rfind(')') + 2, 1);
}

TEST(Subprocess, ACancelStopsTheWholeProcessGroupAtOnceAndReapsTheChild) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("cadre-subprocess-cancel-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto child_file = dir / "child", grandchild_file = dir / "grandchild";
  // The child (`sh`, the group's leader) and a grandchild in its group both sleep 30 s; the pid
  // files are written whole (then renamed) so a reader never sees half a number.
  const std::string script = "sleep 30 & echo $! > " + grandchild_file.string() + ".tmp; mv " +
                             grandchild_file.string() + ".tmp " + grandchild_file.string() +
                             "; echo $$ > " + child_file.string() + ".tmp; mv " +
                             child_file.string() + ".tmp " + child_file.string() + "; wait";
  std::atomic<bool> cancel{false};
  SubprocessLimits limits = quick(60);
  limits.cancel = &cancel;
  auto running = std::async(std::launch::async, [&] {
    return run_subprocess({"sh", "-c", script}, "input it never reads", limits);
  });
  const pid_t child = wait_for_pid_file(child_file, std::chrono::seconds(10));
  const pid_t grandchild = wait_for_pid_file(grandchild_file, std::chrono::seconds(10));
  ASSERT_GT(child, 0);
  ASSERT_GT(grandchild, 0);
  EXPECT_EQ(::getpgid(grandchild), child) << "the grandchild is in the child's group";

  const auto set_at = std::chrono::steady_clock::now();
  cancel = true;
  ASSERT_EQ(running.wait_for(std::chrono::seconds(5)), std::future_status::ready)
      << "the command outlived its cancel";
  const double latency =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - set_at).count();
  auto run = running.get();
  ASSERT_TRUE(run.ok()) << run.error().to_string();
  EXPECT_TRUE(run->cancelled);
  EXPECT_FALSE(run->timed_out);
  EXPECT_EQ(run->term_signal, SIGTERM);
  EXPECT_EQ(run->describe().rfind("cancelled after", 0), 0u) << run->describe();
  EXPECT_LT(latency, 1.0) << "from the flag to the return";
  RecordProperty("cancel_latency_ms", static_cast<int>(latency * 1000));
  std::printf("cancel latency: %.0f ms\n", latency * 1000);

  // The child was reaped by the call (it is gone, not a zombie, and no longer ours to wait for);
  // the grandchild was killed with the group (gone, or a zombie its adopter has yet to reap).
  errno = 0;
  EXPECT_EQ(::kill(child, 0), -1);
  EXPECT_EQ(errno, ESRCH);
  EXPECT_EQ(::waitpid(child, nullptr, WNOHANG), -1);
  EXPECT_EQ(process_state(child), "");
  std::string state = process_state(grandchild);
  for (int i = 0; i < 100 && !state.empty() && state != "Z"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    state = process_state(grandchild);
  }
  EXPECT_TRUE(state.empty() || state == "Z") << "the grandchild survived, state " << state;
  std::filesystem::remove_all(dir);
}

TEST(Subprocess, AProgramThatIgnoresSIGTERMIsKilledOnCancelToo) {
  std::atomic<bool> cancel{false};
  SubprocessLimits limits = quick(60);
  limits.cancel = &cancel;
  auto running = std::async(std::launch::async, [&] {
    return run_subprocess({"sh", "-c", "trap '' TERM; echo ready; while :; do sleep 1; done"}, "",
                          limits);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto set_at = std::chrono::steady_clock::now();
  cancel = true;
  ASSERT_EQ(running.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  const auto latency = std::chrono::steady_clock::now() - set_at;
  auto run = running.get();
  ASSERT_TRUE(run.ok());
  EXPECT_TRUE(run->cancelled);
  EXPECT_EQ(run->term_signal, SIGKILL);  // after the 200 ms grace
  EXPECT_LT(latency, std::chrono::seconds(2));
}

TEST(Subprocess, ACancelSetBeforeTheCallStartsNothing) {
  std::atomic<bool> cancel{true};
  SubprocessLimits limits = quick();
  limits.cancel = &cancel;
  const auto marker = std::filesystem::temp_directory_path() /
                      ("cadre-subprocess-never-" + std::to_string(::getpid()));
  auto run = run_subprocess({"touch", marker.string()}, "", limits);
  ASSERT_TRUE(run.ok());
  EXPECT_TRUE(run->cancelled);
  EXPECT_EQ(run->exit_code, -1);
  EXPECT_FALSE(std::filesystem::exists(marker));
  // An unset flag changes nothing.
  cancel = false;
  auto normal = run_subprocess({"sh", "-c", "echo hi"}, "", limits);
  ASSERT_TRUE(normal.ok());
  EXPECT_FALSE(normal->cancelled);
  EXPECT_EQ(normal->stdout_text, "hi\n");
}

TEST(Subprocess, RunsFromSeveralThreadsAtOnce) {
  std::vector<std::thread> threads;
  std::atomic<int> good{0};
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&, i] {
      const std::string input(200000 + i, static_cast<char>('a' + i));
      auto run = run_subprocess({"sh", "-c", "sleep 0.2; cat"}, input, quick());
      if (run.ok() && run->exit_code == 0 && run->stdout_text == input) ++good;
    });
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(good.load(), 4);
}

}  // namespace
}  // namespace cadre
