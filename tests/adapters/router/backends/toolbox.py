"""Named tools for the router's tool routes: a plain one, a streaming one, one that publishes, and a function the
manifest does not declare (so pages must not reach it)."""


def run(payload):
    return {"tool": "run", "payload": payload}


def label(payload):
    return ", ".join(item["name"] for item in payload["items"])


def words(payload):
    for i, word in enumerate(payload["text"].split()):
        yield {"i": i, "word": word}


def announce(payload, ctx):
    ctx.publish(payload.get("name", "news"), payload.get("data"))
    return "sent"


def undeclared(payload):
    return "a backend function the manifest does not list"
