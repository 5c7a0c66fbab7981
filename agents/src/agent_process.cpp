#include "cadre/agents/agent_process.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <utility>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <set>
#include <tuple>
#include <vector>

#include "cadre/agents/brain.h"
#include "cadre/roles/messages.h"
#include "cadre/transport/endpoint.h"
#include "cadre/transport/envelope.h"
#include "cadre/worker_pool.h"

namespace cadre::agents {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::chrono::milliseconds kIdleWait{500};
using transport::MessageKind;
using Key = std::tuple<std::string, std::string, std::uint32_t>;

Key key_of(const std::string& goal, const std::string& task, std::uint32_t attempt) {
  return {goal, task, attempt};
}

// A blocking brain runs on worker threads, so the agent's loop (heartbeats, cancels) never waits
// on a model call. Each call has its own cancellation flag, shared by the loop (which sets it on
// CANCEL) and the worker (which passes it to the brain).
struct BrainJob {
  roles::TaskAssignment task;
  std::shared_ptr<std::atomic<bool>> cancelled;
};
using BrainWorkers = WorkerPool<BrainJob, std::pair<BrainJob, BrainAnswer>>;

class AgentLoop {
 public:
  AgentLoop(const AgentOptions& options, std::unique_ptr<Brain> brain,
            std::unique_ptr<transport::DealerEndpoint> dealer)
      : options_(options), brain_(std::move(brain)), dealer_(std::move(dealer)) {
    if (brain_->blocking()) {
      // The workers start with every signal blocked (threads inherit the mask), so a SIGTERM or
      // SIGINT always lands on this thread and cuts its socket wait short (EINTR); ZeroMQ blocks
      // signals in its own threads.
      sigset_t all, previous;
      sigfillset(&all);
      pthread_sigmask(SIG_BLOCK, &all, &previous);
      workers_ = std::make_unique<BrainWorkers>(
          std::max<std::uint32_t>(1, std::min(options_.capacity, brain_->concurrency())),
          [brain = brain_.get()](BrainJob& job) {
            // Cancelled while it waited for a thread: the brain is not even asked.
            BrainAnswer answer = job.cancelled->load()
                                     ? cancelled_answer(job.task, brain->model(), 0)
                                     : brain->answer(job.task, *job.cancelled);
            return std::make_pair(std::move(job), std::move(answer));
          });
      pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    }
  }

  // The brain calls still running are cancelled, so the workers (joined after this) end soon.
  ~AgentLoop() {
    for (auto& [key, flag] : stop_flags_) flag->store(true);
  }

  int run() {
    last_heard_ = Clock::now();
    send_hello();
    while (true) {
      if (options_.stop_requested()) {
        send(MessageKind::bye, roles::encode(roles::Bye{"stopping"}));
        return 0;
      }
      const auto now = Clock::now();
      // Worker threads cannot wake the socket poll; while they are busy, look every 10 ms.
      // Otherwise sleep until the next timer (heartbeat, answer due): an idle agent wakes only
      // for heartbeats, which matters with hundreds of agents on a few cores. A stop signal cuts
      // the wait short; kIdleWait bounds how late a stop_requested set by another thread is seen.
      auto wake = now + (workers_ && workers_->busy() ? std::chrono::milliseconds(10) : kIdleWait);
      if (!answers_.empty()) wake = std::min(wake, answers_.top().due);
      wake = std::min(wake, next_heartbeat_);
      if (options_.hub_timeout_s > 0)
        wake = std::min(wake, last_heard_ + std::chrono::duration_cast<Clock::duration>(
                                                std::chrono::duration<double>(options_.hub_timeout_s)));
      if (joined_) wake = std::min(wake, last_heard_ + heartbeat_ * liveness_);
      // Rounded up: a wait cut short of a deadline would only spin until it.
      const auto timeout = std::max<std::int64_t>(
          0, std::chrono::ceil<std::chrono::milliseconds>(wake - now).count());
      if (auto frame = dealer_->receive(std::chrono::milliseconds(timeout))) {
        if (handle(*frame)) return 0;
        for (int i = 0; i < 256; ++i) {
          auto more = dealer_->receive(std::chrono::milliseconds(0));
          if (!more) break;
          if (handle(*more)) return 0;
        }
      }
      send_due_answers();
      if (int code = on_timers(); code >= 0) return code;
    }
  }

 private:
  struct Pending {
    Clock::time_point due;
    Key key;
    std::string body;  // encoded RESULT body
    bool operator>(const Pending& other) const { return due > other.due; }
  };

