"""The Celery side of bench/peer.sh: a no-op task and a producer that measures it.

Worker (started by bench/peer.sh):
    PYTHONPATH=bench/peer CELERY_PEER_REDIS=redis://127.0.0.1:PORT \
        /usr/bin/python3 -m celery -A celery_noop worker --pool prefork --concurrency 2 ...
Producer:
    PYTHONPATH=bench/peer CELERY_PEER_REDIS=redis://127.0.0.1:PORT \
        /usr/bin/python3 bench/peer/celery_noop.py --tasks 10000 --window 768 --warmup 2000 --runs 3

Redis is both the broker and the result backend. The producer keeps `window` tasks in flight
(submits a new one each time a result arrives), fetches every result through the result backend
(Celery's own path for Redis: a pub/sub subscription per task id, the stored result decoded into
the AsyncResult), checks each result's value, and measures, after a warm-up that is not counted:
tasks/s (first submit of the measured batch -> last result) and latency per task (apply_async
called -> its result in hand). With CELERY_PEER_WATCH set (bench/peer.sh sets it), it also
reports the CPU time per task of the producer, the worker (all its processes) and redis-server.
The worker must answer a ping before anything is timed; afterwards the worker's own count of
executed tasks (celery inspect stats) must equal the tasks sent. The last line of its output is
one JSON object; exit status 0 when every result was right and every count agrees.
"""
import argparse
import json
import os
import resource
import sys
import time

from celery import Celery

REDIS = os.environ.get("CELERY_PEER_REDIS", "redis://127.0.0.1:6379")

app = Celery("celery_noop", broker=REDIS + "/0", backend=REDIS + "/1")
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_ignore_result=False,       # results are stored and fetched: that is the workload
    task_acks_late=False,           # Celery's default: ack when the worker takes the task
    worker_prefetch_multiplier=int(os.environ.get("CELERY_PEER_PREFETCH", "4")),  # default 4
    worker_disable_rate_limits=True,
    worker_hijack_root_logger=False,
    result_expires=600,
)


@app.task(name="peer.noop")
def noop(i):
    """The no-op task: hands its argument back (so the producer can check every result)."""
    return i


def percentile(values, p):
    if not values:
        return 0.0
    values = sorted(values)
    rank = int(p / 100.0 * (len(values) - 1) + 0.5)
    return values[min(rank, len(values) - 1)]


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def others_cpu():
    """CPU seconds spent so far by the processes named in CELERY_PEER_WATCH ("redis=PID
    worker=-PGID"): a process by pid, a process group (the worker and its pool) by -pgid. Read from
    /proc; {} where there is none."""
    spec = dict(item.split("=", 1) for item in os.environ.get("CELERY_PEER_WATCH", "").split())
    if not spec:
        return {}
    tick = os.sysconf("SC_CLK_TCK")
    totals = {name: 0.0 for name in spec}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pgrp, cpu = fields[2], (int(fields[11]) + int(fields[12])) / tick
        for name, target in spec.items():
            if target.startswith("-") and pgrp == target[1:] or entry == target:
                totals[name] += cpu
    return totals


def run_batch(count, window, first_index, timeout_s):
    """Runs `count` tasks with `window` in flight; returns (seconds, latencies in ms, errors,
    CPU seconds this producer spent)."""
    cpu0, others0 = cpu_seconds(), others_cpu()
    consumer = app.backend.result_consumer
    in_flight = {}           # task id -> (AsyncResult, index, submit time)
    latencies = []
    errors = []
    finished = []            # results whose promise fired, to be handled by the loop
    sent = 0

    def on_ready(result):
        finished.append((result, time.perf_counter()))

    def submit():
        nonlocal sent
        index = first_index + sent
        t0 = time.perf_counter()
        result = noop.apply_async((index,))
        in_flight[result.id] = (result, index, t0)
        sent += 1
        result.then(on_ready)   # fires at once if the result was already buffered

    start = time.perf_counter()
    deadline = start + timeout_s
    while sent < count and len(in_flight) < window:
        submit()
    done = 0
    while done < count:
        if not finished:
            consumer.drain_events(timeout=0.5)
            if time.perf_counter() > deadline:
                raise SystemExit("celery_noop: timed out with %d of %d results in" % (done, count))
            continue
        result, t1 = finished.pop()
        result_record = in_flight.pop(result.id, None)
        if result_record is None:
            continue  # a duplicate delivery: never counted twice
        _, index, t0 = result_record
        done += 1
        latencies.append((t1 - t0) * 1000.0)
        if result.state != "SUCCESS" or result.result != index:
            errors.append("%s: state %s result %r (wanted %d)" % (result.id, result.state,
                                                                 result.result, index))
        while sent < count and len(in_flight) < window:
            submit()
    seconds = time.perf_counter() - start
    cpu = {name: value - others0.get(name, 0.0) for name, value in others_cpu().items()}
    cpu["producer"] = cpu_seconds() - cpu0
    return seconds, latencies, errors, cpu


