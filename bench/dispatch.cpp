// Benchmark: how many tasks a second the hub dispatches end to end, against the limit of the
// machine — a raw ZeroMQ ROUTER/DEALER echo with the same frames and the same window — measured
// in the same run, over tcp loopback and ipc.
//
// cadre: a LiveHub (the real shell: journal with the scenario's default durability, heartbeats,
// leases) on this thread; on another thread, N no-op agents (capacity K each, one DEALER each,
// speaking docs/protocol.md) that answer every task at once. A goal of one subtask is three
// tasks (plan, solve, review). A task counts when its RESULT is journaled and in the ledger.
// Latency of a task: ASSIGN sent -> RESULT taken into the ledger (TaskRecord leased_at ->
// finished_at), read from the hub's ledger afterwards.
//
// raw: a ROUTER echo thread and a DEALER thread with the same N x K frames in flight; a frame
// goes out as large as an ASSIGN and comes back as large as a RESULT of the cadre run.
//
// "server us": CPU time of the serving thread per task (the hub's loop) or per message (the echo's
// ROUTER thread), in microseconds. The two sides share the machine's cores, so tasks/s also moves
// with what the agents' side costs; this column is the hub's own cost.
//
// "Half load": the same again with the window shrunk until throughput is at most half the full
// run's; its p99 is the latency the target speaks of. The window shrinks by halving the
// agents first (down to 3), then their capacity: the no-op team polls all its sockets on one
// thread, so 48 sockets each holding one task measure the harness more than the hub (the raw
// echo itself needs ~0.85 ms per round trip in that shape).
//
//   build/bench/bench_dispatch [--agents N] [--capacity K] [--tasks T] [--transport tcp|ipc|both]
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "cadre/roles/messages.h"
#include "cadre/runtime/live_hub.h"
#include "cadre/transport/envelope.h"

#include "bench_args.h"
#include "bench_frames.h"

namespace {

using namespace cadre;
using Clock = std::chrono::steady_clock;

struct Options {
  std::uint32_t agents = 48;  // split evenly over planner, coder, critic
  std::uint32_t capacity = 16;
  std::uint64_t tasks = 300'000;
  std::vector<std::string> transports = {"tcp", "ipc"};
  bool cadre_only = false;  // skip the raw echo and the half-load run (for profiling the hub)
};

struct Figures {
  double tasks_per_s = 0;
  double p50_ms = 0, p99_ms = 0;
  std::uint64_t tasks = 0;
  double seconds = 0;
  std::uint32_t window = 0;  // frames in flight (agents x capacity)
  // CPU time of the serving thread (the hub's loop; the echo's ROUTER thread) per task or
  // message, microseconds: what one costs the server whatever the agents' side costs.
  double server_cpu_us = 0;
};

// CPU time the calling thread has used, in microseconds.
double thread_cpu_us() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

double percentile(std::vector<double>& values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const auto rank = static_cast<std::size_t>(p / 100.0 * (values.size() - 1) + 0.5);
  return values[std::min(rank, values.size() - 1)];
}

using bench::frame_of;

std::string endpoint_for(const std::string& transport, const std::string& dir, const char* tag) {
  if (transport == "ipc") return "ipc://" + dir + "/" + tag + ".sock";
  return "tcp://127.0.0.1:*";
}

// ---- the no-op team ---------------------------------------------------------------------------

// N agents on one thread: HELLO, then answer every ASSIGN at once; a heartbeat every 200 ms.
class NoopTeam {
 public:
  NoopTeam(zmq::context_t& context, const std::string& endpoint, std::uint32_t agents,
           std::uint32_t capacity)
      : context_(context), endpoint_(endpoint), agents_(agents), capacity_(capacity) {}

  void start() {
    thread_ = std::thread([this] {
      ::pthread_setname_np(::pthread_self(), "noop-team");  // apart from the hub in profiles
      loop();
    });
  }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  // Sizes of the last frames seen, for the raw echo.
  std::size_t assign_bytes() const { return assign_bytes_; }
  std::size_t result_bytes() const { return result_bytes_; }

