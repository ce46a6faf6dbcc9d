"""Reference: the smallest script doing what `outscale-cli chat --no-stream PROMPT` does."""

import sys

import httpx

url, model, prompt = sys.argv[1:4]
response = httpx.post(
    f"{url}/v1/chat/completions",
    json={"model": model, "messages": [{"role": "user", "content": prompt}]},
    timeout=120,
)
response.raise_for_status()
sys.stdout.write(response.json()["choices"][0]["message"]["content"] + "\n")
