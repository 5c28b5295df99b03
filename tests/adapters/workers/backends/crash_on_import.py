import sys

print("loading the model failed: /nonexistent/model.bin", file=sys.stderr)
raise RuntimeError("backend cannot start: model missing")


def run(payload):
    return payload
