// The fake OpenAI-compatible server (tests/llm/fake_openai_server.py) for multi-process tests:
// started by pid, killed by pid when it goes out of scope.
#pragma once

#include <chrono>
#include <sstream>
#include <string>
#include <vector>

#include "process_harness.h"

namespace cadre::testing {

class FakeModelServer {
 public:
  // Serves `script`, logging to DIR/server.out; `options` go to the server as they are (e.g.
  // "--log", FILE or "--quota", "240").
  FakeModelServer(const std::string& script, const std::string& dir,
                  const std::vector<std::string>& options = {})
      : dir_(dir), child_(command(script, options), dir + "/server.out") {
    eventually(
        [&] {
          std::istringstream first(read_file(dir + "/server.out"));
          std::string word;
          first >> word >> port_;
          return word == "PORT" && port_ > 0;
        },
        std::chrono::seconds(10));
  }
  int port() const { return port_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }
  // GET /stats: {"requests", "by_status": {"200": n, "429": n, ...}, "by_rule"}; null when the
  // server cannot be asked.
  nlohmann::json stats() const {
    auto [code, body] = run_to_end(
        {"/usr/bin/python3", "-c",
         "import urllib.request,sys;sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:" +
             std::to_string(port_) + "/stats').read().decode())"},
        dir_ + "/stats.out", std::chrono::seconds(10));
    if (code != 0) return nullptr;
    const nlohmann::json stats = nlohmann::json::parse(body, nullptr, false);
    return stats.is_discarded() ? nlohmann::json(nullptr) : stats;
  }

 private:
  static std::vector<std::string> command(const std::string& script,
                                          const std::vector<std::string>& options) {
    std::vector<std::string> argv = {"/usr/bin/python3",
                                     source_dir() + "/tests/llm/fake_openai_server.py", "--port",
                                     "0", "--script", script};
    argv.insert(argv.end(), options.begin(), options.end());
    return argv;
  }

  std::string dir_;
  ChildProcess child_;
  int port_ = 0;
};

}  // namespace cadre::testing
