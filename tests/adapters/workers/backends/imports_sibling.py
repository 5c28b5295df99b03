import protocol


def run(payload):
    return protocol.NAME
