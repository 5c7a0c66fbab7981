// `cadre run --metrics`: Prometheus scrapes of a live run while it goes on.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <sstream>
#include <string>

#include "process_harness.h"

namespace cadre::testing {
namespace {

using namespace std::chrono_literals;

// GET http://HOST:PORT/path (IPv4 literal) -> the whole response, or "" on failure.
std::string http_get(const std::string& address, const std::string& path) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos) return "";
  sockaddr_in where{};
  where.sin_family = AF_INET;
  where.sin_port = htons(static_cast<std::uint16_t>(std::stoi(address.substr(colon + 1))));
  if (::inet_pton(AF_INET, address.substr(0, colon).c_str(), &where.sin_addr) != 1) return "";
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  std::string response;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&where), sizeof where) == 0) {
    const std::string request = "GET " + path + " HTTP/1.0\r\nHost: x\r\n\r\n";
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
        static_cast<ssize_t>(request.size())) {
      char buffer[8192];
      for (ssize_t n; (n = ::recv(fd, buffer, sizeof buffer, 0)) > 0;) response.append(buffer, n);
    }
  }
  ::close(fd);
  return response;
}

// "name{labels}" -> value for every sample line of a text exposition.
std::map<std::string, double> samples_of(const std::string& body) {
  std::map<std::string, double> out;
  std::istringstream in(body);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.rfind(' ');
    out[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return out;
}

TEST(Metrics, AScrapeDuringALiveRunShowsTheTeamAtWork) {
  TempDir dir("metrics");
  const std::string run_dir = dir.path() + "/run";
  ChildProcess run({cadre_binary(), "run", scenario_path("small-team.yaml"), "--out", run_dir,
                    "--metrics", "127.0.0.1:0", "-q"},
                   dir.path() + "/run.log");
  std::string address;
  ASSERT_TRUE(eventually(
      [&] {
        std::istringstream(read_file(run_dir + "/metrics.address")) >> address;
        return !address.empty();
      },
      20s))
      << read_file(dir.path() + "/run.log");

  // Scrape until one lands in the middle of the run: some work done, some goals still open.
  std::map<std::string, double> mid;
  std::string response;
  ASSERT_TRUE(eventually(
      [&] {
        response = http_get(address, "/metrics");
        const auto body = response.find("\r\n\r\n");
        if (response.rfind("HTTP/1.", 0) != 0 || body == std::string::npos) return false;
        mid = samples_of(response.substr(body + 4));
        return mid["cadre_tasks_completed_total"] > 0 && mid["cadre_goals{state=\"open\"}"] > 0;
      },
      30s))
      << response;
  EXPECT_NE(response.find("Content-Type: text/plain; version=0.0.4"), std::string::npos);
  EXPECT_EQ(mid["cadre_goals_in_run"], 6);
  EXPECT_EQ(mid["cadre_run_finished"], 0);
  EXPECT_GT(mid["cadre_run_elapsed_seconds"], 0);
  // Every agent of the team is there, by role; one histogram observation per dispatch.
  double agents = 0;
  for (const auto& [name, value] : mid)
    if (name.rfind("cadre_agents{", 0) == 0) agents += value;
  EXPECT_EQ(agents, 5);
  EXPECT_EQ(mid["cadre_agent_capacity{role=\"coder\"}"], 4);
  EXPECT_EQ(mid["cadre_dispatch_latency_seconds_count"], mid["cadre_tasks_dispatched_total"]);
  EXPECT_EQ(mid["cadre_dispatch_latency_seconds_bucket{le=\"+Inf\"}"],
            mid["cadre_dispatch_latency_seconds_count"]);
  EXPECT_GT(mid["cadre_messages_received_total"], 0);
  EXPECT_GT(mid["cadre_tokens_total{direction=\"out\"}"], 0);
  EXPECT_GT(mid["cadre_cost_usd_total"], 0);
  EXPECT_NE(http_get(address, "/nope").find(" 404 "), std::string::npos);

  // The run ends as usual; counters only went up, and the last scrape agrees with report.json.
  auto status = run.wait_for(60s);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(WEXITSTATUS(*status), 0) << read_file(dir.path() + "/run.log");
  const auto report = read_json(run_dir + "/report.json");
  EXPECT_GE(report.at("tasks").at("completed").get<double>(), mid["cadre_tasks_completed_total"]);
  EXPECT_GE(report.at("tasks").at("dispatched").get<double>(), mid["cadre_tasks_dispatched_total"]);
}

}  // namespace
}  // namespace cadre::testing
