"""Tools but no run: workers require run (what the plain /run route calls)."""


def shout(payload):
    return payload
