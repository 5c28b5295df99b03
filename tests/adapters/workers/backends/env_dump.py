import os


def run(payload):
    return {"env": dict(os.environ)}
