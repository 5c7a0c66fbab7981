#!/usr/bin/env python3
"""A scripted, misbehaving OpenAI-compatible chat-completions server for tests (docs/llm.md).

Standard library only. Usage:

    python3 fake_openai_server.py --port 0 --script FILE [--host 127.0.0.1] [--log FILE]
                                  [--require-key KEY] [--quota RPM [--quota-slices]]

The first line on stdout is "PORT <n>"; then it serves until SIGTERM or SIGINT.

Endpoints:
    POST /v1/chat/completions, POST /chat/completions   answered from the script
    GET  /stats    {"requests": n, "by_status": {"200": n, "drop": n, ...}, "by_rule": {...}}
    GET  /v1/models, GET /models   a one-model list
    GET  /health   {"ok": true}

Script (JSON):
    [entry, ...]                              sequence mode
    {"sequence": [entry, ...]}                sequence mode
    {"rules": [rule, ...], "default": entry-or-list}   rules mode

A rule is {"match": "SUBSTRING", "where": "last_user" | "system" | "any", ...} plus either the
fields of one entry or "responses": [entry, ...]. The first rule whose list is not used up and
whose match occurs in the chosen text (default: the last user message; "system": the system
messages; "any": every message) answers; otherwise the default does (if none: HTTP 500).

An entry is one of:
    {"content": "text"}         200 with choices[0].message.content = text; a non-string content
                                (object, list) is sent as its JSON text. usage counts words unless
                                "prompt_tokens" / "completion_tokens" are given.
    {"echo": true}              200 whose content is the last user message
    {"status": 429, "retry_after": 0.2}    429 with a Retry-After header (seconds)
    {"status": 500}             any status with a JSON error body, or "body": "raw text"
    {"stall_s": 5}              sleep, then answer (its content, or "stalled")
    {"drop": true}              close the connection without a response
    {"invalid_json": true}      200 whose body is not JSON
and may carry "times": N (default 1): it is served N times, then the next entry of its list is.
The last entry of a list repeats forever unless it has "times"; a list whose last entry has
"times" is used up after it: a used-up rule no longer matches, a used-up sequence or default
answers HTTP 500 "script exhausted".

--require-key KEY: requests without "Authorization: Bearer KEY" get 401 (counted, not scripted).
--quota RPM: more than RPM chat requests in any 60 s window get 429 with Retry-After.
--quota-slices: the quota is enforced in one-second slices instead, as large providers do: a
    bucket of max(1, RPM/60) requests, refilled continuously at RPM/60 a second; a request that
    finds it empty gets 429 with Retry-After (the time until the bucket holds one again).
--log FILE: appends one JSON line per chat request: {"n", "path", "auth", "body"}.
"""

import argparse
import collections
import json
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def word_count(text):
    return len(str(text).split())


class EntryList:
    """A list of entries served in order; see the module docstring for the rules."""

    def __init__(self, entries, name):
        if isinstance(entries, dict):
            entries = [entries]
        if not isinstance(entries, list) or not entries:
            raise ValueError("%s: expected an entry or a non-empty list of entries" % name)
        for entry in entries:
            if not isinstance(entry, dict):
                raise ValueError("%s: every entry must be an object, got %r" % (name, entry))
            times = entry.get("times", 1)
            if not isinstance(times, int) or times < 1:
                raise ValueError("%s: times must be a positive integer" % name)
        self.entries = entries
        self.name = name
        self.index = 0
        self.used = 0

    def exhausted(self):
        return self.index >= len(self.entries)

    def take(self):
        """The next entry, or None when used up. Call under the server lock."""
        if self.exhausted():
            return None
        entry = self.entries[self.index]
        last = self.index == len(self.entries) - 1
        if last and "times" not in entry:
            return entry
        self.used += 1
        if self.used >= entry.get("times", 1):
            self.index += 1
            self.used = 0
        return entry


