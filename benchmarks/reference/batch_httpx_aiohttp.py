"""Reference: a minimal batch on httpx with aiohttp's engine (httpx-aiohttp): COUNT chat
requests, CONCURRENCY at a time, one JSON line per answer on stdout.
Usage: URL MODEL COUNT CONCURRENCY"""

import asyncio
import json
import sys

import httpx
from httpx_aiohttp import HttpxAiohttpClient


async def main(url: str, model: str, count: int, concurrency: int) -> None:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with HttpxAiohttpClient(limits=limits, timeout=120) as client:
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with gate:
                body = {"model": model, "messages": [{"role": "user", "content": f"prompt {i}"}]}
                response = await client.post(f"{url}/v1/chat/completions", json=body)
                sys.stdout.write(json.dumps({"custom_id": str(i), "body": response.json()}) + "\n")

        await asyncio.gather(*(one(i) for i in range(count)))


asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
