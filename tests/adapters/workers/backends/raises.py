import os


def run(payload):
    if payload.get("ok"):
        return {"ok": True, "pid": os.getpid()}
    raise ValueError(f"bad input: {payload.get('text')!r}")
