"""From the server's answer to pieces of text: streamed chunks or a whole response. No I/O.

`Completion` accumulates what arrives (text, thinking, finish_reason, usage, tool calls) and
hands back, for each chunk, only the new piece (`Delta`), so no per-event work grows with the
answer. `iter_deltas` runs the chain bytes -> events -> JSON chunks -> deltas and decides
whether the stream ended properly.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from outscale_cli.errors import BadResponse, ServerError, message_from_object
from outscale_cli.sse import EventDecoder


@dataclass(frozen=True)
class Delta:
    text: str = ""
    thinking: str = ""


def split_content(content: Any) -> tuple[str, str]:
    """(answer text, thinking text) of a message's `content`: a string or a list of chunks."""
    if content is None:
        return "", ""
    if isinstance(content, str):
        return content, ""
    if not isinstance(content, list):
        raise BadResponse(f"unexpected message content of type {type(content).__name__}")
    text: list[str] = []
    thinking: list[str] = []
    for part in content:
        if isinstance(part, str):
            text.append(part)
        elif isinstance(part, dict):
            kind = part.get("type")
            if kind == "text":
                text.append(str(part.get("text") or ""))
            elif kind == "thinking":
                inner_text, _ = split_content(part.get("thinking"))
                thinking.append(inner_text)
    return "".join(text), "".join(thinking)


class TextBuffer:
    """A long text received in word-sized pieces, kept compact: every PIECES pieces are joined
    into one block. A list of 100,000 small strings costs about 60 bytes a piece in object
    headers (6 MB for a long answer); io.StringIO keeps such a list too."""

    PIECES = 1024

    def __init__(self) -> None:
        self._blocks: list[str] = []
        self._pieces: list[str] = []

    def write(self, text: str) -> None:
        self._pieces.append(text)
        if len(self._pieces) >= self.PIECES:
            self._blocks.append("".join(self._pieces))
            self._pieces.clear()

    def getvalue(self) -> str:
        return "".join(self._blocks) + "".join(self._pieces)


@dataclass
class Completion:
    """What has been received so far, in the shape of a non-streamed response at the end."""

    object: str = "chat.completion"
    id: str | None = None
    model: str | None = None
    created: int | None = None
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    text_buffer: TextBuffer = field(default_factory=TextBuffer)
    thinking_buffer: TextBuffer = field(default_factory=TextBuffer)
    tool_calls: dict[int, dict[str, Any]] = field(default_factory=dict)
    received_any: bool = False
    keep_text: bool = True  # False: only the envelope is kept (memory flat however long)
    saw_thinking: bool = False

    @property
    def text(self) -> str:
        return self.text_buffer.getvalue()

    @property
    def thinking(self) -> str:
        return self.thinking_buffer.getvalue()

    def add_chunk(self, chunk: dict[str, Any]) -> Delta:
        """One streamed `chat.completion.chunk`; returns what it adds."""
        self.received_any = True
        self._take_envelope(chunk)
        choice = _first_choice(chunk)
        if choice is None:
            return Delta()
        delta = choice.get("delta") or {}
        if not isinstance(delta, dict):
            raise BadResponse("a stream chunk's delta is not an object")
        text, thinking = split_content(delta.get("content"))
        self._take_tool_calls(delta.get("tool_calls"))
        if choice.get("finish_reason"):
            self.finish_reason = str(choice["finish_reason"])
        return self._add(text, thinking)

    def add_response(self, response: dict[str, Any]) -> Delta:
        """A whole non-streamed response; returns its text as one delta."""
        self.received_any = True
        self._take_envelope(response)
        choice = _first_choice(response)
        if choice is None:
            raise BadResponse("the response has no choices")
        message = choice.get("message")
        if not isinstance(message, dict):
            raise BadResponse("the response's choice has no message")
        text, thinking = split_content(message.get("content"))
        self._take_tool_calls(message.get("tool_calls"))
        if choice.get("finish_reason"):
            self.finish_reason = str(choice["finish_reason"])
        return self._add(text, thinking)

    def to_response(self) -> dict[str, Any]:
        """The non-streamed response shape, assembled from what was received."""
        content: Any = self.text
        if self.saw_thinking:
            content = [
                {"type": "thinking", "thinking": [{"type": "text", "text": self.thinking}]},
                {"type": "text", "text": self.text},
            ]
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if self.tool_calls:
            message["tool_calls"] = [self.tool_calls[i] for i in sorted(self.tool_calls)]
        return {
            "id": self.id,
            "object": self.object,
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": self.finish_reason}],
            "usage": self.usage,
        }

    def _add(self, text: str, thinking: str) -> Delta:
        if thinking:
            self.saw_thinking = True
        if self.keep_text:
            if text:
                self.text_buffer.write(text)
            if thinking:
                self.thinking_buffer.write(thinking)
        return Delta(text, thinking)

    def _take_envelope(self, obj: dict[str, Any]) -> None:
        if self.id is None and isinstance(obj.get("id"), str):
            self.id = obj["id"]
        if self.model is None and isinstance(obj.get("model"), str):
            self.model = obj["model"]
        if self.created is None and isinstance(obj.get("created"), int):
            self.created = obj["created"]
        if isinstance(obj.get("usage"), dict):
            self.usage = obj["usage"]

    def _take_tool_calls(self, calls: Any) -> None:
        # Whole in one delta on La Plateforme, in pieces on vLLM: merge by index.
        if not isinstance(calls, list):
            return
        for position, call in enumerate(calls):
            if not isinstance(call, dict):
                continue
            index = call.get("index", position)
            index = index if isinstance(index, int) else position
            known = self.tool_calls.setdefault(index, {"function": {"name": "", "arguments": ""}})
            for key in ("id", "type"):
                if call.get(key):
                    known[key] = call[key]
            function = call.get("function")
            if isinstance(function, dict):
                for key in ("name", "arguments"):
                    piece = function.get(key)
                    if isinstance(piece, str):
                        known["function"][key] += piece
                    elif piece is not None:  # arguments sent as an object
                        known["function"][key] += json.dumps(piece)


