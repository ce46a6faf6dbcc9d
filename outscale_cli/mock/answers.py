"""Deterministic synthetic answers for the stand-in deployment, cut into tokens."""

from __future__ import annotations

import json
import re
from typing import Any

_TOKEN = re.compile(r"\s*\S+|\s+")

FILLER = (
    "\nThe stand-in repeats this paragraph to make a long answer for tests and benchmarks, "
    "so that streaming, rendering and memory can be measured without a real model.\n"
)


def tokens_of(text: str) -> list[str]:
    """Word-sized pieces whose concatenation is exactly `text`."""
    return _TOKEN.findall(text)


def _first_line(text: str, limit: int = 60) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def chat_text(body: dict[str, Any], model: str) -> str:
    messages = body.get("messages") or []
    user = next((m.get("content") for m in reversed(messages) if m.get("role") == "user"), "")
    user_text = user if isinstance(user, str) else json.dumps(user)
    fmt = (body.get("response_format") or {}).get("type")
    if fmt in ("json_object", "json_schema"):
        return json.dumps({"stand_in": True, "model": model, "prompt_chars": len(user_text)})
    return (
        "**Stand-in answer** from the outscale-cli mock deployment, not a real model.\n\n"
        f"You asked ({len(user_text)} characters): *{_first_line(user_text)}*\n\n"
        f"- model: `{model}`\n"
        "- this text is synthetic and the same every time\n\n"
        "```python\n"
        'print("hello from the stand-in")\n'
        "```\n"
    )


def fim_text(body: dict[str, Any]) -> str:
    suffix = body.get("suffix") or ""
    indent = "    "
    if suffix:
        return f"\n{indent}# stand-in completion from the outscale-cli mock deployment\n{indent}"
    return f"\n{indent}# stand-in completion from the outscale-cli mock deployment\n{indent}pass\n"


def answer_tokens(
    text: str, *, prefix: str | None, length: int | None, max_tokens: int | None
) -> tuple[list[str], str]:
    """The tokens to send and the finish_reason: `length` when max_tokens cut the answer."""
    pieces = tokens_of(text)
    if length is not None and length > len(pieces):
        filler = tokens_of(FILLER)
        while len(pieces) < length:
            pieces.extend(filler[: length - len(pieces)])
    elif length is not None:
        pieces = pieces[:length]
    if prefix:
        pieces = [prefix, *pieces]  # Mistral repeats an assistant prefix in its reply
    if max_tokens is not None and len(pieces) > max_tokens:
        return pieces[:max_tokens], "length"
    return pieces, "stop"


def count_prompt_tokens(body: dict[str, Any]) -> int:
    text = json.dumps(body.get("messages") or body.get("prompt") or "")
    return max(1, len(tokens_of(text)))
