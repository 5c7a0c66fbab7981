#include "cadre/runtime/live_hub.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <unordered_map>

#include "cadre/roles/messages.h"
#include "cadre/roles/workspace.h"
#include "cadre/runtime/hub_views.h"
#include "cadre/runtime/journal.h"
#include "cadre/runtime/metrics.h"
#include "cadre/transport/http_text_server.h"
#include "cadre/runtime/replay.h"
#include "cadre/runtime/verifier.h"
#include "journal_events.h"
#include "json_line.h"
#include "cadre/transport/endpoint.h"
#include "cadre/transport/envelope.h"

namespace cadre::runtime {
namespace {

using transport::MessageKind;

// Hashes std::string keys and finds them by string_view (a routing identity the endpoint lends).
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// Messages waiting for LiveHub::flush: each one's routing identity, frame and (for an ASSIGN)
// agent id, written back to back into one buffer that is reused batch after batch, so a message
// costs no allocation of its own. Frames are encoded straight into it (head, then body).
class Outbox {
 public:
  bool empty() const { return entries_.empty(); }

  // Appends one message: `encode_body(std::string&)` appends the body after the frame's head.
  template <typename EncodeBody>
  void add(std::string_view identity, MessageKind kind, std::uint64_t msg_id,
           std::string_view sender, EncodeBody&& encode_body, std::string_view dispatched_to) {
    Entry entry;
    entry.at = bytes_.size();
    entry.identity_size = identity.size();
    bytes_.append(identity);
    transport::append_envelope_head(bytes_, kind, msg_id, sender);
    encode_body(bytes_);
    entry.frame_size = bytes_.size() - entry.at - entry.identity_size;
    entry.agent_size = dispatched_to.size();
    bytes_.append(dispatched_to);
    entries_.push_back(entry);
  }

  // Calls send(identity, frame, dispatched_to) for each message in order.
  template <typename Send>
  void for_each(Send&& send) const {
    const std::string_view all(bytes_);
    for (const Entry& e : entries_) {
      send(all.substr(e.at, e.identity_size), all.substr(e.at + e.identity_size, e.frame_size),
           all.substr(e.at + e.identity_size + e.frame_size, e.agent_size));
    }
  }

  // Empties it; keeps its storage unless a burst of large frames left it big.
  void clear() {
    entries_.clear();
    if (bytes_.capacity() > kKeptBytes) {
      std::string().swap(bytes_);
    } else {
      bytes_.clear();
    }
  }

 private:
  static constexpr std::size_t kKeptBytes = 8u << 20;
  struct Entry {
    std::size_t at = 0;
    std::size_t identity_size = 0;
    std::size_t frame_size = 0;
    std::size_t agent_size = 0;  // an ASSIGN's agent: if it cannot be sent, the agent is dropped
  };
  std::string bytes_;
  std::vector<Entry> entries_;
};

}  // namespace

struct LiveHub::Impl {
  Scenario scenario;
  LiveHubOptions options;
  HubCore core;
  std::unique_ptr<transport::RouterEndpoint> router;
  std::unique_ptr<Journal> journal;
  std::unique_ptr<transport::HttpTextServer> metrics;  // with options.metrics_listen
  TimeUs next_metrics = 0;
  std::chrono::steady_clock::time_point epoch = std::chrono::steady_clock::now();
  RunFacts facts;
  std::uint64_t next_msg_id = 1;
  std::uint64_t journal_n = 0;

  struct Peer {
    std::string identity;
    TimeUs last_seen = 0;
    std::string role;
    AgentIndex index = kNoAgent;  // in the core (Scheduler::index_of), once it has joined
    std::uint32_t capacity = 0;   // from its HELLO
  };
  std::unordered_map<std::string, Peer> agents;  // agent id -> peer
  // Routing identity -> the agent speaking from it. `peer` is its entry in `agents` (nodes of an
  // unordered_map stay put); both entries are made and erased together.
  struct Route {
    std::string agent_id;
    Peer* peer = nullptr;
  };
  std::unordered_map<std::string, Route, StringHash, std::equal_to<>> agent_of_peer;
  // AgentIndex -> its entry in `agents` (null while absent): dispatches name agents by index.
  std::vector<Peer*> peer_of_index;
  // The capacities of the agents present (what the team can have in flight): sets how many
  // frames one turn of the loop takes before its messages leave.
  std::uint64_t team_capacity = 0;
  static constexpr std::uint64_t kMinBatch = 64;
  static constexpr std::uint64_t kMaxBatch = 1024;
  // Commands to execute, oldest first from pending_head (a vector reused event after event: a
  // deque would allocate a block every few commands).
  std::vector<Command> pending;
  std::size_t pending_head = 0;
  TimeUs heartbeat_us;
  TimeUs silence_limit_us;
  VerifierPool verifier{2};
  TimeUs next_heartbeat = 0;
  std::size_t goals_done = 0;
  bool waiting_for_team = false;
  std::uint32_t inbox_people = 0;  // team entries with brain kind inbox (0 or 1)
  bool started = false;        // the core has had its start event (now, or before a resume)
  std::string journal_error;   // a failed journal write stops the run: progress would be unsafe

