#!/usr/bin/python3
"""An example coder agent in Python: answers every solve task with a short text candidate.

Used by the protocol conformance suite (tests/conformance) as the Python SDK's agent.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "sdk", "python"))
from cadre_agent import run_agent  # noqa: E402


def solve(task):
    return {"tokens_in": 10, "tokens_out": 5,
            "candidate": {"content": "echo of %s/%s#%d" % (task["goal_id"], task["task_id"],
                                                          task["attempt"])}}


if __name__ == "__main__":
    sys.exit(run_agent(solve))
