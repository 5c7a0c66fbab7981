"""cadre agent SDK for Python: the agent side of docs/protocol.md.

Uses Debian's python3-zmq and python3-msgpack only. An agent is a function from a task (a dict
with the ASSIGN body's fields) to an answer (a dict with RESULT fields: plan / candidate /
verdict, tokens_in, tokens_out, ok, error); run_agent() does the rest: HELLO until WELCOME,
heartbeats both ways, reconnecting when the hub falls silent, resending unacknowledged results,
and leaving on BYE.

    from cadre_agent import run_agent
    def review(task):
        return {"verdict": {"accept": True, "score": 1.0, "feedback": "fine"}}
    run_agent(review)          # hub, id, role, model, capacity from CADRE_* variables or arguments

With CURVE keys (a hub started with `cadre hub --keys DIR`), give the agent its key file and the
hub's public key file: key_file= / hub_key_file=, or CADRE_KEY_FILE / CADRE_HUB_KEY_FILE.
"""

import os
import sys
import time

import msgpack
import zmq

PROTOCOL_VERSION = 1
HELLO, WELCOME, HEARTBEAT, ASSIGN, RESULT, ACK, ERROR, BYE, CANCEL = range(1, 10)


def read_key_file(path, need_secret):
    """Reads a cadre key file (`public-key = Z85` / `secret-key = Z85` lines; docs/cluster.md).

    A file holding a secret must not be readable by group or others (like ssh, it is refused).
    Returns (public, secret or None) as bytes.
    """
    if need_secret and os.stat(path).st_mode & 0o077:
        raise ValueError("%s: key file is readable by others (mode %o); run: chmod 600 %s"
                         % (path, os.stat(path).st_mode & 0o777, path))
    fields = {}
    with open(path) as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, sep, value = line.partition("=")
            if not sep or key.strip() not in ("public-key", "secret-key") or len(value.strip()) != 40:
                raise ValueError("%s:%d: expected 'public-key = <40 Z85 characters>' or "
                                 "'secret-key = ...'" % (path, number))
            fields[key.strip()] = value.strip().encode()
    if "public-key" not in fields or (need_secret and "secret-key" not in fields):
        raise ValueError("%s: lacks its %s" % (path, "secret-key" if need_secret else "public-key"))
    return fields["public-key"], fields.get("secret-key")


def _log(agent_id, text):
    print("[%s] %s" % (agent_id, text), file=sys.stderr, flush=True)


class Agent:
    """One connection to a hub. Use run_agent() unless you need the pieces."""

    def __init__(self, hub, agent_id, role, model, capacity=1, brain="process", curve=None):
        self.hub = hub
        self.agent_id = agent_id
        self.role = role
        self.model = model
        self.capacity = capacity
        self.brain = brain
        self.curve = curve  # (public, secret, server_public) as Z85 bytes, or None
        self.context = zmq.Context.instance()
        self.socket = None
        self.next_msg_id = 1
        self.heartbeat_s = 0.5
        self.liveness = 3
        self.joined = False
        self.unacked = {}  # (goal, task, attempt) -> encoded RESULT body
        self.malformed = 0
        self._connect()

    def _connect(self):
        if self.socket is not None:
            self.socket.close(linger=0)
        self.socket = self.context.socket(zmq.DEALER)
        self.socket.setsockopt(zmq.IDENTITY, self.agent_id.encode())
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.RECONNECT_IVL, 100)
        self.socket.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
        if self.curve is not None:
            public, secret, server_public = self.curve
            self.socket.setsockopt(zmq.CURVE_PUBLICKEY, public)
            self.socket.setsockopt(zmq.CURVE_SECRETKEY, secret)
            self.socket.setsockopt(zmq.CURVE_SERVERKEY, server_public)
        self.socket.connect(self.hub)

    def send(self, kind, body):
        frame = msgpack.packb([PROTOCOL_VERSION, kind, self.next_msg_id, self.agent_id, body],
                              use_bin_type=True)
        self.next_msg_id += 1
        self.socket.send(frame)

    def hello(self):
        self.send(HELLO, {"agent_id": self.agent_id, "role": self.role, "brain": self.brain,
                          "model": self.model, "capacity": self.capacity,
                          "protocol": PROTOCOL_VERSION, "pid": os.getpid()})

    def receive(self, timeout_s):
        """The next decoded envelope (kind, msg_id, body) or None; malformed frames are counted."""
        if not self.socket.poll(int(timeout_s * 1000)):
            return None
        frame = self.socket.recv()
        try:
            envelope = msgpack.unpackb(frame, raw=False)
            version, kind, msg_id, _sender, body = envelope
            if version != PROTOCOL_VERSION or not isinstance(body, dict):
                raise ValueError("bad envelope")
            return kind, msg_id, body
        except Exception:  # noqa: BLE001 - anything undecodable is counted and dropped
            self.malformed += 1
            return None

    def answer(self, handler, task):
        key = (task["goal_id"], task["task_id"], task["attempt"])
        result = {"goal_id": key[0], "task_id": key[1], "attempt": key[2], "model": self.model,
                  "ok": True, "tokens_in": 0, "tokens_out": 0}
        started = time.monotonic()
        try:
            answer = handler(task) or {}
            result.update(answer)
        except Exception as error:  # noqa: BLE001 - a failing handler is a failed attempt
            result["ok"] = False
            result["error"] = "%s: %s" % (type(error).__name__, error)
        result["brain_s"] = float(time.monotonic() - started)
        # The hub's reference for this assignment, echoed as it came (docs/protocol.md, RESULT):
        # with it the hub finds the task without looking its key up. Hubs that send none need none.
        ref = task.get("ref")
        if type(ref) is int and ref >= 0:  # noqa: E721 - not a bool
            result["ref"] = ref
        else:
            result.pop("ref", None)
        self.unacked[key] = result
        self.send(RESULT, result)