class Rule:
    def __init__(self, spec, position):
        if not isinstance(spec, dict) or not isinstance(spec.get("match"), str):
            raise ValueError("rule %d: needs a string \"match\"" % position)
        self.match = spec["match"]
        self.where = spec.get("where", "last_user")
        if self.where not in ("last_user", "system", "any"):
            raise ValueError("rule %d: where must be last_user, system or any" % position)
        self.name = spec.get("name", self.match)
        if "responses" in spec:
            entries = spec["responses"]
        else:
            entries = {k: v for k, v in spec.items() if k not in ("match", "where", "name")}
        self.entries = EntryList(entries, "rule %d (%s)" % (position, self.match))

    def matches(self, messages):
        if self.entries.exhausted():
            return False
        if self.where == "last_user":
            users = [m for m in messages if m.get("role") == "user"]
            texts = [users[-1].get("content", "")] if users else []
        elif self.where == "system":
            texts = [m.get("content", "") for m in messages if m.get("role") == "system"]
        else:
            texts = [m.get("content", "") for m in messages]
        return any(self.match in str(t) for t in texts)


class Script:
    def __init__(self, data):
        self.rules = []
        self.default = None
        if isinstance(data, list):
            self.default = EntryList(data, "sequence")
        elif isinstance(data, dict) and "sequence" in data:
            self.default = EntryList(data["sequence"], "sequence")
        elif isinstance(data, dict) and "rules" in data:
            self.rules = [Rule(spec, i) for i, spec in enumerate(data["rules"])]
            if "default" in data:
                self.default = EntryList(data["default"], "default")
        elif isinstance(data, dict):
            self.default = EntryList(data, "script")
        else:
            raise ValueError("script must be a list of entries or an object")

    def pick(self, messages):
        """(entry or None, label). Call under the server lock."""
        for rule in self.rules:
            if rule.matches(messages):
                return rule.entries.take(), rule.name
        if self.default is not None:
            return self.default.take(), "default"
        return None, "none"


