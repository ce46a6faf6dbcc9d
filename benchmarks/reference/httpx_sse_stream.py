"""Reference: the smallest httpx + httpx-sse script printing a streamed answer's deltas."""

import json
import sys

import httpx
from httpx_sse import connect_sse

url, model, prompt = sys.argv[1:4]
body = {"model": model, "messages": [{"role": "user", "content": prompt}], "stream": True}
with httpx.Client(timeout=120) as client:
    with connect_sse(client, "POST", f"{url}/v1/chat/completions", json=body) as source:
        for event in source.iter_sse():
            if event.data == "[DONE]":
                break
            delta = json.loads(event.data)["choices"][0]["delta"].get("content")
            if delta:
                sys.stdout.write(delta)
                sys.stdout.flush()
sys.stdout.write("\n")
