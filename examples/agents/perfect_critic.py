#!/usr/bin/python3
"""An example agent in Python: a critic that judges simulated candidates by their ground truth.

A scenario gives it a role with `brain: {kind: process, command: [/usr/bin/python3,
examples/agents/perfect_critic.py]}`; `cadre run` starts it with CADRE_HUB, CADRE_AGENT_ID,
CADRE_ROLE, CADRE_MODEL and CADRE_CAPACITY set, in the scenario file's folder.
"""
import os
import sys

# The SDK lives in this repository's sdk/python; an installed copy on PYTHONPATH works too.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "sdk", "python"))
from cadre_agent import run_agent  # noqa: E402


def review(task):
    candidate = task.get("candidate") or {}
    correct = bool(candidate.get("sim_correct", False))
    return {
        "tokens_in": 300,
        "tokens_out": 40,
        "verdict": {"accept": correct, "score": 1.0 if correct else 0.0,
                    "feedback": "correct" if correct else "this does not do what the subtask asks"},
    }


if __name__ == "__main__":
    sys.exit(run_agent(review))
