"""The HTTP client: the only module that imports httpx.

Requests, the retry policy and the mapping of httpx's exceptions onto errors.py all live here.
Retry policy (README, "When things go wrong"): connection failures before any byte of answer
and the statuses 429, 500, 502, 503 and 504 are retried up to `retries` times, waiting
`Retry-After` (seconds or an HTTP date, at most 60 s) when the server sends it, else an
exponential backoff with full jitter (0.5 s, 1 s, 2 s ... at most 8 s). A stream is retried
only until its first byte of answer has been read: never after output started.
"""

from __future__ import annotations

import datetime
import email.utils
import json
import random
import socket
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from outscale_cli import __version__
from outscale_cli.console import Environment
from outscale_cli.errors import (
    BadResponse,
    CliError,
    ConfigError,
    ConnectionFailed,
    ServerError,
    TimedOut,
    server_error,
)
from outscale_cli.settings import Settings

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
BACKOFF_BASE = 0.5
BACKOFF_CAP = 8.0
RETRY_AFTER_CAP = 60.0
USER_AGENT = f"outscale-cli/{__version__}"


def backoff_delay(attempt: int, rng: random.Random | None = None) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * (2**attempt))
    return (rng or random).uniform(0, ceiling)


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """A Retry-After header in seconds or as an HTTP date, capped; None when absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:  # the asctime form: every HTTP date is in GMT
            when = when.replace(tzinfo=datetime.timezone.utc)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return max(0.0, min(RETRY_AFTER_CAP, seconds))


class StreamedAnswer:
    """An open response whose body is read chunk by chunk."""

    def __init__(self, response: httpx.Response, client: Client) -> None:
        self._response = response
        self._client = client
        self.content_type = response.headers.get("content-type", "").split(";")[0].strip()

    def chunks(self) -> Iterator[bytes]:
        try:
            yield from self._response.iter_bytes()
        except httpx.HTTPError as exc:
            raise self._client.map_error(exc, started=True) from exc

    def read(self) -> bytes:
        return b"".join(self.chunks())


class Client:
    def __init__(self, settings: Settings, env: Environment, retries: int) -> None:
        self._env = env
        self._retries = retries
        self._base = settings.api_base
        headers = {**settings.headers, "User-Agent": USER_AGENT}
        if settings.api_key is not None:
            headers["Authorization"] = f"Bearer {settings.api_key.reveal()}"
            if settings.api_key.reveal() not in env.secrets:
                env.secrets.append(settings.api_key.reveal())
        self._timeout = settings.timeout
        self._connect_timeout = settings.connect_timeout
        self._http = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(settings.timeout, connect=settings.connect_timeout),
            follow_redirects=False,
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def url(self, path: str) -> str:
        return f"{self._base}/{path.lstrip('/')}"

    # -- requests -------------------------------------------------------------------------
    def get_json(self, path: str) -> Any:
        response = self._send("GET", path, None, stream=False)
        return _decode_json(response.content, "response")

    def post_json(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self._send("POST", path, body, stream=False)
        data = _decode_json(response.content, "response")
        if not isinstance(data, dict):
            raise BadResponse("undecodable response: a JSON value that is not an object")
        return data

    @contextmanager
    def post_stream(
        self, path: str, body: dict[str, Any], *, events: bool = True
    ) -> Iterator[StreamedAnswer]:
        """Send and hand back the open response; `events` asks for an event stream."""
        response = self._send("POST", path, body, stream=True, events=events)
        try:
            yield StreamedAnswer(response, self)
        finally:
            response.close()

    # -- the one place requests are sent and retried --------------------------------------
    def _send(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        *,
        stream: bool,
        events: bool = False,
    ) -> Any:
        url = self.url(path)
        content = None
        headers = {"Accept": "text/event-stream" if events else "application/json"}
        if body is not None:
            content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        attempt = 0
        while True:
            self._env.debug_line(f"{method} {url}")
            if content is not None:
                self._env.debug_line(f"request body: {content.decode()}")
            started = time.perf_counter()
            try:
                request = self._http.build_request(method, url, content=content, headers=headers)
                response = self._http.send(request, stream=stream)
            except httpx.HTTPError as exc:
                error = self.map_error(exc, started=False)
                if isinstance(error, ConnectionFailed) and attempt < self._retries:
                    self._wait(attempt, None, error.message)
                    attempt += 1
                    continue
                raise error from exc
            elapsed_ms = (time.perf_counter() - started) * 1000
            self._env.debug_line(
                f"<- {response.status_code} {response.reason_phrase} in {elapsed_ms:.0f} ms"
            )
            for name, value in response.headers.items():
                if name.lower().startswith("x-ratelimit"):
                    self._env.debug_line(f"{name}: {value}")
            if response.status_code < 300:
                return response
            raw = self._read_error_body(response)
            self._env.debug_line(f"response body: {raw.decode('utf-8', 'replace')[:2000]}")
            if response.status_code in RETRY_STATUSES and attempt < self._retries:
                wait = retry_after_seconds(response.headers.get("retry-after"))
                self._wait(attempt, wait, f"{response.status_code} {response.reason_phrase}")
                attempt += 1
                continue
            raise self._status_error(response, raw)

    def _read_error_body(self, response: httpx.Response) -> bytes:
        try:
            return response.read()
        except httpx.HTTPError:
            return b""
        finally:
            response.close()

    def _status_error(self, response: httpx.Response, raw: bytes) -> ServerError:
        request_id = response.headers.get("x-request-id") or response.headers.get("request-id")
        error = server_error(response.status_code, raw, request_id)
        if 300 <= response.status_code < 400:
            location = response.headers.get("location", "")
            error.hint = f"the server redirects to {location}; use that as the server URL"
        return error

    def _wait(self, attempt: int, retry_after: float | None, reason: str) -> None:
        delay = retry_after if retry_after is not None else backoff_delay(attempt)
        self._env.debug_line(f"retry {attempt + 1}/{self._retries} in {delay:.2f} s after {reason}")
        time.sleep(delay)

    # -- httpx's exceptions, mapped once ----------------------------------------------------
    def map_error(self, exc: httpx.HTTPError, *, started: bool) -> CliError:
        where = _host_of(exc)
        if isinstance(exc, httpx.ConnectTimeout):
            return TimedOut(
                f"could not connect to {where} within {self._connect_timeout:g} s",
                hint="check that the server is up and reachable from here",
            )
        if isinstance(exc, httpx.TimeoutException):
            return TimedOut(
                f"the server at {where} said nothing for {self._timeout:g} s",
                hint="raise --timeout (OUTSCALE_TIMEOUT) if the model is slow to answer",
            )
        if isinstance(exc, httpx.ConnectError):
            return _connect_failure(exc, where)
        if isinstance(exc, (httpx.UnsupportedProtocol, httpx.InvalidURL)):
            return ConfigError(f"bad server URL: {exc}", hint="check --server-url")
        if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
            if started:
                return BadResponse(f"the stream broke off: {_reason(exc)}")
            return ConnectionFailed(f"the connection to {where} failed: {_reason(exc)}")
        if isinstance(exc, httpx.DecodingError):
            return BadResponse(f"undecodable response: {_reason(exc)}")
        return ConnectionFailed(f"request to {where} failed: {_reason(exc)}")


def _connect_failure(exc: httpx.ConnectError, where: str) -> CliError:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            detail = cause.verify_message or str(cause)
            return ConnectionFailed(
                f"TLS certificate of {where} not trusted: {detail}",
                hint="check the server URL, or the CA bundle (SSL_CERT_FILE)",
            )
        if isinstance(cause, ssl.SSLError):
            return ConnectionFailed(f"TLS handshake with {where} failed: {cause.reason or cause}")
        if isinstance(cause, socket.gaierror):
            return ConnectionFailed(
                f"cannot resolve the host of {where}", hint="check the host name in the server URL"
            )
        if isinstance(cause, ConnectionRefusedError):
            return ConnectionFailed(
                f"connection refused by {where}",
                hint="check that the server is running and listening on that port",
            )
        cause = cause.__cause__ or cause.__context__
    text = _reason(exc)
    if "name or service not known" in text.lower() or "name resolution" in text.lower():
        return ConnectionFailed(
            f"cannot resolve the host of {where}", hint="check the host name in the server URL"
        )
    if "refused" in text.lower():
        return ConnectionFailed(
            f"connection refused by {where}",
            hint="check that the server is running and listening on that port",
        )
    return ConnectionFailed(f"cannot connect to {where}: {text}")


def _host_of(exc: httpx.HTTPError) -> str:
    try:
        url = exc.request.url
    except RuntimeError:
        return "the server"
    port = f":{url.port}" if url.port else ""
    return f"{url.host}{port}"


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__


def _decode_json(raw: bytes, what: str) -> Any:
    if not raw.strip():
        raise BadResponse(f"empty {what}: the server answered with no body")
    try:
        return json.loads(raw)
    except ValueError:
        snippet = raw[:80].decode("utf-8", "replace")
        raise BadResponse(f"undecodable {what}: not JSON ({snippet!r})") from None
