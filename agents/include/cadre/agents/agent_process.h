// The agent process: one DEALER connection to the hub, one brain, one loop.
//
// Lifecycle (docs/protocol.md): HELLO until WELCOME; then heartbeats both ways; ASSIGN -> brain ->
// RESULT (kept until ACKed, resent after a reconnect); CANCEL drops a task and stops its brain
// call (Brain::answer's cancellation flag: an llm request aborted, an exec command killed); a hub
// silent for liveness heartbeats means reconnect (new socket, same identity) and HELLO again; BYE
// from the hub ends the process with exit code 0, cancelling the brain calls still running.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "cadre/transport/endpoint.h"

namespace cadre::agents {

struct AgentOptions {
  std::string hub;        // endpoint to connect to, e.g. tcp://127.0.0.1:5555
  std::string agent_id;   // unique in the team; also the routing identity
  std::string role;
  std::string brain = "sim";
  std::string model;
  std::map<std::string, std::string> brain_params;
  std::uint32_t capacity = 1;
  // With a value, the connection is CURVE-encrypted with this key pair, and the hub must prove it
  // holds the secret of `server_public_key`; reconnects use it too.
  std::optional<transport::ClientSecurity> security;
  // Give up (exit 1) after this long without hearing from any hub; 0 = never.
  double hub_timeout_s = 0.0;
  // Polled every loop iteration; true makes the agent say BYE and exit 0.
  std::function<bool()> stop_requested = [] { return false; };
  // Log lines (joined, reconnecting, ...) go here.
  std::function<void(const std::string&)> log = [](const std::string&) {};
};

// Runs the agent until BYE, a stop request or the hub timeout. Returns the process exit code:
// 0 after BYE or a stop request, 1 when the hub timed out, 2 for bad options (an unknown brain,
// bad brain parameters, a malformed endpoint), with the reason logged.
int run_agent(const AgentOptions& options);

}  // namespace cadre::agents
