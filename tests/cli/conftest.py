"""CLI level: each command through typer's CliRunner, the network faked by pytest-httpx."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from outscale_cli.app import app

SERVER = "http://vm.test:5000"
CHAT_URL = f"{SERVER}/v1/chat/completions"
FIM_URL = f"{SERVER}/v1/fim/completions"
MODELS_URL = f"{SERVER}/v1/models"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("OUTSCALE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("OUTSCALE_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.setenv("OUTSCALE_SERVER_URL", SERVER)
    monkeypatch.setenv("OUTSCALE_MODEL_NAME", "small-2409")
    monkeypatch.setattr("outscale_cli.client.time.sleep", lambda s: None)


@pytest.fixture
def cli() -> Callable[..., Result]:
    runner = CliRunner()

    def invoke(*args: str, input: str | bytes | None = None) -> Result:
        return runner.invoke(app, list(args), input=input)

    return invoke


def completion(content: Any = "Eugène Delacroix.", **extra: Any) -> dict[str, Any]:
    return {
        "id": "cmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "small-2409",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14},
        **extra,
    }


def sse(*pieces: str, finish: str = "stop", done: bool = True) -> bytes:
    """An event stream carrying these text pieces, the last with finish_reason and usage."""
    events = []
    for i, piece in enumerate(pieces):
        last = i == len(pieces) - 1
        chunk: dict[str, Any] = {
            "id": "cmpl-1",
            "object": "chat.completion.chunk",
            "model": "small-2409",
            "choices": [
                {"index": 0, "delta": {"content": piece}, "finish_reason": finish if last else None}
            ],
        }
        if last:
            chunk["usage"] = {
                "prompt_tokens": 10,
                "completion_tokens": len(pieces),
                "total_tokens": 10 + len(pieces),
            }
        events.append(f"data: {json.dumps(chunk)}\n\n")
    if done:
        events.append("data: [DONE]\n\n")
    return "".join(events).encode()


def sent_json(request: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(request.content)
    return body
