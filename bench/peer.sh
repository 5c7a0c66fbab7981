#!/usr/bin/env bash
# bench/peer.sh: the `peer` benchmark (issue 9) — the same no-op workload through Celery 5 with a
# Redis broker and result backend, and through cadre's hub (build/bench/bench_dispatch, tcp), in
# the same run; prints tasks/s of both side by side and the ratio, as a table and one JSON line.
#
#   bench/peer.sh [--tasks N] [--cadre-tasks N] [--agents N] [--capacity K] [--window W]
#                 [--warmup N] [--runs R] [--pool prefork|threads|solo] [--concurrency C]
#                 [--prefetch M] [--bench PATH] [--no-install]
#
#   --tasks N        measured tasks per run, for both (default 10000)
#   --cadre-tasks N  tasks for bench_dispatch only (default 150000: 10,000 tasks take cadre about
#                    0.1 s, too short a run to be a steady rate; throughput is compared, not time)
#   --agents/--capacity  cadre's team (default 48 x 16, bench_dispatch's defaults); the window of
#                    tasks in flight is agents x capacity for both unless --window is given
#   --warmup N       Celery tasks run before measuring, not counted (default 2000)
#   --runs R         measured runs of each side; best and median are reported (default 3)
#   --pool/--concurrency  the Celery worker's pool (default prefork) and processes (default nproc)
#   --prefetch M     worker_prefetch_multiplier (default 4, Celery's default)
#   --bench PATH     bench_dispatch to run (or env BENCH_DISPATCH; default build/bench/bench_dispatch,
#                    built if missing)
#
# Starts a private redis-server (free loopback port, no persistence, its own dir under a temp
# folder) and a Celery worker, and stops both on any exit. Installs python3-celery, python3-redis
# and redis-server from Debian when missing (ci/install-missing.sh). Exit 0 when every Celery
# result came back right and both sides ran; 1 otherwise; 2 on bad options.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
peer_dir="$root/bench/peer"
python=/usr/bin/python3   # Debian's python3-celery is only importable by Debian's interpreter

tasks=10000
cadre_tasks=
agents=48
capacity=16
window=
warmup=2000
runs=3
pool=prefork
concurrency="$(nproc)"
prefetch=4
bench="${BENCH_DISPATCH:-$root/build/bench/bench_dispatch}"
install=1

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
die() { echo "peer.sh: $*" >&2; exit 2; }
positive() { [[ "$2" =~ ^[1-9][0-9]*$ ]] || die "$1 needs a positive integer, not '$2'"; }
while [ $# -gt 0 ]; do
  option="$1"
  case "$option" in
    -h|--help) usage; exit 0 ;;
    --no-install) install=0; shift; continue ;;
  esac
  [ $# -ge 2 ] || die "$option needs a value (see --help)"
  value="$2"
  case "$option" in
    --tasks) positive "$option" "$value"; tasks="$value" ;;
    --cadre-tasks) positive "$option" "$value"; cadre_tasks="$value" ;;
    --agents) positive "$option" "$value"; agents="$value" ;;
    --capacity) positive "$option" "$value"; capacity="$value" ;;
    --window) positive "$option" "$value"; window="$value" ;;
    --warmup) positive "$option" "$value"; warmup="$value" ;;
    --runs) positive "$option" "$value"; runs="$value" ;;
    --concurrency) positive "$option" "$value"; concurrency="$value" ;;
    --prefetch) positive "$option" "$value"; prefetch="$value" ;;
    --pool) case "$value" in prefork|threads|solo) pool="$value" ;;
              *) die "--pool is prefork, threads or solo, not '$value'" ;; esac ;;
    --bench) bench="$value" ;;
    *) die "unknown option '$option' (see --help)" ;;
  esac
  shift 2
done
[ "$agents" -ge 3 ] || die "--agents must be at least 3 (planner, coder, critic)"
cadre_tasks="${cadre_tasks:-150000}"
# bench_dispatch splits its agents evenly over three roles: its window is (agents/3*3) x capacity.
cadre_window=$(( agents / 3 * 3 * capacity ))
window="${window:-$cadre_window}"

# ---- what is needed --------------------------------------------------------------------------
if [ "$install" = 1 ]; then
  # python3-redis: Celery's Redis transport and backend need it; Debian's python3-celery only
  # suggests it.
  "$root/ci/install-missing.sh" python3-celery python3-redis redis-server
fi
for tool in redis-server redis-cli "$python"; do
  command -v "$tool" > /dev/null || { echo "peer.sh: $tool not found" >&2; exit 1; }
done
"$python" -c 'import celery, redis' 2> /dev/null \
  || { echo "peer.sh: $python cannot import celery and redis (python3-celery, python3-redis)" >&2
       exit 1; }