def _first_choice(obj: dict[str, Any]) -> dict[str, Any] | None:
    choices = obj.get("choices")
    if not choices:
        return None
    if not isinstance(choices, list) or not isinstance(choices[0], dict):
        raise BadResponse("the answer's choices are not a list of objects")
    return choices[0]


def check_error_object(obj: Any) -> None:
    """An error object sent where an answer was expected (in a stream or a 200 body)."""
    if not isinstance(obj, dict):
        return
    if obj.get("object") == "error" or ("error" in obj and "choices" not in obj):
        message = message_from_object(obj) or "the server reported an error"
        raise ServerError(f"the server sent an error: {message}")


def parse_json_object(data: str | bytes, what: str) -> dict[str, Any]:
    if not data.strip():
        raise BadResponse(f"empty {what}: the server sent no body")
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError):  # (nested too deeply for the decoder)
        snippet = data[:80] if isinstance(data, str) else data[:80].decode("utf-8", "replace")
        raise BadResponse(f"undecodable {what}: not JSON ({snippet!r})") from None
    if not isinstance(obj, dict):
        raise BadResponse(f"undecodable {what}: a JSON {type(obj).__name__}, not an object")
    checked: dict[str, Any] = whole_characters(obj, data)
    return checked


def whole_characters(obj: Any, data: str | bytes) -> Any:
    """`obj` (decoded from the JSON text `data`) with each lone UTF-16 surrogate, which JSON
    allows ("\\ud83d" alone) but UTF-8 cannot encode, replaced by U+FFFD: such a string would
    fail when printed or recorded. Checked on the text first: the rare case costs, not each
    delta."""
    if isinstance(data, str):
        if "\\ud" not in data and "\\uD" not in data:
            return obj
    elif b"\\ud" not in data and b"\\uD" not in data:
        return obj
    return _whole(obj)


def _whole(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, dict):
        return {_whole(k): _whole(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole(v) for v in value]
    return value


def iter_deltas(chunks: Iterable[bytes], completion: Completion) -> Iterator[Delta]:
    """Decode a streamed answer into deltas, filling `completion` as it goes.

    Ends normally at `data: [DONE]`, or at the end of the bytes once a finish_reason came.
    Anything else is a broken stream (BadResponse, exit 7); an error object is a ServerError.
    """
    decoder = EventDecoder()
    iterator = iter(chunks)
    finished = False
    while not finished:
        chunk = next(iterator, None)
        events = decoder.close() if chunk is None else decoder.feed(chunk)
        for data in events:
            if data.strip() == "[DONE]":
                finished = True
                break
            event = parse_json_object(data, "event in the stream")
            check_error_object(event)
            delta = completion.add_chunk(event)
            if delta.text or delta.thinking:
                yield delta
        if chunk is None:
            break
    if not finished and completion.finish_reason is None:
        if completion.received_any:
            raise BadResponse("the stream broke off before the answer was finished")
        raise BadResponse("the server closed the stream without sending any event")
