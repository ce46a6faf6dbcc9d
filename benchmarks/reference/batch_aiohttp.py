"""Reference: a minimal batch on plain aiohttp: COUNT chat requests, CONCURRENCY at a time,
one JSON line per answer on stdout. Usage: URL MODEL COUNT CONCURRENCY"""

import asyncio
import json
import sys

import aiohttp


async def main(url: str, model: str, count: int, concurrency: int) -> None:
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with gate:
                body = {"model": model, "messages": [{"role": "user", "content": f"prompt {i}"}]}
                async with session.post(f"{url}/v1/chat/completions", json=body) as response:
                    data = await response.json()
                sys.stdout.write(json.dumps({"custom_id": str(i), "body": data}) + "\n")

        await asyncio.gather(*(one(i) for i in range(count)))


asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
