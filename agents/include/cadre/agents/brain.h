// A brain produces an agent's answers. The agent process owns sockets and timing; the brain only
// turns a task into an outcome.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "cadre/result.h"
#include "cadre/roles/messages.h"

namespace cadre::agents {

// What a brain answered and how long the answer should take to arrive, in seconds. For simulated
// brains `delay_s` is the modelled latency (already multiplied by time_scale) that the agent waits
// before sending; real brains report 0 because their time was really spent.
struct BrainAnswer {
  roles::TaskOutcome outcome;
  double delay_s = 0.0;
};

class Brain {
 public:
  virtual ~Brain() = default;
  // Answers one assignment. Never throws; a failure is an outcome with ok = false and an error.
  virtual BrainAnswer answer(const roles::TaskAssignment& task) = 0;
  // The pricing key of the model it stands for.
  virtual const std::string& model() const = 0;
  // True when answer() takes real time (a network call, a child process): the agent then calls
  // it on worker threads, up to `concurrency()` at once, so heartbeats keep flowing. answer() must
  // then be safe to call from several threads at once.
  virtual bool blocking() const { return false; }
  virtual std::uint32_t concurrency() const { return 1; }
};

// Makes the brain `kind` ("sim") for `role` with its parameters (the scenario's brain params,
// values as strings). Fails with a message naming an unknown kind, unknown parameter or a value
// that is not a number where one is needed.
Result<std::unique_ptr<Brain>> make_brain(const std::string& kind, const std::string& role,
                                          const std::string& model,
                                          const std::map<std::string, std::string>& params);

}  // namespace cadre::agents