 private:
  void loop() {
    static const char* kRoles[] = {"planner", "coder", "critic"};
    std::vector<zmq::socket_t> sockets;
    std::vector<std::string> ids;
    for (std::uint32_t i = 0; i < agents_; ++i) {
      const std::string role = kRoles[i % 3];
      ids.push_back(role + "-" + std::to_string(i / 3 + 1));
      sockets.emplace_back(context_, zmq::socket_type::dealer);
      sockets.back().set(zmq::sockopt::routing_id, ids.back());
      sockets.back().set(zmq::sockopt::linger, 0);
      sockets.back().set(zmq::sockopt::sndhwm, 0);
      sockets.back().set(zmq::sockopt::rcvhwm, 0);
      sockets.back().connect(endpoint_);
      roles::Hello hello;
      hello.agent_id = ids.back();
      hello.role = role;
      hello.brain = "noop";
      hello.model = "noop";
      hello.capacity = capacity_;
      hello.pid = ::getpid();
      sockets.back().send(zmq::buffer(frame_of(transport::MessageKind::hello, 1, ids.back(),
                                               roles::encode(hello))));
    }
    std::vector<zmq::pollitem_t> items;
    for (auto& socket : sockets) items.push_back({socket.handle(), 0, ZMQ_POLLIN, 0});
    std::vector<std::uint64_t> next_id(agents_, 2);
    auto next_beat = Clock::now();
    const std::string heartbeat_body = roles::encode_empty();
    std::string frame;  // reused for every RESULT
    while (!stop_) {
      zmq::poll(items.data(), items.size(), std::chrono::milliseconds(50));
      for (std::size_t i = 0; i < sockets.size(); ++i) {
        if (!(items[i].revents & ZMQ_POLLIN)) continue;
        // Drain what is there: answering in batches is what a busy agent does.
        for (int n = 0; n < 256; ++n) {
          zmq::message_t message;
          if (!sockets[i].recv(message, zmq::recv_flags::dontwait)) break;
          // As the C++ agent reads a frame: views, the body walked once.
          auto decoded = transport::decode_envelope_view(message.to_string_view());
          if (!decoded.ok()) continue;
          const auto& envelope = decoded.envelope();
          if (envelope.kind != transport::MessageKind::assign) continue;
          auto task = roles::decode_checked_assignment(envelope.body);
          if (!task.ok()) continue;
          assign_bytes_ = message.size();
          roles::TaskOutcome outcome = roles::outcome_for(*task, "noop");  // echoes the ref
          switch (task->kind) {
            case roles::TaskKind::plan: outcome.plan = task->goal_subtasks; break;
            case roles::TaskKind::solve:
            case roles::TaskKind::resolve: outcome.candidate = roles::Candidate{"done", {}, {}}; break;
            case roles::TaskKind::review:
            case roles::TaskKind::approve: outcome.verdict = roles::Verdict{true, 1.0, ""}; break;
          }
          frame.clear();
          transport::append_envelope_head(frame, transport::MessageKind::result, next_id[i]++, ids[i]);
          roles::encode_to(frame, outcome);
          result_bytes_ = frame.size();
          sockets[i].send(zmq::buffer(frame), zmq::send_flags::dontwait);
        }
      }
      if (Clock::now() >= next_beat) {
        for (std::size_t i = 0; i < sockets.size(); ++i)
          sockets[i].send(zmq::buffer(frame_of(transport::MessageKind::heartbeat, next_id[i]++,
                                               ids[i], heartbeat_body)),
                          zmq::send_flags::dontwait);
        next_beat = Clock::now() + std::chrono::milliseconds(200);
      }
    }
  }