class State:
    def __init__(self, script, log_path, require_key, quota, slices=False):
        self.lock = threading.Lock()
        self.script = script
        self.log_path = log_path
        self.require_key = require_key
        self.quota = quota
        self.requests = 0
        self.by_status = collections.Counter()
        self.by_rule = collections.Counter()
        self.recent = collections.deque()  # request times, for --quota
        self.slices = slices               # --quota-slices: a bucket instead of a window
        self.bucket = max(1.0, quota / 60.0)
        self.bucket_at = time.monotonic()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeOpenAI/1.0"

    def log_message(self, fmt, *args):  # quiet
        pass

    # ---- helpers -------------------------------------------------------------------------
    def send_json(self, status, payload, headers=None):
        self.send_raw(status, json.dumps(payload).encode(), "application/json", headers)

    def send_raw(self, status, body, content_type, headers=None):
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True

    def count(self, status):
        with self.server.state.lock:
            self.server.state.by_status[str(status)] += 1

    def drop(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # ---- GET ---------------------------------------------------------------------------
    def do_GET(self):
        state = self.server.state
        path = self.path.split("?")[0]
        if path == "/stats":
            with state.lock:
                payload = {"requests": state.requests, "by_status": dict(state.by_status),
                           "by_rule": dict(state.by_rule)}
            self.send_json(200, payload)
        elif path in ("/v1/models", "/models"):
            self.send_json(200, {"object": "list",
                                 "data": [{"id": "fake-model", "object": "model"}]})
        elif path == "/health":
            self.send_json(200, {"ok": True})
        else:
            self.send_json(404, {"error": {"message": "no such path: " + path}})

    # ---- POST --------------------------------------------------------------------------
    def do_POST(self):
        state = self.server.state
        path = self.path.split("?")[0]
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        if path not in ("/v1/chat/completions", "/chat/completions"):
            self.send_json(404, {"error": {"message": "no such path: " + path}})
            return
        auth = self.headers.get("Authorization")
        with state.lock:
            state.requests += 1
            n = state.requests
            if state.log_path:
                try:
                    body_for_log = json.loads(raw.decode("utf-8", "replace"))
                except ValueError:
                    body_for_log = raw.decode("utf-8", "replace")
                with open(state.log_path, "a", encoding="utf-8") as log:
                    log.write(json.dumps({"n": n, "path": path, "auth": auth is not None,
                                          "body": body_for_log}) + "\n")

        if state.require_key is not None and auth != "Bearer " + state.require_key:
            self.count(401)
            self.send_json(401, {"error": {"message": "invalid or missing API key",
                                           "type": "invalid_request_error",
                                           "code": "invalid_api_key"}})
            return

        if state.quota and state.slices:
            with state.lock:
                now = time.monotonic()
                rate = state.quota / 60.0
                state.bucket = min(max(1.0, rate), state.bucket + (now - state.bucket_at) * rate)
                state.bucket_at = now
                over = state.bucket < 1.0
                wait = (1.0 - state.bucket) / rate if over else 0
                if not over:
                    state.bucket -= 1.0
            if over:
                self.count(429)
                self.send_json(429, {"error": {"message": "rate limit (quota) exceeded"}},
                               {"Retry-After": "%.3f" % max(wait, 0.001)})
                return
        elif state.quota:
            with state.lock:
                now = time.monotonic()
                while state.recent and now - state.recent[0] >= 60:
                    state.recent.popleft()
                over = len(state.recent) >= state.quota
                wait = 60 - (now - state.recent[0]) if over else 0
                if not over:
                    state.recent.append(now)
            if over:
                self.count(429)
                self.send_json(429, {"error": {"message": "rate limit (quota) exceeded"}},
                               {"Retry-After": "%.3f" % max(wait, 0.001)})
                return

        try:
            request = json.loads(raw.decode("utf-8"))
            messages = request.get("messages") or []
            if not isinstance(messages, list):
                raise ValueError("messages is not a list")
        except (ValueError, AttributeError) as error:
            self.count(400)
            self.send_json(400, {"error": {"message": "bad request body: %s" % error}})
            return

        with state.lock:
            entry, label = state.script.pick(messages)
            state.by_rule[label] += 1
        if entry is None:
            self.count(500)
            self.send_json(500, {"error": {"message": "script exhausted"}})
            return
        self.answer(entry, request, messages)

    def answer(self, entry, request, messages):
        if entry.get("stall_s"):
            time.sleep(float(entry["stall_s"]))
        if entry.get("drop"):
            self.count("drop")
            self.drop()
            return
        if entry.get("invalid_json"):
            self.count(200)
            self.send_raw(200, b"<html><body>this is not JSON</body></html>", "text/html")
            return
        status = int(entry.get("status", 200))
        if status != 200 or "body" in entry:
            headers = {}
            if "retry_after" in entry:
                headers["Retry-After"] = str(entry["retry_after"])
            self.count(status)
            if "body" in entry:
                body = entry["body"]
                if not isinstance(body, str):
                    body = json.dumps(body)
                self.send_raw(status, body.encode(), "application/json", headers)
            else:
                self.send_json(status, {"error": {"message": "scripted HTTP %d" % status,
                                                  "type": "fake_error"}}, headers)
            return
        if entry.get("echo"):
            users = [m for m in messages if m.get("role") == "user"]
            content = users[-1].get("content", "") if users else ""
        elif "content" in entry:
            content = entry["content"]
            if not isinstance(content, str):
                content = json.dumps(content)
        else:
            content = "stalled" if entry.get("stall_s") else ""
        prompt_text = " ".join(str(m.get("content", "")) for m in messages)
        prompt_tokens = int(entry.get("prompt_tokens", word_count(prompt_text)))
        completion_tokens = int(entry.get("completion_tokens", word_count(content)))
        with self.server.state.lock:
            n = self.server.state.requests
        self.count(200)
        self.send_json(200, {
            "id": "chatcmpl-fake-%d" % n,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.get("model", "fake-model"),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        })


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # SIGTERM must not wait for stalled handlers
    allow_reuse_address = True
    request_queue_size = 64


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--script", required=True)
    parser.add_argument("--log")
    parser.add_argument("--require-key")
    parser.add_argument("--quota", type=int, default=0, help="requests per minute; 0: none")
    parser.add_argument("--quota-slices", action="store_true",
                        help="enforce --quota in one-second slices (a bucket), not a 60 s window")
    args = parser.parse_args()

    try:
        with open(args.script, encoding="utf-8") as f:
            script = Script(json.load(f))
    except (OSError, ValueError) as error:
        print("fake_openai_server: bad script %s: %s" % (args.script, error), file=sys.stderr)
        return 2

    server = Server((args.host, args.port), Handler)
    server.state = State(script, args.log, args.require_key, args.quota, args.quota_slices)

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("PORT %d" % server.server_address[1], flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    except SystemExit:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
