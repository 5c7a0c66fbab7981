// The live hub: the shell that drives HubCore with a ZeroMQ ROUTER socket, the wall clock and the
// journal. One thread, one loop: poll the socket with a timeout up to the next deadline
// (heartbeat, lease, wall limit), feed what arrives to the core, carry out its commands.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "cadre/result.h"
#include "cadre/runtime/hub_core.h"
#include "cadre/runtime/report.h"
#include "cadre/runtime/scenario.h"

namespace cadre::runtime {

struct LiveHubOptions {
  std::string listen = "tcp://127.0.0.1:*";  // where agents connect
  std::string out_dir;                       // journal.jsonl goes here; must exist
  std::string hub_id = "hub";
  // Polled every loop iteration; returning true stops the run (partial report).
  std::function<bool()> interrupted = [] { return false; };
  // Called every loop iteration (e.g. to reap child processes). Cheap calls only.
  std::function<void()> on_idle = [] {};
  // Called with a one-line progress note when a goal ends.
  std::function<void(const std::string&)> on_progress = [](const std::string&) {};
};

class LiveHub {
 public:
  // Binds the socket and creates the journal. Fails with the endpoint or path in the error.
  static Result<std::unique_ptr<LiveHub>> create(const Scenario& scenario, LiveHubOptions options);
  ~LiveHub();

  // The endpoint agents should connect to (the bound port resolved).
  const std::string& endpoint() const;

  // Runs until every goal has ended, a limit stops the run, or `interrupted` says so. Tells the
  // agents BYE on the way out. Returns what the report needs beyond the core.
  RunFacts run();

  const HubCore& core() const;

 private:
  struct Impl;
  explicit LiveHub(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cadre::runtime
