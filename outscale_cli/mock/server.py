"""The stand-in deployment: a real HTTP/1.1 server speaking the Mistral wire format.

Serves POST /v1/chat/completions (streamed and not), POST /v1/fim/completions and
GET /v1/models, validating requests the way La Plateforme does (unknown fields and values out
of range answer 422, an unknown model 400). Knobs for tests, demos and benchmarks: a fixed
latency (and a random jitter) before each answer, the token pace, answering with an error
status (a number of times, with Retry-After), breaking a stream off, hiding /v1/models (as
Outscale deployments do), requiring an API key, and replaying a recorded response file.

It runs on aiohttp's server (asyncio, a C parser, a deep listen backlog), in a thread of its
own: at 64 concurrent connections it is not the bottleneck of what it serves (a threaded
server adds latency of its own there). Every request is recorded in `records` for tests
(`mock-server`, which nobody reads that way, keeps none).
"""

from __future__ import annotations

import asyncio
import json
import random
import ssl
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from outscale_cli.mock.answers import (
    answer_tokens,
    chat_text,
    count_prompt_tokens,
    fim_text,
)
from outscale_cli.wire import CHAT_FIELDS, FIM_FIELDS

if TYPE_CHECKING:
    from outscale_cli.mock.batch_service import BatchService

DEFAULT_MODELS = ("small-2409", "codestral-2405", "ministral-8b-2410")
# La Plateforme's names that follow the latest version: accepted (not listed) for what they name
ALIASES = {"mistral-small-latest": "small-2409", "codestral-latest": "codestral-2405",
           "ministral-8b-latest": "ministral-8b-2410"}  # fmt: skip
RANGES = {
    "temperature": (0.0, 1.5),
    "top_p": (0.0, 1.0),
    "presence_penalty": (-2.0, 2.0),
    "frequency_penalty": (-2.0, 2.0),
}
MAX_BODY = 64 * 1024 * 1024


@dataclass
class MockConfig:
    models: tuple[str, ...] = DEFAULT_MODELS
    pace: float = 0.0  # seconds between streamed tokens
    length: int | None = None  # answer length in tokens (the synthetic text is padded or cut)
    latency: float = 0.0  # seconds before each completion's answer starts
    batch_pace: float = 0.01  # batch service: seconds a job spends on each of its lines
    jitter: float = 0.0  # plus a random delay up to this many seconds
    fail_status: int | None = None  # answer completions and /v1/models with this status...
    fail_times: int | None = None  # ...this many times (None: always)
    retry_after: str | None = None  # Retry-After header sent with failures
    break_after: int | None = None  # close streams after this many content events
    no_models: bool = False  # GET /v1/models answers 404, as on Outscale
    api_key: str | None = None  # require Authorization: Bearer <key>
    replay: Path | None = None  # answer chat completions with this recorded file
    log: bool = False  # one line per request on stderr
    keep_records: bool = True  # tests read them; mock-server keeps none (its memory stays flat)
    failures_sent: int = field(default=0)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def serves(self, model: Any) -> bool:
        """A model it lists, or La Plateforme's -latest name of one."""
        return isinstance(model, str) and (
            model in self.models or ALIASES.get(model) in self.models
        )

    def take_failure(self) -> bool:
        if self.fail_status is None:
            return False
        with self.lock:
            if self.fail_times is not None and self.failures_sent >= self.fail_times:
                return False
            self.failures_sent += 1
            return True


@dataclass(frozen=True)
class Record:
    """One request the stand-in received."""

    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    at: float = 0.0  # time.monotonic() when it came

    def json(self) -> Any:
        return json.loads(self.body)