def run_agent(handler, hub=None, agent_id=None, role=None, model=None, capacity=None,
              hub_timeout_s=30.0, key_file=None, hub_key_file=None):
    """Runs an agent until the hub says BYE (returns 0) or is silent for hub_timeout_s (returns 1).

    Arguments default to the environment that `cadre run` sets for process brains:
    CADRE_HUB, CADRE_AGENT_ID, CADRE_ROLE, CADRE_MODEL, CADRE_CAPACITY; and, for a hub with
    CURVE keys, CADRE_KEY_FILE and CADRE_HUB_KEY_FILE. A bad key file exits with code 2.
    """
    env = os.environ
    key_file = key_file or env.get("CADRE_KEY_FILE")
    hub_key_file = hub_key_file or env.get("CADRE_HUB_KEY_FILE")
    curve = None
    if key_file or hub_key_file:
        try:
            if not (key_file and hub_key_file):
                raise ValueError("CURVE needs both the agent's key file and the hub's public key file")
            public, secret = read_key_file(key_file, need_secret=True)
            server_public, _ = read_key_file(hub_key_file, need_secret=False)
        except (OSError, ValueError) as error:
            print("cadre agent: error: %s" % error, file=sys.stderr, flush=True)
            return 2
        curve = (public, secret, server_public)
    agent = Agent(hub or env["CADRE_HUB"], agent_id or env["CADRE_AGENT_ID"],
                  role or env["CADRE_ROLE"], model or env.get("CADRE_MODEL", "process"),
                  int(capacity or env.get("CADRE_CAPACITY", "1")), curve=curve)
    agent.hello()
    last_heard = time.monotonic()
    next_heartbeat = time.monotonic()
    last_hello = time.monotonic()
    while True:
        message = agent.receive(0.05)
        now = time.monotonic()
        if message is not None:
            kind, msg_id, body = message
            last_heard = now
            if kind == WELCOME:
                agent.heartbeat_s = max(0.01, body.get("heartbeat_ms", 500) / 1000.0)
                agent.liveness = max(1, body.get("liveness", 3))
                if not agent.joined:
                    _log(agent.agent_id, "joined hub %s" % body.get("hub_id", "?"))
                agent.joined = True
                for result in list(agent.unacked.values()):
                    agent.send(RESULT, result)
            elif kind == ASSIGN:
                if not all(k in body for k in ("goal_id", "task_id", "attempt", "kind")):
                    agent.send(ERROR, {"code": "bad_body", "message": "ASSIGN lacks its key",
                                       "ref_msg_id": msg_id})
                else:
                    agent.answer(handler, body)
            elif kind == ACK:
                agent.unacked.pop((body.get("goal_id"), body.get("task_id"),
                                   body.get("attempt")), None)
            elif kind == ERROR:
                if body.get("code") == "not_registered":
                    agent.hello()
                    last_hello = now
            elif kind == BYE:
                return 0
        if now >= next_heartbeat:
            if agent.joined:
                agent.send(HEARTBEAT, {})
            elif now - last_hello >= 1.0:
                agent.hello()
                last_hello = now
            next_heartbeat = now + agent.heartbeat_s
        silence = now - last_heard
        if hub_timeout_s and silence > hub_timeout_s:
            _log(agent.agent_id, "no hub for %.0f s; giving up" % hub_timeout_s)
            return 1
        if agent.joined and silence > agent.heartbeat_s * agent.liveness:
            _log(agent.agent_id, "hub silent; reconnecting")
            agent.joined = False
            agent._connect()
            agent.hello()
            last_hello = now
            last_heard = now