if [ ! -x "$bench" ]; then
  # Build it: PATH is <build dir>/bench/bench_dispatch.
  build_dir="$(dirname "$(dirname "$bench")")"
  echo "peer.sh: $bench is missing; building it in $build_dir" >&2
  [ -f "$build_dir/CMakeCache.txt" ] \
    || cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release > /dev/null
  cmake --build "$build_dir" -j"$(nproc)" --target bench_dispatch > /dev/null
  [ -x "$bench" ] || { echo "peer.sh: no $bench after the build" >&2; exit 1; }
fi

# ---- Redis and the Celery worker, stopped on any exit -----------------------------------------
work="$(mktemp -d "${TMPDIR:-/tmp}/cadre-peer.XXXXXX")"
redis_pid=
worker_pid=
# stop_pid PID [group]: TERM the process, wait up to 10 s for it (with "group": for its whole
# process group, which it leads), then KILL what is left.
stop_pid() {
  local pid="$1" target="$1" i
  [ -n "$pid" ] || return 0
  [ "${2:-}" = group ] && target="-$pid"
  kill -TERM "$pid" 2> /dev/null || true
  for i in $(seq 100); do
    kill -0 -- "$target" 2> /dev/null || break
    sleep 0.1
  done
  kill -KILL -- "$target" 2> /dev/null || true
  wait "$pid" 2> /dev/null || true
}
child_pid=
# run_child CMD...: runs CMD in the background and waits for it, returning its status, so that
# a signal is handled at once (bash runs a trap only after the foreground command has ended).
run_child() {
  "$@" &
  child_pid=$!
  local status=0
  wait "$child_pid" || status=$?
  child_pid=
  return "$status"
}
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  stop_pid "$child_pid"
  stop_pid "$worker_pid" group
  stop_pid "$redis_pid"
  if [ "$status" -ne 0 ] && [ "$status" -ne 130 ] && [ "$status" -ne 143 ] \
     && [ -f "$work/worker.log" ]; then
    echo "peer.sh: the worker's log ($work/worker.log), last lines:" >&2
    tail -n 15 "$work/worker.log" >&2 || true
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port=
for attempt in 1 2 3 4 5; do
  candidate="$(free_port)"
  mkdir -p "$work/redis"
  redis-server --bind 127.0.0.1 --port "$candidate" --save '' --appendonly no \
    --dir "$work/redis" --daemonize no --protected-mode yes --loglevel warning \
    > "$work/redis.log" 2>&1 &
  redis_pid=$!
  for i in $(seq 50); do
    if redis-cli -h 127.0.0.1 -p "$candidate" ping 2> /dev/null | grep -q PONG; then
      port="$candidate"; break
    fi
    kill -0 "$redis_pid" 2> /dev/null || break
    sleep 0.1
  done
  [ -n "$port" ] && break
  stop_pid "$redis_pid"; redis_pid=
done
[ -n "$port" ] || { echo "peer.sh: redis-server did not start:" >&2; cat "$work/redis.log" >&2; exit 1; }
export CELERY_PEER_REDIS="redis://127.0.0.1:$port"
export CELERY_PEER_PREFETCH="$prefetch"
export PYTHONPATH="$peer_dir${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1

# The worker leads a process group of its own (setpgid, then exec: its pid is $!), so that its
# pool's children are stopped with it. INFO would log a line per task, so WARNING; no
# gossip/mingle/heartbeat: one worker, nobody to talk to.
(cd "$work" && exec "$python" -c 'import os, sys; os.setpgid(0, 0); os.execv(sys.argv[1], sys.argv[1:])' \
   "$python" -m celery -A celery_noop worker --pool "$pool" --concurrency "$concurrency" \
   --loglevel WARNING --without-gossip --without-mingle --without-heartbeat \
   --hostname "peer@%h" > "$work/worker.log" 2>&1) &
worker_pid=$!
export CELERY_PEER_WATCH="redis=$redis_pid worker=-$worker_pid"  # their CPU time, per task

redis_version="$(redis-server --version | sed -n 's/.* v=\([^ ]*\).*/\1/p')"
echo "peer: Celery+Redis (redis-server $redis_version on 127.0.0.1:$port, worker --pool $pool" \
     "--concurrency $concurrency, prefetch x$prefetch) vs cadre's hub (bench_dispatch, tcp);" \
     "window $window, $tasks tasks x $runs run(s)"

# ---- the Celery side ---------------------------------------------------------------------------
if ! run_child "$python" "$peer_dir/celery_noop.py" --tasks "$tasks" --window "$window" \
     --warmup "$warmup" --runs "$runs" > "$work/celery.out"; then
  celery_ok=0
else
  celery_ok=1
fi
kill -0 "$worker_pid" 2> /dev/null || { echo "peer.sh: the Celery worker died" >&2; exit 1; }
tail -n 1 "$work/celery.out" > "$work/celery.json"
grep -q '^{' "$work/celery.json" || { echo "peer.sh: the Celery producer failed" >&2; exit 1; }
# Redis and the worker are no longer needed: stop them before cadre runs, so they cost it nothing.
stop_pid "$worker_pid" group; worker_pid=
stop_pid "$redis_pid"; redis_pid=

