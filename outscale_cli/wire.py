"""Request bodies of the Mistral API, built from what the user set and nothing else.

La Plateforme rejects unknown fields with 422, so an option the user did not give is left out
rather than sent as a default or null. Ranges follow the API reference and are checked before
anything is sent (exit 2).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, NamedTuple

from outscale_cli.errors import UsageError
from outscale_cli.inputs import MAX_INPUT_BYTES, read_bytes


class Sampling(NamedTuple):
    """The sampling flags of a command."""

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    min_tokens: int | None = None  # FIM only
    stop: tuple[str, ...] = ()
    seed: int | None = None
    safe_prompt: bool = False
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    response_format: dict[str, Any] | None = None

    def check(self) -> None:
        """Refuse values outside the API's ranges, naming the flag."""
        _in_range("--temperature", self.temperature, 0.0, 1.5)
        if self.top_p is not None and not 0.0 < self.top_p <= 1.0:
            raise UsageError(f"--top-p must be greater than 0 and at most 1 (got {self.top_p:g})")
        _in_range("--presence-penalty", self.presence_penalty, -2.0, 2.0)
        _in_range("--frequency-penalty", self.frequency_penalty, -2.0, 2.0)
        if self.max_tokens is not None and self.max_tokens < 1:
            raise UsageError(f"--max-tokens must be 1 or more (got {self.max_tokens})")
        if self.min_tokens is not None and self.min_tokens < 0:
            raise UsageError(f"--min-tokens must be 0 or more (got {self.min_tokens})")
        if (
            self.min_tokens is not None
            and self.max_tokens is not None
            and self.min_tokens > self.max_tokens
        ):
            raise UsageError("--min-tokens must not exceed --max-tokens")
        if self.seed is not None and self.seed < 0:
            raise UsageError(f"--seed must be 0 or more (got {self.seed})")
        if any(not s for s in self.stop):
            raise UsageError("--stop needs a non-empty sequence")

    def fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in (
            ("temperature", self.temperature),
            ("top_p", self.top_p),
            ("max_tokens", self.max_tokens),
            ("min_tokens", self.min_tokens),
            ("random_seed", self.seed),
            ("presence_penalty", self.presence_penalty),
            ("frequency_penalty", self.frequency_penalty),
            ("response_format", self.response_format),
        ):
            if value is not None:
                out[key] = value
        if self.stop:
            out["stop"] = self.stop[0] if len(self.stop) == 1 else list(self.stop)
        if self.safe_prompt:
            out["safe_prompt"] = True
        return out


def _in_range(flag: str, value: float | None, low: float, high: float) -> None:
    if value is not None and not low <= value <= high:
        raise UsageError(f"{flag} must be between {low:g} and {high:g} (got {value:g})")


def chat_body(
    model: str,
    prompt: str,
    *,
    system: str | None,
    prefix: str | None,
    sampling: Sampling,
    stream: bool,
    earlier: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """`earlier`: the messages of the conversation so far (their system message included)."""
    messages: list[dict[str, Any]] = list(earlier or [])
    if system and not earlier:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": prompt})
    if prefix:
        messages.append({"role": "assistant", "content": prefix, "prefix": True})
    body: dict[str, Any] = {"model": model, "messages": messages}
    body.update(sampling.fields())
    if stream:
        body["stream"] = True
    return body


def fim_body(
    model: str, prompt: str, *, suffix: str | None, sampling: Sampling, stream: bool
) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "prompt": prompt}
    if suffix is not None:
        body["suffix"] = suffix
    body.update(sampling.fields())
    if stream:
        body["stream"] = True
    return body


def response_format(
    json_mode: bool, schema_file: Path | None, limit: int = MAX_INPUT_BYTES
) -> dict[str, Any] | None:
    """--json-mode or --json-schema FILE (the schema named after the file; read through the
    same bounded reader as every input)."""
    if json_mode and schema_file is not None:
        raise UsageError("--json-mode and --json-schema exclude each other: choose one")
    if json_mode:
        return {"type": "json_object"}
    if schema_file is None:
        return None
    raw = read_bytes(str(schema_file), f"--json-schema {schema_file}", limit)
    import json

    try:
        schema = json.loads(raw)
    except RecursionError:
        raise UsageError(f"--json-schema {schema_file} is nested too deeply") from None
    except ValueError as exc:
        raise UsageError(f"--json-schema {schema_file} is not valid JSON: {exc}") from None
    if not isinstance(schema, dict):
        raise UsageError(f"--json-schema {schema_file} must hold a JSON object")
    name = re.sub(r"[^A-Za-z0-9_-]", "_", schema_file.stem)[:64] or "schema"
    return {
        "type": "json_schema",
        "json_schema": {"name": name, "schema": schema, "strict": True},
    }