  Impl(const Scenario& s, LiveHubOptions o)
      : scenario(s),
        options(std::move(o)),
        core(scenario),
        heartbeat_us(std::max<TimeUs>(1000, seconds_to_us(scenario.workflow.heartbeat_s))),
        silence_limit_us(heartbeat_us * std::max<std::uint32_t>(1, scenario.workflow.liveness)) {
    for (const auto& entry : scenario.team)
      if (entry.brain.kind == "inbox") inbox_people += entry.count;
  }

  // The inbox is a team member the hub hosts itself: a person answering in `cadre inbox`. It
  // joins like any agent (journaled, so a replay sees it) but holds its tasks without a lease.
  void join_inbox(TimeUs t) {
    if (inbox_people == 0) return;
    record(JsonLine()
               .field("ev", "join")
               .field("agent", kInboxAgentId)
               .field("role", "human")
               .field("model", "human")
               .field("capacity", kInboxCapacity)
               .field("pid", static_cast<std::int64_t>(::getpid()))
               .field("person", true),
           t);
    take(core.agent_joined(AgentJoin{kInboxAgentId, "human", "human", kInboxCapacity,
                                     static_cast<std::int64_t>(::getpid()), true},
                           t));
  }
  static constexpr std::uint32_t kInboxCapacity = 1u << 20;

  TimeUs now() const {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::steady_clock::now() - epoch)
        .count();
  }

  // Takes the line by reference: a record is built by a chain of field() calls on a temporary,
  // which yields a JsonLine& (taken by value, it would be copied).
  void record(JsonLine& event, TimeUs t) {
    event.field("n", journal_n++).field("t_us", static_cast<std::int64_t>(t));
    journal->append(event.view());
    JsonLine::recycle(event.release());  // the next record is written into it
  }
  void record(JsonLine&& event, TimeUs t) { record(event, t); }

  void take(std::vector<Command>& commands) {
    for (auto& command : commands) pending.push_back(std::move(command));
  }

  // The journal's records reach the OS (or the disk, with durability: fsync) before any message
  // they caused leaves, so a hub killed at any moment has acknowledged nothing it did not record.
  void commit_journal() {
    if (!journal->has_buffered()) return;
    if (auto committed = journal->commit(); !committed.ok() && journal_error.empty())
      journal_error = committed.error().to_string();
  }

  // Messages wait in the outbox until flush(): one journal commit (one write) covers a whole
  // batch of events, then their messages leave. Nothing leaves before the records that caused it.
  Outbox outbox;
  Outbox sending;  // the batch flush() is sending (kept for its storage)

  // Queues a message whose body `encode_body(std::string&)` appends to the frame.
  template <typename EncodeBody>
  void send_encoded(std::string_view identity, MessageKind kind, EncodeBody&& encode_body,
                    std::string_view dispatched_to = {}) {
    outbox.add(identity, kind, next_msg_id++, options.hub_id, encode_body, dispatched_to);
  }

  template <typename Body>
  void send(std::string_view identity, MessageKind kind, const Body& body) {
    send_encoded(identity, kind, [&body](std::string& out) { roles::encode_to(out, body); });
  }

  // Commits the journal, then sends the outbox. An ASSIGN that cannot be sent (the peer's queue
  // is full, or it is gone) drops its agent, whose tasks are requeued — which may send more.
  void flush() {
    while (!outbox.empty()) {
      commit_journal();
      std::swap(outbox, sending);
      bool dropped = false;
      sending.for_each([&](std::string_view identity, std::string_view frame,
                           std::string_view dispatched_to) {
        if (router->send(identity, frame)) {
          ++facts.messages.sent;
        } else if (!dispatched_to.empty()) {
          drop_agent(std::string(dispatched_to), "unreachable", now());
          dropped = true;
        }
      });
      sending.clear();
      if (dropped) execute_pending(now());
    }
    commit_journal();
  }

