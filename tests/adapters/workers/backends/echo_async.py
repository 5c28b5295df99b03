import asyncio
import os


async def run(payload):
    await asyncio.sleep(float(payload.get("sleep", 0)))
    return {"async": True, "echo": payload, "pid": os.getpid()}
