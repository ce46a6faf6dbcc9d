"""Reference: `outscale-cli chat --no-stream PROMPT` written by a user on the specified stack:
settings loaded with pydantic-settings, the request posted with httpx."""

import sys

import httpx
from user_settings import Settings

settings = Settings()
response = httpx.post(
    f"{settings.server_url.rstrip('/')}/v1/chat/completions",
    json={"model": settings.model_name, "messages": [{"role": "user", "content": sys.argv[1]}]},
    headers=settings.headers(),
    timeout=httpx.Timeout(settings.timeout, connect=settings.connect_timeout),
)
response.raise_for_status()
sys.stdout.write(response.json()["choices"][0]["message"]["content"] + "\n")