def check_knobs(
    *,
    port: int = 0,
    pace: float = 0.0,
    length: int | None = None,
    latency: float = 0.0,
    jitter: float = 0.0,
    batch_pace: float = 0.01,
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
    need(0 <= latency <= 600, "--latency", "seconds from 0 to 600", latency)
    need(0 <= jitter <= 600, "--jitter", "seconds from 0 to 600", jitter)
    need(0 <= batch_pace <= 60, "--batch-pace", "seconds from 0 to 60", batch_pace)
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


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        reason=_phrase(status),
        body=json.dumps(payload).encode(),
        content_type="application/json",
        headers=headers,
    )


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class StandIn:
    """The routes and their answers."""

    def __init__(self, config: MockConfig, prefix: str = "") -> None:
        self.config = config
        self.prefix = prefix.rstrip("/")  # a gateway serving the deployment under a prefix
        self.records: list[Record] = []
        self._batch: BatchService | None = None  # Mistral's files and batch jobs, on first use

    @property
    def batch(self) -> BatchService:
        if self._batch is None:
            from outscale_cli.mock.batch_service import BatchService

            self._batch = BatchService(self)
        return self._batch

    def close(self) -> None:
        if self._batch is not None:
            self._batch.close()

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY, middlewares=[self._edge])
        app.router.add_route("*", "/{tail:.*}", self._route)
        return app

    @web.middleware
    async def _edge(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Record the request, log it, check the key: what every route shares."""
        streamed = request.content_type.startswith("multipart/")  # an upload: read as it comes
        body = await request.read() if request.can_read_body and not streamed else b""
        if self.config.keep_records:
            headers = {k.lower(): v for k, v in request.headers.items()}
            self.records.append(
                Record(request.method, request.path_qs, headers, body, time.monotonic())
            )
        response: web.StreamResponse
        if self.config.api_key is not None and (
            request.headers.get("authorization") != f"Bearer {self.config.api_key}"
        ):
            response = _json(401, {"message": "Unauthorized", "request_id": uuid.uuid4().hex})
        else:
            response = await handler(request)
        if self.config.log:
            stamp = time.strftime("%d/%b/%Y %H:%M:%S")
            print(f'{request.remote} - - [{stamp}] "{request.method} {request.path_qs}" '
                  f"{response.status}", file=sys.stderr, flush=True)  # fmt: skip
        return response

    async def _route(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if self.prefix:
            if not path.startswith(self.prefix + "/"):
                return _json(404, {"detail": "Not Found"})
            path = path[len(self.prefix) :]
        route = path.rstrip("/")
        if route.startswith(("/v1/files", "/v1/batch/jobs")):
            return await self.batch.handle(request, route)
        if request.method == "GET":
            if route == "/v1/models" and not self.config.no_models:
                if self.config.take_failure():  # a failing deployment fails here too
                    return self._fail()
                data = [model_card(m) for m in self.config.models]
                return _json(200, {"object": "list", "data": data})
            if route in ("", "/health"):
                return _json(200, {"status": "ok"})
            return _json(404, {"detail": "Not Found"})
        if request.method == "POST" and route in ("/v1/chat/completions", "/v1/fim/completions"):
            return await self._complete(request, chat=route == "/v1/chat/completions")
        return _json(404, {"detail": "Not Found"})

    async def _complete(self, request: web.Request, *, chat: bool) -> web.StreamResponse:
        arrived = time.monotonic()  # --latency counts from here
        if self.config.take_failure():
            return self._fail()
        try:
            body = json.loads(await request.read())
        except ValueError:
            return _json(400, error_body("Invalid JSON body", "invalid_request_error"))
        if not isinstance(body, dict):
            return _json(400, error_body("The body must be an object", "invalid_request_error"))
        problem = self._check(body, CHAT_FIELDS if chat else FIM_FIELDS, chat)
        if problem is not None:
            return _json(*problem)
        delay = self.config.latency + (
            random.uniform(0, self.config.jitter) if self.config.jitter else 0
        )
        if delay:  # the answer starts `delay` after the request came, its reading and checks
            await asyncio.sleep(max(0.0, delay - (time.monotonic() - arrived)))
        if chat and self.config.replay is not None:
            return await self._replay(request, self.config.replay)
        return await self._answer(request, body, chat)

    # -- validation, as La Plateforme does it ---------------------------------------------
    def _check(
        self, body: dict[str, Any], allowed: frozenset[str], chat: bool
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
        if not self.config.serves(body["model"]):
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

    # -- answers --------------------------------------------------------------------------
    async def _answer(
        self, request: web.Request, body: dict[str, Any], chat: bool
    ) -> web.StreamResponse:
        answer = Answer.of(body, chat, self.config.length)
        if body.get("stream"):
            return await self._stream(
                request, answer.ident, answer.created, answer.model, answer.pieces,
                answer.finish, answer.usage,
            )  # fmt: skip
        return _json(200, answer.whole())

    async def _stream(
        self,
        request: web.Request,
        ident: str,
        created: int,
        model: str,
        pieces: list[str],
        finish: str,
        usage: dict[str, int],
    ) -> web.StreamResponse:
        response = await self._start_stream(request)

        def chunk(delta: dict[str, Any], reason: str | None = None) -> dict[str, Any]:
            return {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": reason}],
            }

        try:
            await self._event(response, chunk({"role": "assistant", "content": ""}))
            last = len(pieces) - 1
            for i, piece in enumerate(pieces):
                if self.config.break_after is not None and i >= self.config.break_after:
                    _abort(request)
                    return response
                if self.config.pace:
                    await asyncio.sleep(self.config.pace)
                if i == last:  # the last piece, finish_reason and usage come together
                    event = chunk({"content": piece}, finish)
                    event["usage"] = usage
                else:
                    event = chunk({"content": piece})
                event["p"] = "x" * (i % 7)  # padding, as the real API sends
                await self._event(response, event)
            if not pieces:
                await self._event(response, {**chunk({"content": ""}, finish), "usage": usage})
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
        except (ConnectionResetError, ConnectionError):
            pass  # the client went away
        return response

    async def _start_stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            status=200, headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        response.enable_chunked_encoding()
        await response.prepare(request)
        return response

    async def _event(self, response: web.StreamResponse, payload: dict[str, Any]) -> None:
        await response.write(b"data: " + json.dumps(payload).encode() + b"\n\n")

    async def _replay(self, request: web.Request, path: Path) -> web.StreamResponse:
        data = path.read_bytes()
        if path.suffix != ".sse":
            return web.Response(status=200, body=data, content_type="application/json")
        response = await self._start_stream(request)
        try:
            for event in data.split(b"\n\n"):
                if event.strip():
                    if self.config.pace:
                        await asyncio.sleep(self.config.pace)
                    await response.write(event + b"\n\n")
            await response.write_eof()
        except (ConnectionResetError, ConnectionError):
            pass
        return response

    def _fail(self) -> web.Response:
        status = self.config.fail_status or 500
        headers = {}
        if self.config.retry_after is not None:
            headers["Retry-After"] = self.config.retry_after
        payload = error_body(f"stand-in failure: {_phrase(status)}", "mock_failure", str(status))
        return _json(status, payload, headers)


@dataclass
class Answer:
    """The stand-in's answer to a valid request, before it is sent whole or streamed."""

    ident: str
    created: int
    model: str
    pieces: list[str]
    finish: str
    usage: dict[str, int]

    @classmethod
    def of(cls, body: dict[str, Any], chat: bool, length: int | None) -> Answer:
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
            length=length,
            max_tokens=max_tokens if isinstance(max_tokens, int) else None,
        )
        prompt_tokens = count_prompt_tokens(body)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(pieces),
            "total_tokens": prompt_tokens + len(pieces),
        }
        return cls(uuid.uuid4().hex, int(time.time()), model, pieces, finish, usage)

    def whole(self) -> dict[str, Any]:
        """The non-streamed response."""
        return {
            "id": self.ident,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "usage": self.usage,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(self.pieces),
                                "tool_calls": None},
                    "finish_reason": self.finish,
                }
            ],
        }  # fmt: skip