  template <typename Body>
  void send_to_agent(const std::string& agent_id, MessageKind kind, const Body& body) {
    auto it = agents.find(agent_id);
    if (it == agents.end()) return;
    send(it->second.identity, kind, body);
  }

  void send_error(std::string_view identity, const std::string& code, const std::string& message,
                  std::uint64_t ref) {
    send(identity, MessageKind::error, roles::ErrorReply{code, message, ref});
  }

  void drop_agent(const std::string& agent_id, const char* why, TimeUs t) {
    auto it = agents.find(agent_id);
    if (it == agents.end()) return;
    if (auto route = agent_of_peer.find(it->second.identity); route != agent_of_peer.end())
      agent_of_peer.erase(route);
    if (it->second.index < peer_of_index.size()) peer_of_index[it->second.index] = nullptr;
    team_capacity -= it->second.capacity;
    agents.erase(it);
    record(JsonLine().field("ev", "leave").field("agent", agent_id).field("why", why), t);
    take(core.agent_left(agent_id, t));
  }

  void execute_pending(TimeUs t) {
    while (pending_head < pending.size()) {
      // Moved out first: executing it may queue more (and move the vector).
      Command command = std::move(pending[pending_head++]);
      if (auto* dispatch = std::get_if<DispatchCommand>(&command)) {
        // A dispatch overtaken before it left (its agent was dropped by an earlier command of
        // the batch and the task requeued) is not sent: the task is no longer that agent's.
        const TaskRecord& task = core.ledger().task(dispatch->task);
        if (task.state != TaskState::leased || task.agent != dispatch->agent) continue;
        const auto& a = *dispatch->assignment;
        record(JsonLine()
                   .field("ev", "dispatch")
                   .field("agent", dispatch->agent_id)
                   .field("goal", a.goal_id)
                   .field("task", a.task_id)
                   .field("attempt", a.attempt),
               t);
        if (dispatch->agent_id == kInboxAgentId) {
          options.on_log("inbox: " + a.goal_id + " " +
                         (a.kind == roles::TaskKind::approve
                              ? "awaits approval"
                              : "needs a person for subtask " + a.task_id.substr(0, a.task_id.find('/'))) +
                         " (cadre inbox --hub " + router->bound_endpoint() + ")");
          continue;
        }
        const Peer* peer = dispatch->agent < peer_of_index.size()
                               ? peer_of_index[dispatch->agent]
                               : nullptr;
        if (peer == nullptr) {
          auto found = agents.find(dispatch->agent_id);
          if (found == agents.end()) continue;  // gone: its tasks were requeued when it left
          peer = &found->second;
        }
        // The task's id goes along as the ASSIGN's ref: echoed in the RESULT, it finds the task
        // without a lookup by key (checked against the key before it is trusted).
        const std::uint64_t ref = dispatch->task;
        send_encoded(peer->identity, MessageKind::assign,
                     [&](std::string& out) { roles::encode_to(out, a, ref); },
                     dispatch->agent_id);
      } else if (auto* cancel = std::get_if<CancelCommand>(&command)) {
        if (cancel->agent_id == kInboxAgentId) continue;
        send_to_agent(cancel->agent_id, MessageKind::cancel, cancel->cancel);
      } else if (auto* ack = std::get_if<AckCommand>(&command)) {
        if (ack->agent_id == kInboxAgentId) continue;
        send_to_agent(ack->agent_id, MessageKind::ack, ack->ack);
      } else if (auto* goal = std::get_if<GoalFinishedCommand>(&command)) {
        const GoalRecord& record_ = core.ledger().goals()[goal->goal_index];
        ++goals_done;
        options.on_progress("goal " + record_.spec.id + " " + outcome_name(record_.outcome) +
                            " (" + std::to_string(goals_done) + "/" +
                            std::to_string(core.ledger().goals().size()) + " ended)");
      } else if (auto* stalled = std::get_if<GoalStalledCommand>(&command)) {
        options.on_progress("goal " + core.ledger().goals()[stalled->goal_index].spec.id +
                            " stalled: " + stalled->reason);
      } else if (auto* finished = std::get_if<RunFinishedCommand>(&command)) {
        record(JsonLine().field("ev", "finish").field("reason", finished->reason), t);
      } else if (auto* verify = std::get_if<VerifyCommand>(&command)) {
        const std::string scratch = options.out_dir + "/workspaces/" + verify->goal_id +
                                    "/.verify/" + verify->subtask_id + "-" +
                                    std::to_string(verify->attempt);
        verifier.submit({std::move(*verify), scratch});
      } else if (auto* files = std::get_if<WorkspaceCommand>(&command)) {
        write_workspace(*files);
      }
    }
    pending.clear();
    pending_head = 0;
  }

