"""Reference: the smallest script printing a streamed answer's deltas on the specified stack:
settings loaded with pydantic-settings, then an httpx + httpx-sse loop."""

import json
import sys

import httpx
from httpx_sse import connect_sse
from user_settings import Settings

settings = Settings()
body = {
    "model": settings.model_name,
    "messages": [{"role": "user", "content": sys.argv[1]}],
    "stream": True,
}
timeout = httpx.Timeout(settings.timeout, connect=settings.connect_timeout)
with httpx.Client(timeout=timeout, headers=settings.headers()) as client:
    url = f"{settings.server_url.rstrip('/')}/v1/chat/completions"
    with connect_sse(client, "POST", url, json=body) as source:
        for event in source.iter_sse():
            if event.data == "[DONE]":
                break
            delta = json.loads(event.data)["choices"][0]["delta"].get("content")
            if delta:
                sys.stdout.write(delta)
                sys.stdout.flush()
sys.stdout.write("\n")
