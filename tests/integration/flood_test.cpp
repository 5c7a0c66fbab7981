// Backpressure: a misbehaving peer floods the hub with frames as fast as it can — garbage,
// truncated envelopes, heartbeats without a HELLO — and never reads the hub's answers. The hub's
// memory stays flat (its queues are bounded per peer), and the team is served as if the flood
// were not there: every goal ends as in a clean run.
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "cadre/transport/endpoint.h"
#include "cadre/transport/envelope.h"
#include "process_harness.h"

namespace cadre::testing {
namespace {

using namespace std::chrono_literals;

// Under AddressSanitizer (ci/sanitize.sh) the hub's RSS is dominated by ASan's quarantine of freed
// memory (256 MiB, filling while the flood runs), so memory growth says nothing about the hub's
// queues: that one check is skipped there; the rest of the test still runs.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kUnderAsan = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kUnderAsan = true;
#else
constexpr bool kUnderAsan = false;
#endif
#else
constexpr bool kUnderAsan = false;
#endif

// Resident memory of `pid` in KiB (VmRSS), or -1.
long rss_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

std::map<std::string, std::string> outcomes(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& goal : read_jsonl(dir + "/goals.jsonl")) out[goal["id"]] = goal["outcome"];
  return out;
}

TEST(Flood, AFloodingPeerNeitherGrowsTheHubsMemoryNorStarvesTheTeam) {
  TempDir dir("flood");
  const std::vector<std::string> settings = {"--set", "workflow.time_scale=0.05", "-q"};
  auto argv_for = [&](const std::string& out) {
    std::vector<std::string> argv = {cadre_binary(), "run", scenario_path("small-team.yaml"), "--out", out};
    argv.insert(argv.end(), settings.begin(), settings.end());
    return argv;
  };
  const std::string clean = dir.path() + "/clean";
  const auto clean_started = std::chrono::steady_clock::now();
  auto [clean_code, clean_output] = run_to_end(argv_for(clean), clean + ".log", 120s);
  ASSERT_EQ(clean_code, 0) << clean_output;
  const auto clean_time = std::chrono::steady_clock::now() - clean_started;

  const std::string out = dir.path() + "/flooded";
  const auto started = std::chrono::steady_clock::now();
  ChildProcess hub(argv_for(out), out + ".log");
  ASSERT_TRUE(eventually([&] { return read_file(out + "/hub.endpoint").size() > 6; }, 10s));
  std::string endpoint = read_file(out + "/hub.endpoint");
  endpoint.pop_back();

  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> sent{0}, refused{0};
  std::thread flooder([&] {
    auto dealer = transport::DealerEndpoint::connect(endpoint, "flooder");
    if (!dealer.ok()) return;
    std::mt19937 random(7);
    transport::Envelope heartbeat;
    heartbeat.sender = "flooder";
    const std::string valid = transport::encode_envelope(heartbeat);
    std::vector<std::string> frames = {valid, valid.substr(0, valid.size() / 2),
                                       std::string(300, '\xc1'), std::string("\x95\x01\x03", 3)};
    for (int i = 0; i < 8; ++i) {
      std::string junk(64 + random() % 512, '\0');
      for (auto& c : junk) c = static_cast<char>(random());
      frames.push_back(junk);
    }
    for (std::size_t i = 0; !stop.load(); ++i) {
      if ((*dealer)->send(frames[i % frames.size()])) {
        ++sent;
      } else {
        ++refused;  // the hub is not reading that fast: the peer is held back
        std::this_thread::sleep_for(100us);
      }
    }
  });

  long baseline = -1, peak = 0;
  std::optional<int> status;
  while (!(status = hub.wait_for(100ms))) {
    const long rss = rss_kib(hub.pid());
    if (std::chrono::steady_clock::now() - started > 2s && baseline < 0) baseline = rss;
    peak = std::max(peak, rss);
    if (std::chrono::steady_clock::now() - started > 120s) break;
  }
  stop = true;
  flooder.join();
  ASSERT_TRUE(status && WIFEXITED(*status)) << read_file(out + ".log");
  EXPECT_EQ(WEXITSTATUS(*status), 0) << read_file(out + ".log");
  const auto flooded_time = std::chrono::steady_clock::now() - started;

  const auto report = read_json(out + "/report.json");
  std::cout << "flood: " << sent << " frames sent, " << refused << " sends held back, "
            << report["messages"]["malformed"] << " counted malformed; hub RSS "
            << baseline / 1024 << " MiB at 2 s, peak " << peak / 1024 << " MiB; run "
            << std::chrono::duration<double>(flooded_time).count() << " s (clean "
            << std::chrono::duration<double>(clean_time).count() << " s)\n";
  EXPECT_GT(sent.load(), 100000u) << "the flood was not a flood";
  EXPECT_GT(report["messages"]["malformed"].get<std::uint64_t>(), 10000u);
  ASSERT_GT(baseline, 0);
  if (!kUnderAsan) {
    EXPECT_LT(peak - baseline, 32 * 1024) << "the hub's memory grew under the flood";
  }
  // The team was served: the same outcomes, in not much more time.
  EXPECT_EQ(outcomes(out), outcomes(clean));
  EXPECT_LT(flooded_time, clean_time * 3 + 5s);
}

}  // namespace
}  // namespace cadre::testing
