"""Counts the calls that reach it, so a test can tell a cached answer (no call) from a fresh one."""

CALLS = {"n": 0}


def run(payload):
    CALLS["n"] += 1
    if payload.get("fail"):
        raise ValueError(f"asked to fail (call {CALLS['n']})")
    return {"n": CALLS["n"], "echo": payload}


def items(payload):
    CALLS["n"] += 1
    for i in range(int(payload.get("count", 2))):
        yield {"i": i, "n": CALLS["n"]}


def calls(payload):
    return CALLS["n"]
