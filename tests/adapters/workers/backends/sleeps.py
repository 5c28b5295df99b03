import asyncio
import os


async def run(payload):
    await asyncio.sleep(float(payload.get("sleep", 30)))
    return {"slept": True, "pid": os.getpid()}