  void send(MessageKind kind, std::string body) {
    transport::Envelope envelope;
    envelope.kind = kind;
    envelope.msg_id = next_msg_id_++;
    envelope.sender = options_.agent_id;
    envelope.body = std::move(body);
    dealer_->send(transport::encode_envelope(envelope));
  }

  void send_hello() {
    roles::Hello hello;
    hello.agent_id = options_.agent_id;
    hello.role = options_.role;
    hello.brain = options_.brain;
    hello.model = brain_->model();
    hello.capacity = options_.capacity;
    hello.protocol = transport::kProtocolVersion;
    hello.pid = static_cast<std::int64_t>(::getpid());
    send(MessageKind::hello, roles::encode(hello));
    last_hello_ = Clock::now();
  }

  // Returns true when the agent must exit (BYE).
  bool handle(const std::string& frame) {
    // Views into `frame`; the body was checked while the envelope was walked.
    auto decoded = transport::decode_envelope_view(frame);
    if (!decoded.ok()) {
      ++malformed_;
      return false;
    }
    last_heard_ = Clock::now();
    const transport::EnvelopeView& envelope = decoded.envelope();
    switch (envelope.kind) {
      case MessageKind::welcome: {
        auto welcome = roles::decode_welcome(envelope.body.bytes());
        if (!welcome.ok()) {
          ++malformed_;
          return false;
        }
        heartbeat_ = std::chrono::milliseconds(std::max<std::uint32_t>(10, welcome->heartbeat_ms));
        liveness_ = std::max<std::uint32_t>(1, welcome->liveness);
        next_heartbeat_ = Clock::now() + heartbeat_;  // the hub's interval from now on
        if (!joined_) options_.log("joined hub " + welcome->hub_id);
        joined_ = true;
        // Results the hub may not have seen (sent before a reconnect) go again; the hub takes
        // each at most once.
        for (const auto& [key, body] : unacked_) send(MessageKind::result, body);
        return false;
      }
      case MessageKind::assign: {
        auto task = roles::decode_checked_assignment(envelope.body);
        if (!task.ok()) {
          ++malformed_;
          send(MessageKind::error,
               roles::encode(roles::ErrorReply{"bad_body", task.error().to_string(),
                                               envelope.msg_id}));
          return false;
        }
        const Key key = key_of(task->goal_id, task->task_id, task->attempt);
        if (working_.count(key)) {
          // Given back a task we are still working on (its lease expired and came back to us):
          // results are idempotent by key, so keep the work in progress rather than start over
          // -- unless its brain call was already told to stop: then start it again on a fresh
          // flag (the stopped call's answer is dropped as stale when it comes back).
          cancelled_.erase(key);
          if (auto flag = stop_flags_.find(key); flag != stop_flags_.end() && flag->second->load())
            submit(key, std::move(task.value()));
          return false;
        }
        working_.insert(key);
        if (workers_) {
          submit(key, std::move(task.value()));
          return false;
        }
        schedule(key, task->ref, brain_->answer(*task));
        return false;
      }
      case MessageKind::cancel: {
        auto cancel = roles::decode_cancel(envelope.body.bytes());
        if (cancel.ok()) {
          const Key key = key_of(cancel->goal_id, cancel->task_id, cancel->attempt);
          if (working_.count(key)) cancelled_.insert(key);
          // A brain call in progress stops (llm request aborted, exec command killed).
          if (auto flag = stop_flags_.find(key); flag != stop_flags_.end())
            flag->second->store(true);
        }
        return false;
      }
      case MessageKind::ack: {
        auto ack = roles::decode_ack(envelope.body.bytes());
        if (ack.ok()) unacked_.erase(key_of(ack->goal_id, ack->task_id, ack->attempt));
        return false;
      }
      case MessageKind::error: {
        auto error = roles::decode_error(envelope.body.bytes());
        if (error.ok() && error->code == "not_registered") {
          options_.log("hub does not know us; joining again");
          send_hello();
        } else if (error.ok()) {
          options_.log("hub refused a message: " + error->code + ": " + error->message);
        }
        return false;
      }
      case MessageKind::bye: return true;
      default: return false;  // heartbeat, or nothing for an agent
    }
  }