  // Mirrors the goal's workspace on disk as candidates are accepted (DIR/workspaces/<goal>/).
  void write_workspace(const WorkspaceCommand& update) {
    auto workspace = roles::Workspace::open(options.out_dir + "/workspaces/" + update.goal_id);
    Status written = workspace.ok() ? workspace->write_files(update.files)
                                    : Status(workspace.error());
    if (!written.ok()) options.on_progress("workspace of " + update.goal_id + ": " +
                                           written.error().to_string());
  }

  // Verdicts of verify commands that finished on the verifier's threads.
  void collect_verifications(TimeUs t) {
    for (auto& verdict : verifier.take_finished()) {
      record(JsonLine()
                 .field("ev", "verify")
                 .field("goal", verdict.goal_id)
                 .field("subtask", verdict.subtask_id)
                 .field("attempt", verdict.attempt)
                 .field("passed", verdict.passed)
                 .field("output", verdict.output),
             t);
      take(core.verify_finished(verdict.goal_id, verdict.subtask_id, verdict.attempt,
                                verdict.passed, verdict.output, t));
    }
  }

  // `peer` and `frame` are the endpoint's views (valid until its next receive).
  void handle_frame(std::string_view peer, std::string_view frame, TimeUs t) {
    ++facts.messages.received;
    auto decoded = transport::decode_envelope_view(frame);
    if (!decoded.ok()) {
      const auto& failure = decoded.failure();
      ++facts.messages.malformed;
      // Answer only where the frame told us who sent it; never echo into a void.
      if (!failure.sender.empty()) {
        using Reason = transport::DecodeFailure::Reason;
        const char* code = failure.reason == Reason::bad_version    ? "bad_version"
                           : failure.reason == Reason::unknown_kind ? "unknown_kind"
                                                                    : "malformed";
        send_error(peer, code, failure.detail, failure.msg_id);
      }
      return;
    }
    const transport::EnvelopeView& envelope = decoded.envelope();
    auto known = agent_of_peer.find(peer);

    if (envelope.kind == MessageKind::hello) {
      auto hello = roles::decode_hello(envelope.body.bytes());
      if (!hello.ok() || hello->agent_id.empty() || hello->role.empty()) {
        ++facts.messages.malformed;
        send_error(peer, "bad_body",
                   hello.ok() ? "agent_id and role are required" : hello.error().to_string(),
                   envelope.msg_id);
        return;
      }
      if (hello->protocol != transport::kProtocolVersion) {
        send_error(peer, "bad_version",
                   "hub speaks protocol " + std::to_string(transport::kProtocolVersion),
                   envelope.msg_id);
        return;
      }
      if (known != agent_of_peer.end() && known->second.agent_id != hello->agent_id)
        drop_agent(std::string(known->second.agent_id), "renamed", t);
      auto existing = agents.find(hello->agent_id);
      if (existing != agents.end() && existing->second.identity != peer) {
        if (auto old = agent_of_peer.find(existing->second.identity); old != agent_of_peer.end())
          agent_of_peer.erase(old);
      }
      Peer& joined = agents[hello->agent_id];
      team_capacity -= joined.capacity;  // 0 for a new entry; a second HELLO replaces the first
      joined = Peer{std::string(peer), t, hello->role};
      joined.capacity = hello->capacity;
      team_capacity += joined.capacity;
      if (waiting_for_team)
        options.on_log("agent " + hello->agent_id + " (" + hello->role + ") joined");
      Route& route = agent_of_peer[std::string(peer)];
      route.agent_id = hello->agent_id;
      route.peer = &joined;
      facts.agent_pids[hello->agent_id] = hello->pid;
      record(JsonLine()
                 .field("ev", "join")
                 .field("agent", hello->agent_id)
                 .field("role", hello->role)
                 .field("model", hello->model)
                 .field("capacity", hello->capacity)
                 .field("pid", hello->pid),
             t);
      roles::Welcome welcome;
      welcome.hub_id = options.hub_id;
      welcome.heartbeat_ms = static_cast<std::uint32_t>(heartbeat_us / 1000);
      welcome.liveness = scenario.workflow.liveness;
      send(peer, MessageKind::welcome, welcome);
      take(core.agent_joined(
          AgentJoin{hello->agent_id, hello->role, hello->model, hello->capacity, hello->pid}, t));
      joined.index = core.scheduler().index_of(hello->agent_id).value_or(kNoAgent);
      if (joined.index != kNoAgent) {
        if (peer_of_index.size() <= joined.index) peer_of_index.resize(joined.index + 1, nullptr);
        peer_of_index[joined.index] = &joined;
      }
      return;
    }

    // Tools (`cadre status`, `cadre inbox`) ask without joining; with CURVE on, only keys on
    // the allow list got this far.
    if (envelope.kind == MessageKind::query) {
      answer_query(peer, envelope, t);
      return;
    }
    if (envelope.kind == MessageKind::decide) {
      take_decision(peer, envelope, t);
      return;
    }
    if (known == agent_of_peer.end()) {
      send_error(peer, "not_registered", "send HELLO first", envelope.msg_id);
      return;
    }
    const std::string& agent_id = known->second.agent_id;
    Peer& agent = *known->second.peer;
    agent.last_seen = t;

    switch (envelope.kind) {
      case MessageKind::heartbeat: break;
      case MessageKind::result: {
        auto outcome = roles::decode_checked_outcome(envelope.body);
        if (!outcome.ok()) {
          ++facts.messages.malformed;
          send_error(peer, "bad_body", outcome.error().to_string(), envelope.msg_id);
          return;
        }
        record(outcome_record(*outcome).field("agent", agent_id), t);
        // The ref the ASSIGN carried names the task, once checked against the RESULT's key (an
        // agent may echo a ref of an older hub, or none); otherwise the key finds it.
        const auto& o = *outcome;
        if (o.ref && agent.index != kNoAgent && *o.ref < core.ledger().task_count() &&
            core.ledger().task_has_key(static_cast<TaskId>(*o.ref), o.goal_id, o.task_id,
                                       o.attempt)) {
          take(core.result_received(static_cast<TaskId>(*o.ref), agent.index, o, t));
        } else {
          take(core.result_received(agent_id, o, t));
        }
        break;
      }
      case MessageKind::bye: drop_agent(std::string(agent_id), "bye", t); break;
      default:
        ++facts.messages.malformed;
        send_error(peer, "unexpected_kind",
                   std::string("the hub does not take ") + transport::kind_name(envelope.kind),
                   envelope.msg_id);
    }
  }

