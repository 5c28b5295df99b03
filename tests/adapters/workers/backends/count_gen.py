"""A generator: the router streams its items as SSE."""


def run(payload):
    for i in range(int(payload.get("n", 3))):
        yield {"i": i}
