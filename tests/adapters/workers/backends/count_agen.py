import asyncio


async def run(payload):
    for i in range(int(payload.get("n", 3))):
        await asyncio.sleep(0)
        yield {"i": i, "async": True}
