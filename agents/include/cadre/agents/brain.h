// A brain produces an agent's answers. The agent process owns sockets and timing; the brain only
// turns a task into an outcome.
#pragma once

#include <atomic>
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
  // The same, for a call the agent may take back: `cancelled` becomes true when the hub sends
  // CANCEL for the task (or the agent is stopping), from another thread, at any time. A brain
  // that can stop early polls it often enough to notice within about 100 ms, then stops at once
  // (an llm brain aborts its HTTP request and starts no retry; an exec brain kills the command's
  // process group: SIGTERM, SIGKILL 200 ms later) and frees what the call held before returning
  // (every child reaped). The agent drops the answer of a cancelled call unread, so what it
  // holds does not matter; by convention ok = false, error = "cancelled" (cancelled_answer()).
  // `cancelled` outlives the call.
  // The default ignores the flag and calls answer(task): the call runs to its end (sim brains,
  // which take no real time, and plugin brains, whose ABI has no way to interrupt a call).
  virtual BrainAnswer answer(const roles::TaskAssignment& task,
                             const std::atomic<bool>& cancelled) {
    (void)cancelled;
    return answer(task);
  }
  // The pricing key of the model it stands for.
  virtual const std::string& model() const = 0;
  // True when answer() takes real time (a network call, a child process): the agent then calls
  // it on worker threads, up to `concurrency()` at once, so heartbeats keep flowing (and passes
  // each call its cancellation flag). answer() must then be safe to call from several threads at
  // once.
  virtual bool blocking() const { return false; }
  virtual std::uint32_t concurrency() const { return 1; }
};

// The conventional answer of a call stopped by its cancellation flag: the task's key and `model`,
// ok = false, error = "cancelled", brain_s = `seconds` spent before it stopped.
BrainAnswer cancelled_answer(const roles::TaskAssignment& task, const std::string& model,
                             double seconds);

// Makes the brain `kind` ("sim") for `role` with its parameters (the scenario's brain params,
// values as strings). Fails with a message naming an unknown kind, unknown parameter or a value
// that is not a number where one is needed.
Result<std::unique_ptr<Brain>> make_brain(const std::string& kind, const std::string& role,
                                          const std::string& model,
                                          const std::map<std::string, std::string>& params);

}  // namespace cadre::agents
