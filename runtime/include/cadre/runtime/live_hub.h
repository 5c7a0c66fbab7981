// The live hub: the shell that drives HubCore with a ZeroMQ ROUTER socket, the wall clock and the
// journal. One thread, one loop: poll the socket with a timeout up to the next deadline
// (heartbeat, lease, wall limit), feed what arrives to the core, carry out its commands.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "cadre/result.h"
#include "cadre/runtime/hub_core.h"
#include "cadre/runtime/report.h"
#include "cadre/runtime/scenario.h"
#include "cadre/transport/endpoint.h"

namespace cadre::runtime {

struct LiveHubOptions {
  std::string listen = "tcp://127.0.0.1:*";  // where agents connect
  std::string out_dir;                       // journal.jsonl goes here; must exist
  std::string hub_id = "hub";
  // Polled every loop iteration; returning true stops the run (partial report).
  std::function<bool()> interrupted = [] { return false; };
  // Polled every loop iteration; a non-empty answer is a reason the run cannot go on (e.g. "no
  // coder left"): the run stops there, RunFacts::failure holds the reason, the report is partial.
  std::function<std::string()> failure = [] { return std::string(); };
  // Called every loop iteration (e.g. to reap child processes). Cheap calls only.
  std::function<void()> on_idle = [] {};
  // Called with a one-line progress note when a goal ends.
  std::function<void(const std::string&)> on_progress = [](const std::string&) {};
  // Called with events worth a log line that are not progress: agents joining while the hub
  // waits for its team, connections refused by authentication (with the peer's address).
  std::function<void(const std::string&)> on_log = [](const std::string&) {};
  // With a value, all traffic is CURVE-encrypted and only agents whose public key is in
  // `allowed_clients` get through the handshake (ZAP); others are refused before any message.
  std::optional<transport::ServerSecurity> security;
  // Continue the run whose journal is in out_dir (replay.h) instead of starting a new one.
  bool resume = false;
  // "ADDR:PORT" (port 0: any free one): serve Prometheus text metrics at http://ADDR:PORT/metrics
  // while the hub lives. Empty: no metrics server.
  std::string metrics_listen;
};

class LiveHub {
 public:
  // Binds the socket and creates the journal — or, with `resume`, rebuilds the core from the
  // journal in out_dir and continues it. Fails with the endpoint or path in the error, and when
  // the journal is damaged in the middle.
  static Result<std::unique_ptr<LiveHub>> create(const Scenario& scenario, LiveHubOptions options);
  ~LiveHub();

  // The endpoint agents should connect to (the bound port resolved).
  const std::string& endpoint() const;

  // "HOST:PORT" of the metrics server (options.metrics_listen with the port resolved); empty
  // without one.
  std::string metrics_address() const;

  // Optional, before run(): serves HELLOs and heartbeats until the team the scenario declares has
  // joined — for every role, as many agents as its team entries count. Fails after `timeout_s`
  // naming each role that is short (joined/needed), after telling the agents that came BYE.
  // Also fails if `interrupted` says so.
  Status wait_for_team(double timeout_s);

  // Optional, before run(): answers what has arrived (HELLOs, heartbeats, tool queries) without
  // waiting and without starting the work. `cadre run` calls it between batches of agents it
  // starts, so an agent is welcomed at once instead of repeating its HELLO.
  void serve_arrived();

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
