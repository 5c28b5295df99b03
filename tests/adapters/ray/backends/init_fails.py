def init(ctx):
    raise RuntimeError("nope, no model here")


def run(payload):
    return payload