def _abort(request: web.Request) -> None:
    """Drop the connection mid-stream: no [DONE], no final chunk."""
    transport = request.transport
    if transport is not None:
        transport.abort()


class MockServer:
    """The stand-in on a real socket, serving from a background thread (its own event loop)."""

    def __init__(
        self,
        config: MockConfig,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        prefix: str = "",
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.config = config
        self.stand_in = StandIn(config, prefix)
        self._loop = asyncio.new_event_loop()
        self._runner = web.AppRunner(self.stand_in.app(), access_log=None, handle_signals=False)
        self._tls = tls
        self._thread: threading.Thread | None = None
        try:
            self._loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, host, port, ssl_context=tls, backlog=1024,
                               reuse_address=True)  # fmt: skip
            self._loop.run_until_complete(site.start())
        except BaseException:
            self._loop.run_until_complete(self._runner.cleanup())
            self._loop.close()
            raise
        sockets = self._runner.addresses
        self._address = sockets[0]

    @property
    def records(self) -> list[Record]:
        return self.stand_in.records

    @property
    def url(self) -> str:
        host, port = self._address[:2]
        shown = f"[{host}]" if ":" in str(host) else host
        scheme = "https" if self._tls is not None else "http"
        return f"{scheme}://{shown}:{port}{self.stand_in.prefix}"

    def start(self) -> MockServer:
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        return self

    async def _shutdown(self) -> None:
        self.stand_in.close()  # in the loop's own thread: its jobs are its tasks
        await self._runner.cleanup()

    def stop(self) -> None:
        if self._thread is not None:
            done = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
            try:
                done.result(timeout=5)
            except Exception:  # noqa: BLE001 - stopping: what is left goes with the loop
                pass
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            self._thread = None
        else:
            self._loop.run_until_complete(self._shutdown())
        self._loop.close()

    def __enter__(self) -> MockServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