def worker_total(timeout=5.0):
    """Tasks the worker says it has executed (celery inspect stats), or None if it won't say."""
    try:
        stats = app.control.inspect(timeout=timeout, limit=1).stats() or {}
    except Exception:  # noqa: BLE001 - a missing figure is reported, not fatal
        return None
    return sum(sum((s.get("total") or {}).values()) for s in stats.values())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=20000)
    parser.add_argument("--window", type=int, default=768)
    parser.add_argument("--warmup", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=1, help="measured batches (best and median)")
    parser.add_argument("--timeout", type=float, default=600.0, help="per batch, seconds")
    parser.add_argument("--worker-wait", type=float, default=60.0,
                        help="seconds to wait for the worker to answer a ping")
    args = parser.parse_args()

    # The worker must be up before anything is timed.
    up_deadline = time.monotonic() + args.worker_wait
    while not app.control.ping(timeout=0.5, limit=1):
        if time.monotonic() > up_deadline:
            raise SystemExit("celery_noop: no Celery worker answered within %.0f s"
                             % args.worker_wait)
    before = worker_total()
    # Warm-up: connections, worker processes, imports, Redis allocations. Not counted.
    run_batch(args.warmup, args.window, 10_000_000, args.timeout)
    runs = []
    all_errors = []
    for r in range(args.runs):
        seconds, latencies, errors, cpu = run_batch(args.tasks, args.window, r * args.tasks, args.timeout)
        all_errors += errors
        runs.append({
            "tasks": len(latencies),
            "seconds": seconds,
            "tasks_per_s": len(latencies) / seconds,
            "p50_ms": percentile(latencies, 50),
            "p99_ms": percentile(latencies, 99),
            # CPU per task (ms), by process: where Celery's costs go, unaffected by the load.
            "cpu_ms_per_task": {name: 1000.0 * value / max(1, len(latencies))
                                for name, value in sorted(cpu.items())},
        })
        print("  celery run %d: %d tasks in %.2f s = %.0f tasks/s, p50 %.1f ms, p99 %.1f ms"
              % (r + 1, len(latencies), seconds, len(latencies) / seconds,
                 runs[-1]["p50_ms"], runs[-1]["p99_ms"]), file=sys.stderr, flush=True)
    after = worker_total()
    expected = args.warmup + args.tasks * args.runs
    executed = (after - before) if (after is not None and before is not None) else None
    ok = (not all_errors and all(run["tasks"] == args.tasks for run in runs)
          and (executed is None or executed == expected))
    for error in all_errors[:5]:
        print("celery_noop: bad result: " + error, file=sys.stderr)
    if executed is not None and executed != expected:
        print("celery_noop: the worker executed %d tasks, %d were sent" % (executed, expected),
              file=sys.stderr)

    import celery, kombu, redis  # noqa: E401 - versions for the report
    print(json.dumps({
        "runs": runs,
        "window": args.window,
        "warmup": args.warmup,
        "worker_executed": executed,
        "expected": expected,
        "bad_results": len(all_errors),
        "verified": ok,
        "versions": {"celery": celery.__version__, "kombu": kombu.__version__,
                     "redis_py": redis.__version__,
                     "python": "%d.%d.%d" % sys.version_info[:3]},
        "prefetch_multiplier": app.conf.worker_prefetch_multiplier,
    }))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
