"""Never finishes importing: only the manager's own limit can end a hook run of it."""

import time

time.sleep(3600)


def install(ctx):
    pass


def run(payload):
    return payload
