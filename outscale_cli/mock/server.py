"""The stand-in deployment: a real HTTP/1.1 server speaking the Mistral wire format.

Serves POST /v1/chat/completions (streamed and not), POST /v1/fim/completions and
GET /v1/models, validating requests the way La Plateforme does (unknown fields and values out
of range answer 422). Knobs for tests and demos: the token pace, answering with an error
status (a number of times, with Retry-After), breaking a stream off, hiding /v1/models (as
Outscale deployments do), requiring an API key, and replaying a recorded response file.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from outscale_cli.mock.answers import (
    answer_tokens,
    chat_text,
    count_prompt_tokens,
    fim_text,
)

DEFAULT_MODELS = ("small-2409", "codestral-2405", "ministral-8b-2410")

CHAT_FIELDS = {
    "model", "messages", "temperature", "top_p", "max_tokens", "stream", "stop",
    "random_seed", "response_format", "tools", "tool_choice", "presence_penalty",
    "frequency_penalty", "n", "prediction", "safe_prompt", "reasoning_effort",
    "parallel_tool_calls", "prompt_mode",
}  # fmt: skip
FIM_FIELDS = {
    "model", "prompt", "suffix", "temperature", "top_p", "max_tokens", "min_tokens",
    "stream", "stop", "random_seed",
}  # fmt: skip
RANGES = {
    "temperature": (0.0, 1.5),
    "top_p": (0.0, 1.0),
    "presence_penalty": (-2.0, 2.0),
    "frequency_penalty": (-2.0, 2.0),
}


@dataclass
class MockConfig:
    models: tuple[str, ...] = DEFAULT_MODELS
    pace: float = 0.0  # seconds between streamed tokens
    length: int | None = None  # answer length in tokens (the synthetic text is padded or cut)
    fail_status: int | None = None  # answer completions and /v1/models with this status...
    fail_times: int | None = None  # ...this many times (None: always)
    retry_after: str | None = None  # Retry-After header sent with failures
    break_after: int | None = None  # close streams after this many content events
    no_models: bool = False  # GET /v1/models answers 404, as on Outscale
    api_key: str | None = None  # require Authorization: Bearer <key>
    replay: Path | None = None  # answer chat completions with this recorded file
    log: bool = False  # one line per request on stderr
    failures_sent: int = field(default=0)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take_failure(self) -> bool:
        if self.fail_status is None:
            return False
        with self.lock:
            if self.fail_times is not None and self.failures_sent >= self.fail_times:
                return False
            self.failures_sent += 1
            return True


def check_knobs(
    *,
    port: int = 0,
    pace: float = 0.0,
    length: int | None = None,
    fail_status: int | None = None,
    fail_times: int | None = None,
    break_after: int | None = None,
) -> None:
    """Refuse (exit 2) what the stand-in could not honour: it answers as a deployment would,
    or not at all."""
    from outscale_cli.errors import UsageError

    def need(ok: bool, flag: str, expected: str, got: object) -> None:
        if not ok:
            raise UsageError(f"{flag} takes {expected} (got {got})")

    need(0 <= port <= 65535, "--port", "a port from 0 (any free port) to 65535", port)
    need(0 <= pace <= 60, "--pace", "seconds from 0 to 60", pace)  # also refuses nan
    if length is not None:
        need(0 <= length <= 10_000_000, "--length", "tokens from 0 to 10,000,000", length)
    if fail_status is not None:
        need(400 <= fail_status <= 599, "--fail-status", "an error status from 400 to 599",
             fail_status)  # fmt: skip
    if fail_times is not None:
        need(fail_times >= 0, "--fail-times", "0 or more", fail_times)
    if break_after is not None:
        need(break_after >= 0, "--break-after", "0 or more tokens", break_after)


def model_card(model_id: str) -> dict[str, Any]:
    code = "codestral" in model_id
    return {
        "id": model_id,
        "object": "model",
        "created": 1727740800,
        "owned_by": "mistralai",
        "capabilities": {
            "completion_chat": True,
            "completion_fim": code,
            "function_calling": True,
            "vision": False,
        },
        "name": model_id,
        "max_context_length": 262144 if code else 131072,
        "aliases": [],
        "type": "base",
    }


def error_body(message: Any, kind: str, code: str | None = None) -> dict[str, Any]:
    return {"object": "error", "message": message, "type": kind, "param": None, "code": code}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "outscale-cli-mock"
    config: MockConfig  # set on the subclass made for each server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        if self.config.log:
            super().log_message(format, *args)

    # -- routes -----------------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if not self._authorised():
            return
        route = self.path.rstrip("/")
        if route == "/v1/models" and not self.config.no_models and self.config.take_failure():
            self._fail(self.config.fail_status or 500)  # a failing deployment fails here too
            return
        if route == "/v1/models" and not self.config.no_models:
            data = [model_card(m) for m in self.config.models]
            self._json(200, {"object": "list", "data": data})
        elif self.path.rstrip("/") in ("", "/health"):
            self._json(200, {"status": "ok"})
        else:
            self._json(404, {"detail": "Not Found"})

    def do_POST(self) -> None:  # noqa: N802
        route = self.path.rstrip("/")
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length)
        if not self._authorised():
            return
        if route not in ("/v1/chat/completions", "/v1/fim/completions"):
            self._json(404, {"detail": "Not Found"})
            return
        if self.config.take_failure():
            self._fail(self.config.fail_status or 500)
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._json(400, error_body("Invalid JSON body", "invalid_request_error"))
            return
        if not isinstance(body, dict):
            self._json(400, error_body("The body must be an object", "invalid_request_error"))
            return
        chat = route == "/v1/chat/completions"
        problem = self._check(body, CHAT_FIELDS if chat else FIM_FIELDS, chat)
        if problem is not None:
            status, payload = problem
            self._json(status, payload)
            return
        if chat and self.config.replay is not None:
            self._replay(self.config.replay)
            return
        self._answer(body, chat)

    # -- validation, as La Plateforme does it ---------------------------------------------
    def _check(
        self, body: dict[str, Any], allowed: set[str], chat: bool
    ) -> tuple[int, dict[str, Any]] | None:
        details = []
        for key in body:
            if key not in allowed:
                details.append(
                    {"type": "extra_forbidden", "loc": ["body", key],
                     "msg": "Extra inputs are not permitted", "input": body[key]}
                )  # fmt: skip
        for key, (low, high) in RANGES.items():
            value = body.get(key)
            if value is not None and (
                not isinstance(value, (int, float)) or not low <= value <= high
            ):
                details.append(
                    {"type": "value_error", "loc": ["body", key],
                     "msg": f"Input should be between {low} and {high}", "input": value}
                )  # fmt: skip
        required = ("model", "messages") if chat else ("model", "prompt")
        for key in required:
            if key not in body:
                details.append({"type": "missing", "loc": ["body", key], "msg": "Field required"})
        if details:
            return 422, error_body({"detail": details}, "invalid_request_error")
        if body["model"] not in self.config.models:
            return 400, error_body(f"Invalid model: {body['model']}", "invalid_model", "1500")
        if chat:
            messages = body["messages"]
            if not isinstance(messages, list) or not messages:
                return 400, error_body("messages must be a non-empty list", "invalid_request_error")
            last = messages[-1]
            if not isinstance(last, dict) or not (
                last.get("role") in ("user", "tool")
                or (last.get("role") == "assistant" and last.get("prefix"))
            ):
                return 400, error_body(
                    "Expected last role User or Tool (or Assistant with prefix True) "
                    "for serving but got assistant",
                    "invalid_request_message_order",
                    "3230",
                )
        return None

    # -- answers ------------------------------------------------------------------------------
    def _answer(self, body: dict[str, Any], chat: bool) -> None:
        model = body["model"]
        prefix = None
        if chat:
            last = body["messages"][-1]
            if last.get("role") == "assistant" and last.get("prefix"):
                prefix = str(last.get("content") or "")
            text = chat_text(body, model)
        else:
            text = fim_text(body)
        max_tokens = body.get("max_tokens")
        pieces, finish = answer_tokens(
            text,
            prefix=prefix,
            length=self.config.length,
            max_tokens=max_tokens if isinstance(max_tokens, int) else None,
        )
        prompt_tokens = count_prompt_tokens(body)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(pieces),
            "total_tokens": prompt_tokens + len(pieces),
        }
        ident = uuid.uuid4().hex
        created = int(time.time())
        if body.get("stream"):
            self._stream(ident, created, model, pieces, finish, usage)
            return
        self._json(
            200,
            {
                "id": ident,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "usage": usage,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "".join(pieces),
                                    "tool_calls": None},
                        "finish_reason": finish,
                    }
                ],
            },
        )  # fmt: skip

    def _stream(
        self,
        ident: str,
        created: int,
        model: str,
        pieces: list[str],
        finish: str,
        usage: dict[str, int],
    ) -> None:
        self._start_chunked(200, "text/event-stream")

        def chunk(delta: dict[str, Any], reason: str | None = None) -> dict[str, Any]:
            return {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": reason}],
            }

        try:
            self._event(chunk({"role": "assistant", "content": ""}))
            last = len(pieces) - 1
            for i, piece in enumerate(pieces):
                if self.config.break_after is not None and i >= self.config.break_after:
                    self._abort()
                    return
                if self.config.pace:
                    time.sleep(self.config.pace)
                if i == last:  # the last piece, finish_reason and usage come together
                    event = chunk({"content": piece}, finish)
                    event["usage"] = usage
                else:
                    event = chunk({"content": piece})
                event["p"] = "x" * (i % 7)  # padding, as the real API sends
                self._event(event)
            if not pieces:
                self._event({**chunk({"content": ""}, finish), "usage": usage})
            self._write_chunk(b"data: [DONE]\n\n")
            self._write_chunk(b"")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _replay(self, path: Path) -> None:
        data = path.read_bytes()
        if path.suffix != ".sse":
            self._send(200, "application/json", data)
            return
        self._start_chunked(200, "text/event-stream")
        try:
            for event in data.split(b"\n\n"):
                if event.strip():
                    if self.config.pace:
                        time.sleep(self.config.pace)
                    self._write_chunk(event + b"\n\n")
            self._write_chunk(b"")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _fail(self, status: int) -> None:
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
        headers = {}
        if self.config.retry_after is not None:
            headers["Retry-After"] = self.config.retry_after
        payload = error_body(f"stand-in failure: {phrase}", "mock_failure", str(status))
        self._json(status, payload, headers)

    # -- plumbing -----------------------------------------------------------------------------
    def _authorised(self) -> bool:
        key = self.config.api_key
        if key is None or self.headers.get("authorization") == f"Bearer {key}":
            return True
        self._json(401, {"message": "Unauthorized", "request_id": uuid.uuid4().hex})
        return False

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, "application/json", json.dumps(payload).encode(), headers)

    def _send(
        self, status: int, content_type: str, data: bytes, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _start_chunked(self, status: int, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _event(self, payload: dict[str, Any]) -> None:
        self._write_chunk(b"data: " + json.dumps(payload).encode() + b"\n\n")

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _abort(self) -> None:
        """Drop the connection mid-stream: no [DONE], no final chunk."""
        self.wfile.flush()
        self.close_connection = True
        try:
            self.connection.shutdown(2)
        except OSError:
            pass


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up (Ctrl-C, a closed keep-alive) is routine, not a traceback.
        import sys

        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class MockServer:
    """The stand-in on a real socket, serving from a background thread."""

    def __init__(self, config: MockConfig, host: str = "127.0.0.1", port: int = 0) -> None:
        handler = type("BoundHandler", (Handler,), {"config": config})
        self.httpd = _HTTPServer((host, port), handler)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else str(host)
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}"

    def start(self) -> MockServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> MockServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