  void answer_query(std::string_view peer, const transport::EnvelopeView& envelope, TimeUs t) {
    auto query = roles::decode_query(envelope.body.bytes());
    if (!query.ok()) {
      ++facts.messages.malformed;
      send_error(peer, "bad_body", query.error().to_string(), envelope.msg_id);
      return;
    }
    if (query->what == "status") {
      std::map<std::string, TimeUs> last_seen;
      for (const auto& [agent_id, agent] : agents) last_seen[agent_id] = agent.last_seen;
      send(peer, MessageKind::view, roles::View{"status", status_view(core, last_seen, t)});
    } else if (query->what == "inbox") {
      send(peer, MessageKind::view, roles::View{"inbox", inbox_view(core, inbox_people > 0, t)});
    } else {
      send_error(peer, "unknown_view", "no view '" + query->what + "' (status, inbox)",
                 envelope.msg_id);
    }
  }

  // A person's decision on an inbox item is the inbox agent's RESULT: journaled and fed to the
  // core like any other, so replay and resume see it.
  void take_decision(std::string_view peer, const transport::EnvelopeView& envelope, TimeUs t) {
    auto decision = roles::decode_decision(envelope.body.bytes());
    if (!decision.ok()) {
      ++facts.messages.malformed;
      send_error(peer, "bad_body", decision.error().to_string(), envelope.msg_id);
      return;
    }
    if (inbox_people == 0) {
      send_error(peer, "no_inbox",
                 "this team's human is not an inbox (brain: {kind: inbox}); nothing to decide",
                 envelope.msg_id);
      return;
    }
    auto outcome = inbox_decision(core, *decision, t);
    if (!outcome.ok()) {
      send_error(peer, "bad_decision", outcome.error().message, envelope.msg_id);
      return;
    }
    JsonLine line = outcome_record(*outcome).field("agent", kInboxAgentId);
    if (!decision->by.empty()) line.field("by", decision->by);
    record(std::move(line), t);
    take(core.result_received(kInboxAgentId, *outcome, t));
    execute_pending(t);
    std::string goal_outcome = "open";
    for (const auto& goal : core.ledger().goals())
      if (goal.spec.id == decision->goal_id) goal_outcome = outcome_name(goal.outcome);
    const std::string item = outcome->task_id;
    options.on_log("inbox: " + decision->goal_id + " " + item + " " + decision->action +
                   (decision->by.empty() ? "" : " by " + decision->by) + "; goal " +
                   goal_outcome);
    send(peer, MessageKind::view,
         roles::View{"decision", "{\"goal\":" + json_quote(decision->goal_id) + ",\"item\":" +
                                     json_quote(item) + ",\"action\":" +
                                     json_quote(decision->action) + ",\"goal_outcome\":" +
                                     json_quote(goal_outcome) + "}"});
  }