# -- whole request bodies (batch lines): the fields each endpoint takes, and their ranges ----
CHAT_FIELDS = frozenset({
    "model", "messages", "temperature", "top_p", "max_tokens", "stream", "stop",
    "random_seed", "response_format", "tools", "tool_choice", "presence_penalty",
    "frequency_penalty", "n", "prediction", "safe_prompt", "reasoning_effort",
    "parallel_tool_calls", "prompt_mode",
})  # fmt: skip
FIM_FIELDS = frozenset({
    "model", "prompt", "suffix", "temperature", "top_p", "max_tokens", "min_tokens",
    "stream", "stop", "random_seed",
})  # fmt: skip
# the sampling fields a command-line flag may set for every line that does not set its own
SAMPLING_FIELDS = frozenset({
    "temperature", "top_p", "max_tokens", "min_tokens", "stop", "random_seed",
    "presence_penalty", "frequency_penalty", "safe_prompt", "response_format",
})  # fmt: skip
ROLES = frozenset({"system", "user", "assistant", "tool"})


def body_problems(endpoint: str, body: dict[str, Any]) -> list[str]:
    """What the API would refuse in a whole request body (`endpoint`: "chat" or "fim"),
    in words; empty when nothing."""
    allowed = CHAT_FIELDS if endpoint == "chat" else FIM_FIELDS
    problems = [
        f"unknown field {key!r} for {endpoint} (it takes: {', '.join(sorted(allowed))})"
        for key in body
        if key not in allowed
    ]
    if body.get("stream"):
        problems.append("'stream' must not be set: batch answers are whole")
    if "model" in body and (not isinstance(body["model"], str) or not body["model"].strip()):
        problems.append("'model' must be a model id string")
    for key, low, high in (("temperature", 0.0, 1.5), ("presence_penalty", -2.0, 2.0),
                           ("frequency_penalty", -2.0, 2.0)):  # fmt: skip
        if key in body and not _number_in(body[key], low, high):
            problems.append(f"{key!r} must be a number from {low:g} to {high:g}")
    if "top_p" in body and not (_number_in(body["top_p"], 0.0, 1.0) and body["top_p"] > 0):
        problems.append("'top_p' must be a number above 0, at most 1")
    for key, low in (("max_tokens", 1), ("min_tokens", 0), ("random_seed", 0), ("n", 1)):
        if key in body and not (_is_int(body[key]) and body[key] >= low):
            problems.append(f"{key!r} must be a whole number, {low} or more")
    stop = body.get("stop")
    if stop is not None and not (
        (isinstance(stop, str) and stop)
        or (isinstance(stop, list) and stop and all(isinstance(s, str) and s for s in stop))
    ):
        problems.append("'stop' must be a non-empty string or a list of them")
    if "safe_prompt" in body and not isinstance(body["safe_prompt"], bool):
        problems.append("'safe_prompt' must be true or false")
    if "response_format" in body and not isinstance(body["response_format"], dict):
        problems.append("'response_format' must be an object")
    if endpoint == "chat":
        problems.extend(_messages_problems(body.get("messages")))
    else:
        if not isinstance(body.get("prompt"), str):
            problems.append("'prompt' must be a string (the code before the gap)")
        if "suffix" in body and not isinstance(body["suffix"], str):
            problems.append("'suffix' must be a string")
    return problems


def _messages_problems(messages: Any) -> list[str]:
    if not isinstance(messages, list) or not messages:
        return ["'messages' must be a non-empty list"]
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            return [f"messages[{i}] must be an object with a role ({', '.join(sorted(ROLES))})"]
        if not isinstance(message.get("content"), (str, list, type(None))):
            return [f"messages[{i}].content must be a string or a list of chunks"]
    last = messages[-1]
    if not (
        last["role"] in ("user", "tool") or (last["role"] == "assistant" and last.get("prefix"))
    ):
        return ["the last message must be the user's (or a tool's, or an assistant prefix)"]
    return []


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number_in(value: Any, low: float, high: float) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and low <= value <= high