  // `ref`: the ASSIGN's, echoed in the RESULT so the hub finds the task without a lookup (brains
  // build outcomes with roles::outcome_for, which copies it; set here whatever the brain did).
  void schedule(const Key& key, std::optional<std::uint64_t> ref, BrainAnswer answer) {
    const auto delay = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(std::max(0.0, answer.delay_s)));
    answer.outcome.ref = ref;
    answers_.push(Pending{Clock::now() + delay, key, roles::encode(answer.outcome)});
  }

  // Hands `task` to a worker with a new cancellation flag, the key's current one.
  void submit(const Key& key, roles::TaskAssignment task) {
    auto flag = std::make_shared<std::atomic<bool>>(false);
    stop_flags_[key] = flag;
    workers_->submit(BrainJob{std::move(task), std::move(flag)});
  }

  void send_due_answers() {
    if (workers_) {
      for (auto& [job, answer] : workers_->take_finished()) {
        const roles::TaskAssignment& task = job.task;
        const Key job_key = key_of(task.goal_id, task.task_id, task.attempt);
        // A call superseded by a fresh one for its key (see ASSIGN) is dropped unseen.
        auto flag = stop_flags_.find(job_key);
        if (flag == stop_flags_.end() || flag->second != job.cancelled) continue;
        stop_flags_.erase(flag);
        schedule(key_of(task.goal_id, task.task_id, task.attempt), task.ref, std::move(answer));
      }
    }
    const auto now = Clock::now();
    while (!answers_.empty() && answers_.top().due <= now) {
      Pending pending = answers_.top();
      answers_.pop();
      working_.erase(pending.key);
      if (cancelled_.erase(pending.key) > 0) continue;
      unacked_[pending.key] = pending.body;
      send(MessageKind::result, std::move(pending.body));
    }
  }

  // Returns an exit code when the agent must stop, -1 otherwise.
  int on_timers() {
    const auto now = Clock::now();
    if (now >= next_heartbeat_) {
      if (joined_) send(MessageKind::heartbeat, roles::encode_empty());
      else if (now - last_hello_ >= std::chrono::seconds(1)) send_hello();
      next_heartbeat_ = now + heartbeat_;
    }
    const auto silence = now - last_heard_;
    if (options_.hub_timeout_s > 0 &&
        silence > std::chrono::duration<double>(options_.hub_timeout_s)) {
      char waited[32];
      std::snprintf(waited, sizeof waited, "%g", options_.hub_timeout_s);
      options_.log(std::string("no hub for ") + waited + " s; giving up");
      return 1;
    }
    if (joined_ && silence > heartbeat_ * liveness_) {
      // Paranoid Pirate: the hub is gone or the route is stale; start over on a fresh socket.
      options_.log("hub silent; reconnecting");
      joined_ = false;
      dealer_->reconnect();
      send_hello();
      last_heard_ = now;
    }
    return -1;
  }

  const AgentOptions& options_;
  std::unique_ptr<Brain> brain_;
  std::unique_ptr<BrainWorkers> workers_;  // only for blocking brains
  std::unique_ptr<transport::DealerEndpoint> dealer_;
  std::priority_queue<Pending, std::vector<Pending>, std::greater<Pending>> answers_;
  std::map<Key, std::string> unacked_;
  std::set<Key> working_;    // assignments whose answers are not yet sent
  std::set<Key> cancelled_;  // of those, the ones the hub took back
  // For each assignment on a worker, the cancellation flag of its current brain call.
  std::map<Key, std::shared_ptr<std::atomic<bool>>> stop_flags_;
  std::uint64_t next_msg_id_ = 1;
  std::uint64_t malformed_ = 0;
  bool joined_ = false;
  Clock::duration heartbeat_ = std::chrono::milliseconds(500);
  std::uint32_t liveness_ = 3;
  Clock::time_point last_heard_;
  Clock::time_point last_hello_;
  Clock::time_point next_heartbeat_ = Clock::now();
};

}  // namespace

int run_agent(const AgentOptions& options) {
  auto brain = make_brain(options.brain, options.role, options.model, options.brain_params);
  if (!brain.ok()) {
    options.log("bad brain: " + brain.error().to_string());
    return 2;
  }
  auto dealer = transport::DealerEndpoint::connect(
      options.hub, options.agent_id, options.security ? &*options.security : nullptr);
  if (!dealer.ok()) {
    options.log("cannot connect: " + dealer.error().to_string());
    return 2;
  }
  AgentLoop loop(options, std::move(brain.value()), std::move(dealer.value()));
  return loop.run();
}

}  // namespace cadre::agents