  // Connections the authenticator refused since the last look: journaled and logged, with the
  // peer's address. They never reach handle_frame, so they never get a task.
  void collect_refusals(TimeUs t) {
    for (const auto& refusal : router->take_refusals()) {
      ++facts.messages.refused;
      record(JsonLine()
                 .field("ev", "refused")
                 .field("address", refusal.address)
                 .field("reason", refusal.reason),
             t);
      options.on_log("refused a connection from " +
                     (refusal.address.empty() ? std::string("an unknown address") : refusal.address) +
                     ": " + refusal.reason);
    }
  }

  // Joined agents per role, against what the scenario's team needs; empty when complete.
  std::string team_shortfall() const {
    std::map<std::string, std::uint32_t> needed, joined;
    for (const auto& entry : scenario.team) needed[entry.role] += entry.count;
    for (const auto& [agent_id, peer] : agents) ++joined[peer.role];
    joined["human"] += inbox_people;
    std::string missing;
    for (const auto& [role, count] : needed) {
      if (joined[role] >= count) continue;
      missing += (missing.empty() ? "" : ", ") + role + " " + std::to_string(joined[role]) +
                 " of " + std::to_string(count);
    }
    return missing;
  }

  // One turn of socket, refusals and heartbeats, without the core's timers (nothing has started).
  void serve_once(std::chrono::milliseconds timeout) {
    if (auto inbound = router->receive_view(timeout)) {
      handle_frame(inbound->peer, inbound->frame, now());
      execute_pending(now());
    }
    const TimeUs t = now();
    collect_refusals(t);
    send_heartbeats(t);
    flush();
    publish_metrics(t);
    if (auto synced = journal->maybe_sync(); !synced.ok() && journal_error.empty())
      journal_error = synced.error().to_string();
    options.on_idle();
  }

  void serve_arrived() {
    for (int i = 0; i < 4096; ++i) {
      auto inbound = router->receive_view(std::chrono::milliseconds(0));
      if (!inbound) break;
      handle_frame(inbound->peer, inbound->frame, now());
      execute_pending(now());
    }
    const TimeUs t = now();
    collect_refusals(t);
    flush();
  }

  // Rebuilds the core from the journal and continues it: a torn last record is dropped (and
  // said), damage in the middle refuses. The clock continues from the last record; agents present
  // at the crash are gone (their tasks requeued); verifications without a verdict run again.
  Status resume(const std::string& path, JournalSync sync) {
    auto contents = read_journal(path);
    if (!contents.ok()) return contents.error();
    if (auto resumable = check_resumable(*contents, path); !resumable.ok()) return resumable;
    auto replayed = replay_journal(contents->records, core);
    if (!replayed.ok()) return make_error(replayed.error().message, path);
    if (contents->torn_tail)
      options.on_log("journal: dropped a torn last record (" +
                     std::to_string(contents->file_bytes - contents->valid_bytes) +
                     " bytes at byte " + std::to_string(contents->valid_bytes) + ")");
    auto journal = Journal::resume(path, contents->valid_bytes, contents->records.size(), sync,
                                   kBatchWindowMs);
    if (!journal.ok()) return journal.error();
    this->journal = std::move(journal.value());
    journal_n = contents->records.size();
    started = replayed->started;
    // The clock goes on from the last record (1 ms later), so leases and limits keep their
    // meaning; the time the hub was down does not count.
    epoch = std::chrono::steady_clock::now() - std::chrono::microseconds(replayed->last_t + 1000);
    for (const auto& [agent, pid] : replayed->agent_pids) facts.agent_pids[agent] = pid;
    const TimeUs t = now();
    record(JsonLine()
               .field("ev", "resume")
               .field("records", static_cast<std::uint64_t>(contents->records.size()))
               .field("torn_bytes", contents->file_bytes - contents->valid_bytes),
           t);
    for (const auto& agent : replayed->agents_present) {
      record(JsonLine().field("ev", "leave").field("agent", agent).field("why", "hub restarted"), t);
      take(core.agent_left(agent, t));
    }
    join_inbox(t);
    for (auto& update : replayed->workspace_updates) write_workspace(update);
    for (auto& verify : replayed->unfinished_verifications) pending.push_back(std::move(verify));
    options.on_log("resumed from " + std::to_string(contents->records.size()) +
                   " journal records: " + std::to_string(replayed->agents_present.size()) +
                   " agents were present, " +
                   std::to_string(replayed->unfinished_verifications.size()) +
                   " verifications to run again");
    return {};
  }

