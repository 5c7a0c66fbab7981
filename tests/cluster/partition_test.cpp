// Several hosts on one machine: network namespaces joined by veth links — the hub in one, agents
// in two others — run a team over TCP with CURVE. Mid-run one agent host's link is cut: the hub
// declares its agents gone, their tasks are requeued, and the run goes on with the other host.
// When the link returns those agents reconnect and take work again; no goal is lost.
//
// Needs root (CAP_NET_ADMIN) and iproute2; skips, saying why, where namespaces cannot be made.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <set>

#include "process_harness.h"

namespace cadre::testing {
namespace {

using namespace std::chrono_literals;

// Runs `ip ARGS...`; returns its exit code.
int ip(const std::vector<std::string>& args, std::string* output = nullptr) {
  std::vector<std::string> argv = {"/usr/sbin/ip"};
  argv.insert(argv.end(), args.begin(), args.end());
  static int n = 0;
  const std::string log = std::filesystem::temp_directory_path() /
                          ("cadre-ip-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
  auto [code, text] = run_to_end(argv, log, 10s);
  std::filesystem::remove(log);
  if (output) *output = text;
  return code;
}

// Three namespaces: hub <-> host1 on 10.91.1.0/24, hub <-> host2 on 10.91.2.0/24. Removed, with
// their links, on destruction.
class NetworkLab {
 public:
  NetworkLab() {
    const std::string tag = std::to_string(::getpid() % 100000);
    hub_ = "cadre-hub-" + tag;
    hosts_ = {"cadre-h1-" + tag, "cadre-h2-" + tag};
    for (const auto& ns : {hub_, hosts_[0], hosts_[1]}) {
      if (ip({"netns", "add", ns}, &error_) != 0) return;
      created_.push_back(ns);
      if (ip({"-n", ns, "link", "set", "lo", "up"}, &error_) != 0) return;
    }
    for (int i = 0; i < 2; ++i) {
      const std::string hub_side = "ch" + std::to_string(i + 1) + "-" + tag;
      const std::string host_side = "ca" + std::to_string(i + 1) + "-" + tag;
      const std::string net = "10.91." + std::to_string(i + 1) + ".";
      links_.push_back(hub_side);
      if (ip({"link", "add", hub_side, "netns", hub_, "type", "veth", "peer", "name", host_side,
              "netns", hosts_[i]}, &error_) != 0 ||
          ip({"-n", hub_, "addr", "add", net + "1/24", "dev", hub_side}, &error_) != 0 ||
          ip({"-n", hosts_[i], "addr", "add", net + "2/24", "dev", host_side}, &error_) != 0 ||
          ip({"-n", hub_, "link", "set", hub_side, "up"}, &error_) != 0 ||
          ip({"-n", hosts_[i], "link", "set", host_side, "up"}, &error_) != 0)
        return;
    }
    ready_ = true;
  }
  ~NetworkLab() {
    for (const auto& ns : created_) ip({"netns", "del", ns});
  }
  bool ready() const { return ready_; }
  const std::string& error() const { return error_; }
  const std::string& hub() const { return hub_; }
  const std::string& host(int i) const { return hosts_[i]; }
  std::string hub_address_for(int i) const { return "10.91." + std::to_string(i + 1) + ".1"; }
  // Takes the hub's side of host i's link down or up.
  bool set_link(int i, bool up) {
    return ip({"-n", hub_, "link", "set", links_[i], up ? "up" : "down"}) == 0;
  }

 private:
  std::string hub_;
  std::vector<std::string> hosts_;
  std::vector<std::string> links_;
  std::vector<std::string> created_;
  std::string error_;
  bool ready_ = false;
};

TEST(Partition, ACutHostsTasksAreReassignedAndItsAgentsReturnWhenTheLinkDoes) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to create network namespaces";
  if (!std::filesystem::exists("/usr/sbin/ip")) GTEST_SKIP() << "needs iproute2 (/usr/sbin/ip)";
  NetworkLab lab;
  if (!lab.ready()) GTEST_SKIP() << "cannot create network namespaces here: " << lab.error();

  TempDir dir("partition");
  const std::string keys = dir.path() + "/keys";
  ASSERT_EQ(run_to_end({cadre_binary(), "keys", "gen", keys}, dir.path() + "/keys.log", 10s).first, 0);
  const std::string scenario = source_dir() + "/tests/cluster/partition.yaml";
  const std::string out = dir.path() + "/run";
  ChildProcess hub({"/usr/sbin/ip", "netns", "exec", lab.hub(), cadre_binary(), "hub", scenario,
                    "--listen", "tcp://0.0.0.0:7700", "--keys", keys, "--out", out, "--wait-s", "30"},
                   dir.path() + "/hub.log");
  ASSERT_TRUE(eventually([&] { return std::filesystem::exists(out + "/hub.endpoint"); }, 10s))
      << read_file(dir.path() + "/hub.log");

  // Each host runs one agent of every role of the scenario's team (count 2 each: one per host).
  const std::vector<std::string> roles = {"planner", "coder", "coder", "critic", "human"};
  std::vector<std::unique_ptr<ChildProcess>> agents;
  std::map<std::string, int> host_of;  // agent id -> host index
  for (int h = 0; h < 2; ++h) {
    for (std::size_t r = 0; r < roles.size(); ++r) {
      const std::string id = "h" + std::to_string(h + 1) + "-" + roles[r] + "-" + std::to_string(r);
      host_of[id] = h;
      agents.push_back(std::make_unique<ChildProcess>(
          std::vector<std::string>{"/usr/sbin/ip", "netns", "exec", lab.host(h), cadre_binary(),
                                   "agent", "--hub", "tcp://" + lab.hub_address_for(h) + ":7700",
                                   "--scenario", scenario, "--role", roles[r], "--id", id,
                                   "--keys", keys, "--hub-timeout", "60"},
          dir.path() + "/" + id + ".log"));
    }
  }

  // Once host 2's agents have results accepted, cut its link for longer than a lease.
  auto results_from_host = [&](int h) {
    int n = 0;
    for (const auto& event : read_journal_events(out))
      if (event["ev"] == "result" && host_of.count(event["agent"]) && host_of[event["agent"]] == h) ++n;
    return n;
  };
  ASSERT_TRUE(eventually([&] { return results_from_host(1) >= 5; }, 30s))
      << read_file(dir.path() + "/hub.log");
  ASSERT_TRUE(lab.set_link(1, false));
  // The hub notices: host 2's agents leave on missed heartbeats.
  auto left_from_host = [&](int h) {
    std::set<std::string> gone;
    for (const auto& event : read_journal_events(out))
      if (event["ev"] == "leave" && host_of.count(event["agent"]) && host_of[event["agent"]] == h)
        gone.insert(event["agent"].get<std::string>());
    return gone.size();
  };
  ASSERT_TRUE(eventually([&] { return left_from_host(1) == roles.size(); }, 10s))
      << read_file(dir.path() + "/hub.log");
  std::this_thread::sleep_for(2500ms);  // > lease_s: the work goes on without host 2
  ASSERT_TRUE(lab.set_link(1, true));

  const auto status = hub.wait_for(120s);
  ASSERT_TRUE(status && WIFEXITED(*status)) << read_file(dir.path() + "/hub.log");
  ASSERT_EQ(WEXITSTATUS(*status), 0) << read_file(dir.path() + "/hub.log");

  const auto report = read_json(out + "/report.json");
  EXPECT_EQ(report["goals"]["open"], 0);
  EXPECT_EQ(report["goals"]["total"], 32);
  EXPECT_GT(report["tasks"]["requeued"].get<int>(), 0) << "the cut host held no task";
  // Every goal exactly once, in a terminal state.
  std::set<std::string> goals;
  for (const auto& goal : read_jsonl(out + "/goals.jsonl")) {
    EXPECT_TRUE(goals.insert(goal["id"].get<std::string>()).second) << goal.dump();
    EXPECT_TRUE(goal["outcome"] == "resolved" || goal["outcome"] == "escalated" ||
                goal["outcome"] == "failed")
        << goal.dump();
  }
  EXPECT_EQ(goals.size(), 32u);

  // After the link returned, host 2's agents joined again and were given work again.
  std::map<std::string, int> joins;
  int dispatched_after_return = 0;
  for (const auto& event : read_journal_events(out)) {
    if (!event.contains("agent") || !host_of.count(event["agent"]) || host_of[event["agent"]] != 1)
      continue;
    const std::string agent = event["agent"];
    if (event["ev"] == "join") ++joins[agent];
    if (event["ev"] == "dispatch" && joins[agent] >= 2) ++dispatched_after_return;
  }
  int rejoined = 0;
  for (const auto& [agent, n] : joins) rejoined += n >= 2;
  EXPECT_GT(rejoined, 0) << "no agent of the cut host came back";
  EXPECT_GT(dispatched_after_return, 0) << "the returning agents got no work";
  for (auto& agent : agents) agent->wait_for(10s);
}

}  // namespace
}  // namespace cadre::testing