# ---- cadre's side ------------------------------------------------------------------------------
: > "$work/cadre.json"
for run in $(seq "$runs"); do
  echo "  cadre run $run: $bench --transport tcp --agents $agents --capacity $capacity" \
       "--tasks $cadre_tasks" >&2
  run_child "$bench" --transport tcp --agents "$agents" --capacity "$capacity" \
    --tasks "$cadre_tasks" > "$work/cadre.out"
  sed 's/^/    /' "$work/cadre.out" | sed '$d' >&2
  tail -n 1 "$work/cadre.out" >> "$work/cadre.json"
done

# ---- side by side ------------------------------------------------------------------------------
"$python" - "$work/celery.json" "$work/cadre.json" "$celery_ok" "$redis_version" "$pool" \
  "$concurrency" "$bench" "$tasks" "$cadre_tasks" "$runs" <<'EOF'
import json, statistics, sys
celery_file, cadre_file, celery_ok, redis_version, pool, concurrency, bench, tasks, cadre_tasks, runs = sys.argv[1:]
celery = json.load(open(celery_file))
cadre_runs = [json.loads(line)["results"]["tcp"]["cadre"] for line in open(cadre_file) if line.strip()]

def summary(rows):  # tasks/s best and median; latencies: the median of the runs' p50 and p99
    median = lambda key: statistics.median(r[key] for r in rows)
    return {"best": max(r["tasks_per_s"] for r in rows), "median": median("tasks_per_s"),
            "p50_ms": median("p50_ms"), "p99_ms": median("p99_ms")}

c, k = summary(celery["runs"]), summary(cadre_runs)
ratio_median = k["median"] / c["median"] if c["median"] else 0.0
ratio_best = k["best"] / c["best"] if c["best"] else 0.0
v = celery["versions"]
print("  %-28s %7s %12s %12s %10s %10s %8s" % ("system", "window", "tasks/s best", "tasks/s med",
                                             "p50 ms", "p99 ms", "tasks/run"))
print("  %-28s %7d %12.0f %12.0f %10.2f %10.2f %8d" % (
    "celery %s + redis %s" % (v["celery"], redis_version), celery["window"], c["best"],
    c["median"], c["p50_ms"], c["p99_ms"], celery["runs"][0]["tasks"]))
print("  %-28s %7d %12.0f %12.0f %10.3f %10.3f %8d" % (
    "cadre hub (tcp)", cadre_runs[0]["window"], k["best"], k["median"], k["p50_ms"],
    k["p99_ms"], cadre_runs[0]["tasks"]))
cpu = celery["runs"][0].get("cpu_ms_per_task", {})
if cpu:
    cpu_medians = {name: statistics.median(r["cpu_ms_per_task"][name] for r in celery["runs"])
                   for name in cpu}
    print("  celery CPU per task (median of runs): %.2f ms = %s" % (
        sum(cpu_medians.values()),
        " + ".join("%s %.2f" % (name, value) for name, value in sorted(cpu_medians.items()))))
else:
    cpu_medians = {}
print("  (tasks/s: best and median of %s runs; p50/p99: median of the runs' own)" % runs)
verdict = "met" if ratio_median >= 100 else "NOT met"
print("  cadre / celery+redis: %.0fx (median), %.0fx (best)  -- target >= 100x: %s" % (
    ratio_median, ratio_best, verdict))
print("  celery: %s pool x%s, prefetch x%s, warm-up %d tasks; results checked: %s "
      "(worker executed %s of %s sent); kombu %s, redis-py %s, Python %s" % (
    pool, concurrency, celery["prefetch_multiplier"], celery["warmup"],
    "yes" if celery["verified"] else "NO", celery["worker_executed"], celery["expected"],
    v["kombu"], v["redis_py"], v["python"]))
print(json.dumps({
    "bench": "peer",
    "tasks": int(tasks), "cadre_tasks": int(cadre_tasks), "runs": int(runs),
    "celery": {"tasks_per_s": c["median"], "tasks_per_s_best": c["best"],
               "p50_ms": c["p50_ms"], "p99_ms": c["p99_ms"], "window": celery["window"],
               "pool": pool, "concurrency": int(concurrency),
               "prefetch_multiplier": celery["prefetch_multiplier"], "warmup": celery["warmup"],
               "verified": celery["verified"], "worker_executed": celery["worker_executed"],
               "expected": celery["expected"], "runs": celery["runs"],
               "cpu_ms_per_task": cpu_medians,
               "versions": dict(v, redis_server=redis_version)},
    "cadre": {"tasks_per_s": k["median"], "tasks_per_s_best": k["best"],
              "p50_ms": k["p50_ms"], "p99_ms": k["p99_ms"],
              "window": cadre_runs[0]["window"], "transport": "tcp", "bench": bench,
              "runs": cadre_runs},
    "ratio": ratio_median, "ratio_best": ratio_best, "target_ratio": 100,
    "target_met": ratio_median >= 100,
}))
sys.exit(0 if celery_ok == "1" and celery["verified"] else 1)
EOF
