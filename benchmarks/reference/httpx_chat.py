"""Reference: the smallest script doing what `outscale-cli chat --no-stream PROMPT` does, with
no settings library (the figure that shows what pydantic-settings costs)."""

import os
import sys

import httpx

response = httpx.post(
    f"{os.environ['OUTSCALE_SERVER_URL']}/v1/chat/completions",
    json={
        "model": os.environ["OUTSCALE_MODEL_NAME"],
        "messages": [{"role": "user", "content": sys.argv[1]}],
    },
    timeout=120,
)
response.raise_for_status()
sys.stdout.write(response.json()["choices"][0]["message"]["content"] + "\n")