  zmq::context_t& context_;
  std::string endpoint_;
  std::uint32_t agents_, capacity_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> assign_bytes_{0}, result_bytes_{0};
};

runtime::Scenario bench_scenario(std::uint32_t agents, std::uint32_t capacity, std::uint64_t tasks) {
  runtime::Scenario s;
  s.name = "bench-dispatch";
  s.seed = 1;
  for (const char* role : {"planner", "coder", "critic"}) {
    runtime::TeamEntry entry;
    entry.role = role;
    entry.count = agents / 3;
    entry.capacity = capacity;
    entry.brain.kind = "process";
    entry.brain.model = "noop";
    s.team.push_back(entry);
  }
  s.workflow.samples = 1;
  s.workflow.max_revisions = 0;
  s.workflow.on_exhausted = runtime::OnExhausted::fail;
  s.workflow.lease_s = 60;
  s.workflow.heartbeat_s = 1;
  s.workflow.liveness = 5;
  s.pricing.models["noop"] = runtime::ModelPrice{0, 0};
  const std::uint64_t goals = std::max<std::uint64_t>(1, tasks / 3);
  for (std::uint64_t g = 0; g < goals; ++g) {
    runtime::GoalSpec goal;
    goal.id = "g" + std::to_string(g);
    goal.title = "bench";
    goal.subtasks.push_back({"noop", 0.1});
    s.goals.push_back(std::move(goal));
  }
  return s;  // durability: the default (batch)
}

Figures run_cadre(const std::string& transport, std::uint32_t agents, std::uint32_t capacity,
                  std::uint64_t tasks, std::size_t* assign_bytes, std::size_t* result_bytes) {
  const std::string dir = (std::filesystem::temp_directory_path() /
                           ("cadre-bench-dispatch-" + std::to_string(::getpid())))
                              .string();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const runtime::Scenario scenario = bench_scenario(agents, capacity, tasks);
  runtime::LiveHubOptions options;
  options.listen = endpoint_for(transport, dir, "hub");
  options.out_dir = dir;
  auto hub = runtime::LiveHub::create(scenario, options);
  if (!hub.ok()) {
    std::fprintf(stderr, "bench_dispatch: %s\n", hub.error().to_string().c_str());
    std::exit(1);
  }
  zmq::context_t context(1);
  NoopTeam team(context, (*hub)->endpoint(), (agents / 3) * 3, capacity);
  team.start();
  if (auto joined = (*hub)->wait_for_team(30); !joined.ok()) {
    std::fprintf(stderr, "bench_dispatch: %s\n", joined.error().to_string().c_str());
    std::exit(1);
  }
  const auto start = Clock::now();
  const double cpu_start = thread_cpu_us();
  (*hub)->run();
  const double cpu_us = thread_cpu_us() - cpu_start;
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  team.stop();
  const auto& ledger = (*hub)->core().ledger();
  std::vector<double> latencies;
  latencies.reserve(ledger.task_count());
  for (std::size_t id = 0; id < ledger.task_count(); ++id) {
    const auto& task = ledger.task(static_cast<runtime::TaskId>(id));
    if (task.finished_at >= 0 && task.dispatches == 1)
      latencies.push_back(runtime::us_to_seconds(task.finished_at - task.leased_at) * 1000.0);
  }
  Figures f;
  f.tasks = ledger.counters().completed;
  f.seconds = seconds;
  f.tasks_per_s = f.tasks / seconds;
  f.p50_ms = percentile(latencies, 50);
  f.p99_ms = percentile(latencies, 99);
  f.window = (agents / 3) * 3 * capacity;
  f.server_cpu_us = f.tasks > 0 ? cpu_us / static_cast<double>(f.tasks) : 0;
  if (assign_bytes) *assign_bytes = team.assign_bytes();
  if (result_bytes) *result_bytes = team.result_bytes();
  hub->reset();
  std::filesystem::remove_all(dir);
  return f;
}

// ---- raw ZeroMQ echo --------------------------------------------------------------------------

Figures run_raw(const std::string& transport, std::uint32_t peers, std::uint32_t window_per_peer,
                std::uint64_t messages, std::size_t out_bytes, std::size_t back_bytes) {
  const std::string dir = (std::filesystem::temp_directory_path() /
                           ("cadre-bench-raw-" + std::to_string(::getpid())))
                              .string();
  std::filesystem::create_directories(dir);
  zmq::context_t context(1);
  zmq::socket_t router(context, zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  router.set(zmq::sockopt::sndhwm, 0);
  router.set(zmq::sockopt::rcvhwm, 0);
  router.bind(endpoint_for(transport, dir, "raw"));
  const std::string endpoint = router.get(zmq::sockopt::last_endpoint);
  std::atomic<bool> stop{false};
  double server_cpu_us = 0;
  // The server answers each frame with one of `back_bytes` (a RESULT's size goes one way, an
  // ASSIGN's the other; which is which does not matter to the echo).
  std::thread server([&] {
    ::pthread_setname_np(::pthread_self(), "echo-server");
    const std::string reply(back_bytes, 'r');
    zmq::pollitem_t item{router.handle(), 0, ZMQ_POLLIN, 0};
    const double cpu_start = thread_cpu_us();
    while (!stop) {
      zmq::poll(&item, 1, std::chrono::milliseconds(50));
      for (int n = 0; n < 1024; ++n) {
        zmq::message_t id, body;
        if (!router.recv(id, zmq::recv_flags::dontwait)) break;
        (void)router.recv(body);
        std::string out = reply;
        std::memcpy(out.data(), body.data(), std::min<std::size_t>(8, body.size()));
        router.send(id, zmq::send_flags::sndmore);
        router.send(zmq::buffer(out), zmq::send_flags::dontwait);
      }
    }
    server_cpu_us = thread_cpu_us() - cpu_start;
  });
  std::vector<zmq::socket_t> dealers;
  std::vector<zmq::pollitem_t> items;
  for (std::uint32_t i = 0; i < peers; ++i) {
    dealers.emplace_back(context, zmq::socket_type::dealer);
    dealers.back().set(zmq::sockopt::linger, 0);
    dealers.back().set(zmq::sockopt::sndhwm, 0);
    dealers.back().set(zmq::sockopt::rcvhwm, 0);
    dealers.back().connect(endpoint);
  }
  for (auto& dealer : dealers) items.push_back({dealer.handle(), 0, ZMQ_POLLIN, 0});
  std::string request(std::max<std::size_t>(out_bytes, 8), 'a');
  auto send_one = [&](zmq::socket_t& dealer) {
    const std::int64_t now = Clock::now().time_since_epoch().count();
    std::memcpy(request.data(), &now, 8);
    dealer.send(zmq::buffer(request), zmq::send_flags::dontwait);
  };
  std::vector<double> latencies;
  latencies.reserve(messages);
  std::uint64_t sent = 0, done = 0;
  const auto start = Clock::now();
  for (auto& dealer : dealers)
    for (std::uint32_t k = 0; k < window_per_peer && sent < messages; ++k, ++sent) send_one(dealer);
  while (done < messages) {
    zmq::poll(items.data(), items.size(), std::chrono::milliseconds(100));
    for (std::size_t i = 0; i < dealers.size(); ++i) {
      if (!(items[i].revents & ZMQ_POLLIN)) continue;
      for (int n = 0; n < 256; ++n) {
        zmq::message_t reply;
        if (!dealers[i].recv(reply, zmq::recv_flags::dontwait)) break;
        std::int64_t stamp = 0;
        std::memcpy(&stamp, reply.data(), 8);
        latencies.push_back(
            std::chrono::duration<double, std::milli>(Clock::now().time_since_epoch() -
                                                      Clock::duration(stamp))
                .count());
        ++done;
        if (sent < messages) {
          send_one(dealers[i]);
          ++sent;
        }
      }
    }
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  stop = true;
  server.join();
  std::filesystem::remove_all(dir);
  Figures f;
  f.tasks = done;
  f.seconds = seconds;
  f.tasks_per_s = done / seconds;
  f.p50_ms = percentile(latencies, 50);
  f.p99_ms = percentile(latencies, 99);
  f.window = peers * window_per_peer;
  f.server_cpu_us = done > 0 ? server_cpu_us / static_cast<double>(done) : 0;
  return f;
}

void print_row(const char* what, const std::string& transport, const Figures& f) {
  std::printf("  %-22s %-4s %8u %11.0f %9.3f %9.3f %10lu %8.2f %10.2f\n", what, transport.c_str(),
              f.window, f.tasks_per_s, f.p50_ms, f.p99_ms, static_cast<unsigned long>(f.tasks),
              f.seconds, f.server_cpu_us);
}

nlohmann::json as_json(const Figures& f) {
  return {{"tasks_per_s", f.tasks_per_s}, {"p50_ms", f.p50_ms}, {"p99_ms", f.p99_ms},
          {"tasks", f.tasks},             {"seconds", f.seconds}, {"window", f.window},
          {"server_cpu_us", f.server_cpu_us}};
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&] { return cadre::bench::option_value(argc, argv, i, "bench_dispatch"); };
    try {
      if (arg == "--agents") options.agents = std::max(3, std::stoi(value()));
      else if (arg == "--capacity") options.capacity = std::max(1, std::stoi(value()));
      else if (arg == "--tasks") options.tasks = std::max(3ll, std::stoll(value()));
      else if (arg == "--cadre-only") options.cadre_only = true;
      else if (arg == "--transport") {
        const std::string t = value();
        if (t == "both") options.transports = {"tcp", "ipc"};
        else if (t == "tcp" || t == "ipc") options.transports = {t};
        else throw std::invalid_argument(t);
      } else if (arg == "-h" || arg == "--help") {
        std::printf("usage: %s [--agents N] [--capacity K] [--tasks T] [--transport tcp|ipc|both] "
                    "[--cadre-only]\n",
                    argv[0]);
        return 0;
      } else {
        throw std::invalid_argument(arg);
      }
    } catch (const std::exception&) {
      std::fprintf(stderr, "bench_dispatch: bad option or value near '%s' (see --help)\n",
                   arg.c_str());
      return 2;
    }
  }

  std::printf("  %-22s %-4s %8s %11s %9s %9s %10s %8s %10s\n", "run", "via", "window", "tasks/s",
              "p50 ms", "p99 ms", "tasks", "seconds", "server us");
  nlohmann::json results = nlohmann::json::object();
  for (const auto& transport : options.transports) {
    std::size_t assign_bytes = 0, result_bytes = 0;
    const Figures cadre = run_cadre(transport, options.agents, options.capacity, options.tasks,
                                    &assign_bytes, &result_bytes);
    print_row("cadre hub (journal on)", transport, cadre);
    if (options.cadre_only) {
      results[transport] = {{"cadre", as_json(cadre)}};
      continue;
    }
    const std::uint32_t peers = (options.agents / 3) * 3;
    const Figures raw = run_raw(transport, peers, options.capacity, cadre.tasks,
                                assign_bytes, result_bytes);
    print_row("raw zmq echo", transport, raw);
    // Half load: halve the window until the hub runs at no more than half its full rate.
    Figures half;
    for (std::uint32_t capacity = options.capacity, agents = options.agents;;) {
      if (agents > 3) agents = std::max<std::uint32_t>(3, agents / 2);
      else if (capacity > 1) capacity /= 2;
      half = run_cadre(transport, agents, capacity, std::max<std::uint64_t>(30'000, options.tasks / 4),
                       nullptr, nullptr);
      if (half.tasks_per_s <= cadre.tasks_per_s / 2 || (capacity == 1 && agents == 3)) break;
    }
    print_row("cadre at half load", transport, half);
    const double ratio = raw.tasks_per_s > 0 ? cadre.tasks_per_s / raw.tasks_per_s : 0;
    std::printf("  %-22s %-4s cadre/raw = %.1f%%  (frames: ASSIGN %zu B, RESULT %zu B)\n", "ratio",
                transport.c_str(), 100.0 * ratio, assign_bytes, result_bytes);
    results[transport] = {{"cadre", as_json(cadre)},
                          {"raw", as_json(raw)},
                          {"half_load", as_json(half)},
                          {"ratio", ratio},
                          {"assign_bytes", assign_bytes},
                          {"result_bytes", result_bytes}};
  }
  std::printf("%s\n", nlohmann::json{{"bench", "dispatch"},
                                     {"agents", options.agents},
                                     {"capacity", options.capacity},
                                     {"results", results}}
                          .dump()
                          .c_str());
  return 0;
}