  Status wait_for_team(double timeout_s) {
    const TimeUs deadline = now() + seconds_to_us(timeout_s);
    waiting_for_team = true;
    std::string missing = team_shortfall();
    while (!missing.empty()) {
      if (options.interrupted()) {
        say_bye("interrupted");
        return make_error("interrupted while waiting for the team (missing: " + missing + ")");
      }
      if (now() >= deadline) {
        say_bye("team incomplete");
        char waited[32];
        std::snprintf(waited, sizeof waited, "%g", timeout_s);
        return make_error(std::string("the team did not assemble within ") + waited +
                          " s; missing: " + missing + " (agents connect to " +
                          router->bound_endpoint() + ")");
      }
      serve_once(std::chrono::milliseconds(50));
      missing = team_shortfall();
    }
    waiting_for_team = false;
    return {};
  }

  void say_bye(const std::string& reason) {
    for (const auto& [agent_id, peer] : agents)
      send(peer.identity, MessageKind::bye, roles::Bye{reason});
    flush();
  }

  // Scrapes read the text last published: at most kMetricsEveryUs old, and fresh at the end.
  static constexpr TimeUs kMetricsEveryUs = 200'000;
  void publish_metrics(TimeUs t, bool now_anyway = false) {
    if (!metrics || (!now_anyway && t < next_metrics)) return;
    metrics->publish("/metrics", prometheus_text(core, facts.messages, t), kPrometheusContentType);
    next_metrics = t + kMetricsEveryUs;
  }

  void send_heartbeats(TimeUs t) {
    if (t < next_heartbeat) return;
    std::vector<std::string> silent;
    for (const auto& [agent_id, peer] : agents)
      if (t - peer.last_seen > silence_limit_us) silent.push_back(agent_id);
    for (const auto& agent_id : silent) drop_agent(agent_id, "heartbeat", t);
    for (const auto& [agent_id, peer] : agents)
      send_encoded(peer.identity, MessageKind::heartbeat,
                   [](std::string& out) { out.push_back('\x80'); });  // an empty map
    next_heartbeat = t + heartbeat_us;
  }

  void on_timers(TimeUs t) {
    send_heartbeats(t);
    auto deadline = core.next_deadline();
    if (deadline && *deadline <= t) {
      // Every tick is journaled, even one with no command: it may still have changed the state.
      record(JsonLine().field("ev", "tick"), t);
      take(core.tick(t));
    }
  }

