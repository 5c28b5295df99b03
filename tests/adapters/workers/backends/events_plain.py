"""on_event(event) without ctx, async."""

import asyncio

SEEN = []


async def on_event(event):
    await asyncio.sleep(0)
    SEEN.append(event)


def run(payload):
    return SEEN
