// The simulation shell: drives the same HubCore as the live hub, on a virtual clock, with the
// agents' brains called in-process. Latencies advance virtual time only, so a run of thousands of
// agents takes seconds. `cadre sim` uses it; it writes the same report as a live run.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "cadre/roles/messages.h"
#include "cadre/runtime/hub_core.h"
#include "cadre/runtime/report.h"
#include "cadre/runtime/scenario.h"

namespace cadre::runtime {

struct SimAgent {
  std::string id;
  std::string role;
  std::string model;
  std::uint32_t capacity = 1;
  bool person = false;  // its tasks have no lease (the inbox: AgentJoin::person)
};

// What an agent's brain answered and after how many (virtual) seconds.
struct SimAnswer {
  roles::TaskOutcome outcome;
  double delay_s = 0.0;
};

// Answers one assignment for the agent at `agent_index`. Must be deterministic in its inputs.
using SimAnswerFn = std::function<SimAnswer(std::size_t agent_index,
                                            const roles::TaskAssignment& task)>;

// What the fault injector did during a run.
struct SimFaultCounts {
  std::uint64_t lost = 0;
  std::uint64_t delayed = 0;
  std::uint64_t duplicated = 0;
  std::uint64_t crashes = 0;
};

struct SimOptions {
  // Called with a one-line note when a goal ends (skipped when empty).
  std::function<void(const std::string&)> on_progress;
  // Called every `step_every` events of the loop (skipped when empty) with the core and the
  // virtual time, e.g. to draw progress; it must only read. Not called at the start or the end:
  // after run() the caller has core() and RunFacts::wall_s. Kept out of the way: the loop only
  // counts, so a cheap callback (a clock read) costs nothing measurable.
  std::function<void(const HubCore&, TimeUs virtual_now)> on_step;
  std::uint32_t step_every = 4096;
};

class SimRun {
 public:
  SimRun(const Scenario& scenario, std::vector<SimAgent> agents, SimAnswerFn answer,
         SimOptions options = {});

  // Runs to the end on the virtual clock. RunFacts.wall_s is the virtual duration;
  // real_s the wall-clock time the simulation took.
  RunFacts run();

  const HubCore& core() const { return core_; }
  const SimFaultCounts& faults() const { return fault_counts_; }

 private:
  enum class EventKind : std::uint8_t { answer, agent_detected_gone, agent_restarted };
  // Events are small (the heap moves them); an answer's outcome waits in outcomes_.
  struct Event {
    TimeUs due;
    std::uint64_t seq;
    EventKind kind;
    std::uint32_t agent;
    std::uint32_t epoch;  // the agent's life this event belongs to; stale lives are ignored
    TaskId task = 0;      // answer: the dispatch it answers
    std::uint32_t outcome = 0;  // answer: its slot in outcomes_
  };
  struct LaterFirst {
    bool operator()(const Event& a, const Event& b) const {
      return a.due != b.due ? a.due > b.due : a.seq > b.seq;
    }
  };

  void execute(std::vector<Command>& commands, TimeUs now);
  void push(Event event);
  std::uint32_t keep_outcome(roles::TaskOutcome outcome);
  void join(std::uint32_t agent, TimeUs now);
  void dispatch(const DispatchCommand& dispatch, TimeUs now);
  // Uniform [0, 1) from the fault generator (splitmix64 over the scenario seed).
  double fault_draw();
  std::string scratch_root();  // where verify commands run (a temp folder)

  Scenario scenario_;
  std::vector<SimAgent> agents_;
  SimAnswerFn answer_;
  SimOptions options_;
  HubCore core_;
  std::vector<Event> queue_;  // a heap ordered by LaterFirst
  std::deque<VerifyCommand> pending_verifications_;
  std::string scratch_root_;
  std::vector<roles::TaskOutcome> outcomes_;  // answers in flight, by slot
  std::vector<std::uint32_t> free_outcomes_;  // slots to reuse
  std::vector<std::uint32_t> sim_agent_of_;   // per core AgentIndex: the index in agents_
  std::vector<AgentIndex> core_agent_of_;     // per index in agents_: the core's AgentIndex
  std::vector<std::uint32_t> epoch_;  // per agent: bumped on every crash
  std::vector<bool> down_;            // per agent: crashed and not yet restarted
  std::uint64_t fault_state_;
  std::uint64_t next_seq_ = 0;
  std::uint64_t goals_done_ = 0;
  RunFacts facts_;
  SimFaultCounts fault_counts_;
};

}  // namespace cadre::runtime