  RunFacts run() {
    const TimeUs start = now();
    if (!started) {
      record(JsonLine()
                 .field("ev", "start")
                 .field("scenario", scenario.name)
                 .field("seed", static_cast<std::uint64_t>(scenario.seed))
                 .field("goals", static_cast<std::uint64_t>(scenario.goals.size())),
             start);
      take(core.start(start));
      started = true;
    }
    execute_pending(start);
    flush();
    while (!core.finished()) {
      if (!journal_error.empty()) {
        facts.failure = journal_error;
        break;
      }
      if (options.interrupted()) {
        facts.interrupted = true;
        const TimeUs t = now();
        record(JsonLine().field("ev", "stop").field("reason", "interrupted"), t);
        take(core.stop("interrupted", t));
        execute_pending(t);
        break;
      }
      if (std::string why = options.failure(); !why.empty()) {
        facts.failure = why;
        const TimeUs t = now();
        record(JsonLine().field("ev", "stop").field("reason", why), t);
        take(core.stop(why, t));
        execute_pending(t);
        break;
      }
      TimeUs t = now();
      TimeUs wake = next_heartbeat;
      if (auto deadline = core.next_deadline()) wake = std::min(wake, *deadline);
      // Verifier threads cannot wake the socket poll; while they work, look every 10 ms.
      const TimeUs cap_ms = verifier.busy() ? 10 : 100;
      const auto timeout_ms = std::clamp<TimeUs>((wake - t + 999) / 1000, 0, cap_ms);
      if (auto inbound = router->receive_view(std::chrono::milliseconds(timeout_ms))) {
        t = now();
        handle_frame(inbound->peer, inbound->frame, t);
        execute_pending(t);
        // Drain what else is waiting before looking at timers, up to half of what the team can
        // have in flight: their messages leave (flush) while the other half is being answered.
        // A batch that took every RESULT in flight would hold every ASSIGN back until it ended,
        // so hub and team would take turns instead of working at once (bench_dispatch, 768 in
        // flight: 131k tasks/s with batches of up to 1024, 170k with 384).
        const std::uint64_t batch =
            std::clamp<std::uint64_t>(team_capacity / 2, kMinBatch, kMaxBatch);
        for (std::uint64_t i = 0; i < batch; ++i) {
          auto more = router->receive_view(std::chrono::milliseconds(0));
          if (!more) break;
          t = now();  // one reading per frame: its records and the commands it caused
          handle_frame(more->peer, more->frame, t);
          execute_pending(t);
        }
      }
      t = now();
      collect_refusals(t);
      collect_verifications(t);
      on_timers(t);
      execute_pending(t);
      flush();
      publish_metrics(t);
      if (auto synced = journal->maybe_sync(); !synced.ok() && journal_error.empty())
        journal_error = synced.error().to_string();
      options.on_idle();
    }
    say_bye(core.finish_reason());
    (void)journal->sync_now();
    facts.wall_s = us_to_seconds(now() - std::min(start, core.started_at()));
    publish_metrics(now(), /*now_anyway=*/true);
    return facts;
  }
};

Result<std::unique_ptr<LiveHub>> LiveHub::create(const Scenario& scenario,
                                                 LiveHubOptions options) {
  auto impl = std::make_unique<Impl>(scenario, std::move(options));
  auto router = transport::RouterEndpoint::bind(
      impl->options.listen, impl->options.security ? &*impl->options.security : nullptr);
  if (!router.ok()) return router.error();
  impl->router = std::move(router.value());
  const std::string journal_path = impl->options.out_dir + "/journal.jsonl";
  const JournalSync sync = scenario.durability == Durability::fsync ? JournalSync::fsync
                           : scenario.durability == Durability::none ? JournalSync::none
                                                                      : JournalSync::batch;
  if (!impl->options.metrics_listen.empty()) {
    auto server = transport::HttpTextServer::start(impl->options.metrics_listen);
    if (!server.ok()) return server.error();
    impl->metrics = std::move(server.value());
    // Tools and tests find the metrics here (the port resolved when it was 0).
    std::ofstream(impl->options.out_dir + "/metrics.address")
        << impl->metrics->bound_address() << "\n";
    impl->publish_metrics(impl->now(), true);
  }
  if (impl->options.resume) {
    if (auto resumed = impl->resume(journal_path, sync); !resumed.ok()) return resumed.error();
  } else {
    auto journal = Journal::create(journal_path, sync, kBatchWindowMs);
    if (!journal.ok()) return journal.error();
    impl->journal = std::move(journal.value());
    impl->join_inbox(impl->now());
  }
  return std::unique_ptr<LiveHub>(new LiveHub(std::move(impl)));
}

LiveHub::LiveHub(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LiveHub::~LiveHub() = default;
const std::string& LiveHub::endpoint() const { return impl_->router->bound_endpoint(); }
RunFacts LiveHub::run() { return impl_->run(); }
Status LiveHub::wait_for_team(double timeout_s) { return impl_->wait_for_team(timeout_s); }
void LiveHub::serve_arrived() { impl_->serve_arrived(); }
const HubCore& LiveHub::core() const { return impl_->core; }
std::string LiveHub::metrics_address() const {
  return impl_->metrics ? impl_->metrics->bound_address() : std::string();
}

}  // namespace cadre::runtime
