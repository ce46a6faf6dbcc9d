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
import functools
import json
import os
import random
import socket
import ssl
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO
from urllib.parse import urlsplit, urlunsplit

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
from outscale_cli.settings import Settings, redact_url, url_password

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
BACKOFF_BASE = 0.5
BACKOFF_CAP = 8.0
RETRY_AFTER_CAP = 60.0
# An answer read whole (not streamed) is held in memory to be decoded: a server that sends
# more than this (a real answer is at most a few MB) gets an error, not all of our memory.
MAX_ANSWER_BYTES = 64 * 1024 * 1024
MAX_ERROR_BYTES = 1024 * 1024  # an error page: what is shown of it is much shorter


def too_large(limit: int) -> BadResponse:
    return BadResponse(
        f"the server's answer is larger than {limit:,} bytes: not read further",
        hint="check that the server URL points at a Mistral API (or ask with --stream)",
    )


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
            for chunk in self._response.iter_bytes():
                yield chunk
                left = self._client.remaining()
                if left is not None and left <= 0:
                    raise self._client.expired()
        except httpx.HTTPError as exc:
            raise self._client.map_error(exc, started=True) from exc

    def read(self) -> bytes:
        return bounded(self._response, self.chunks())


class Capped:
    """A body collected up to a limit, the one rule for every body read whole: past it, an
    answer is refused (BadResponse, also when its Content-Length says so beforehand); an
    error page (`cut`) is kept up to the limit, which says enough."""

    def __init__(self, headers: Mapping[str, str], *, cut: bool = False) -> None:
        self.limit = MAX_ERROR_BYTES if cut else MAX_ANSWER_BYTES
        self._cut = cut
        self._parts: list[bytes] = []
        self._size = 0
        declared = headers.get("content-length", "")
        if not cut and declared.isdigit() and int(declared) > self.limit:
            raise too_large(self.limit)

    def add(self, chunk: bytes) -> bool:
        """Keep `chunk`; False once the limit is reached (an error page: stop reading)."""
        self._size += len(chunk)
        if self._size <= self.limit:
            self._parts.append(chunk)
            return True
        if not self._cut:
            raise too_large(self.limit)
        self._parts.append(chunk[: len(chunk) - (self._size - self.limit)])
        return False

    def value(self) -> bytes:
        return b"".join(self._parts)


def bounded(response: httpx.Response, chunks: Iterable[bytes]) -> bytes:
    """The answer's body from `chunks`, refused past MAX_ANSWER_BYTES."""
    body = Capped(response.headers)
    for chunk in chunks:
        body.add(chunk)
    return body.value()


def tls_context(settings: Settings, env: Environment) -> ssl.SSLContext | bool:
    """How to verify servers: the CA bundle (--ca-bundle, SSL_CERT_FILE, else certifi's), a
    client certificate for mutual TLS, or nothing with --insecure (which always warns)."""
    if settings.insecure:
        env.warn("--insecure: the server's TLS certificate is not verified")
        if not settings.client_cert:
            return False
    needs_tls = urlsplit(settings.api_base).scheme == "https" or any(
        (value or "").startswith("https:")
        for value in (settings.proxy, *(os.environ.get(v) for v in PROXY_VARIABLES))
    )
    if not needs_tls and not settings.client_cert:
        # Plain HTTP all the way: loading the CA bundle would cost ~25 ms for nothing. A
        # context that trusts no one keeps any TLS connection (there is none) refused.
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        if settings.ca_bundle:
            context = ssl.create_default_context(cafile=settings.ca_bundle)
        else:
            import certifi

            context = ssl.create_default_context(cafile=certifi.where())
            if os.environ.get("SSL_CERT_DIR"):
                context.load_verify_locations(capath=os.environ["SSL_CERT_DIR"])
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load the CA bundle {settings.ca_bundle}: {exc}") from None
    if settings.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if settings.client_cert:
        try:
            context.load_cert_chain(settings.client_cert, settings.client_key)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"cannot load the client certificate {settings.client_cert}: {exc}",
                hint="--client-cert takes a PEM file; give the key with --client-key if apart",
            ) from None
    return context


PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY")


def proxy_of(settings: Settings) -> str | None:
    """The proxy to give httpx. One from the environment is left to httpx, which picks the
    variable by the URL's scheme and honours NO_PROXY; --proxy or a profile's is used as is."""
    if settings.sources.get("proxy") == "env":
        return None
    return settings.proxy


def proxy_in_use(settings: Settings) -> tuple[str, str] | None:
    """(the proxy's URL, where it was set) that requests to the server go through, or None:
    a connection that fails then failed to reach the proxy, and the message says so."""
    if settings.proxy is None:
        return None
    source = settings.sources.get("proxy")
    if source == "flag":
        return settings.proxy, "--proxy"
    if source == "profile":
        return settings.proxy, f"the proxy of profile {settings.profile}"
    import urllib.request

    parts = urlsplit(settings.api_base)
    if urllib.request.proxy_bypass_environment(parts.hostname or ""):  # type: ignore[attr-defined]
        return None  # NO_PROXY
    proxies = urllib.request.getproxies_environment()
    for scheme in (parts.scheme, "all"):
        if proxies.get(scheme):
            return proxies[scheme], f"{scheme.upper()}_PROXY"
    return None


def base_of(location: str, request_url: str) -> str:
    """The server URL to suggest for a redirect: its base, before /v1 (a redirect points at
    the route, which would get /v1/chat/completions appended again)."""
    from urllib.parse import urljoin

    absolute = urljoin(request_url, location)
    parts = urlsplit(absolute)
    path = parts.path
    cut = path.rfind("/v1/") if "/v1/" in path else (len(path) - 3 if path.endswith("/v1") else -1)
    if cut >= 0:
        path = path[:cut]
    return urlunsplit((parts.scheme, parts.netloc, path.rstrip("/"), "", "")) or absolute


def headers_of(settings: Settings, env: Environment) -> dict[str, str]:
    """The headers every request carries; the key (and any URL password) becomes a secret
    that every diagnostic line hides. Warns once when the key would cross plain http://."""
    headers = {**settings.headers, "User-Agent": USER_AGENT}
    base = settings.api_base
    if settings.api_key is not None:
        key = settings.api_key.get_secret_value()
        headers["Authorization"] = f"Bearer {key}"
        if key not in env.secrets:
            env.secrets.append(key)
        host = urlsplit(base).hostname or ""
        if urlsplit(base).scheme == "http" and not _is_loopback(host):
            env.warn(
                f"sending the API key over plain http:// to {host}: anyone on the way can read it"
            )
    for url in (settings.server_url, settings.proxy):
        password = url_password(url)  # shown nowhere: every diagnostic line is scrubbed
        if password and password not in env.secrets:
            env.secrets.append(password)
    return headers


class _Http:
    """What the client and the batch's async client share: the settings made into headers,
    TLS and proxy, the timeouts and --max-time, and the one mapping of httpx's errors."""

    def __init__(self, settings: Settings, env: Environment, deadline: float | None) -> None:
        self._env = env
        self._base = settings.api_base
        self._deadline = deadline  # time.monotonic() at which --max-time expires
        self._max_time = settings.max_time
        self._headers = headers_of(settings, env)
        self._proxy = proxy_in_use(settings)
        self._timeout = settings.timeout
        self._connect_timeout = settings.connect_timeout
        self._verify = tls_context(settings, env)
        self._proxy_url = proxy_of(settings)

    # -- --max-time -----------------------------------------------------------------------
    def remaining(self) -> float | None:
        return None if self._deadline is None else self._deadline - time.monotonic()

    def expired(self) -> TimedOut:
        return TimedOut(
            f"--max-time {self._max_time:g} s expired: the command took too long",
            hint="raise --max-time (OUTSCALE_MAX_TIME) if the answer is long",
        )

    def _timeouts(self) -> httpx.Timeout:
        """This request's timeouts, cut short so that none outlasts --max-time."""
        left = self.remaining()
        if left is None:
            return httpx.Timeout(self._timeout, connect=self._connect_timeout)
        if left <= 0:
            raise self.expired()
        return httpx.Timeout(min(self._timeout, left), connect=min(self._connect_timeout, left))

    def url(self, path: str) -> str:
        return f"{self._base}/{path.lstrip('/')}"

    def _status_error(self, response: httpx.Response, raw: bytes) -> ServerError:
        request_id = response.headers.get("x-request-id") or response.headers.get("request-id")
        error = server_error(response.status_code, raw, request_id)
        if 300 <= response.status_code < 400:
            location = response.headers.get("location", "")
            base = redact_url(base_of(location, str(response.request.url)))
            error.hint = (
                f"the server redirects to {redact_url(location)}; use {base} as the server URL"
            )
        return error

    # -- httpx's exceptions, mapped once ----------------------------------------------------
    def map_error(self, exc: httpx.HTTPError, *, started: bool) -> CliError:
        where = _host_of(exc)
        left = self.remaining()
        if isinstance(exc, httpx.TimeoutException) and left is not None and left <= 0.05:
            return self.expired()  # the timeout was cut short by --max-time
        if self._proxy is not None:
            failed = self._proxy_failure(exc)
            if failed is not None:
                return failed
        if isinstance(exc, httpx.ConnectTimeout):
            return TimedOut(
                f"could not connect to {where} within {self._connect_timeout:g} s "
                "(--connect-timeout)",
                hint="check that the server is up and reachable from here",
            )
        if isinstance(exc, httpx.TimeoutException):
            return TimedOut(
                f"the server at {where} said nothing for {self._timeout:g} s (--timeout)",
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

    def _proxy_failure(self, exc: httpx.HTTPError) -> CliError | None:
        """A failure to reach or use the proxy, named as such (not as the server's)."""
        assert self._proxy is not None
        url, source = self._proxy
        parts = urlsplit(url)
        proxy = f"the proxy {parts.hostname}{f':{parts.port}' if parts.port else ''} ({source})"
        hint = f"check {source}: is the proxy running and reachable from here?"
        if isinstance(exc, httpx.ProxyError):
            return ConnectionFailed(f"{proxy} refused the request: {_reason(exc)}", hint=hint)
        if isinstance(exc, httpx.ConnectTimeout):
            return TimedOut(
                f"could not connect to {proxy} within {self._connect_timeout:g} s",
                hint=hint,
            )
        if isinstance(exc, httpx.ConnectError):
            why, detail = _why_not_connected(exc)
            reasons = {"refused": "connection refused", "dns": "cannot resolve its host"}
            if why in reasons or why == "other":
                reason = reasons.get(why, detail)
                return ConnectionFailed(f"cannot connect to {proxy}: {reason}", hint=hint)
        return None


class Client(_Http):
    """One command's requests, sent and retried by the policy above."""

    def __init__(
        self,
        settings: Settings,
        env: Environment,
        retries: int,
        deadline: float | None = None,
    ) -> None:
        super().__init__(settings, env, deadline)
        self._retries = retries
        self._http = httpx.Client(
            headers=self._headers,
            timeout=httpx.Timeout(settings.timeout, connect=settings.connect_timeout),
            follow_redirects=False,
            verify=self._verify,
            proxy=self._proxy_url,
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    # -- requests -------------------------------------------------------------------------
    def get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        response = self._send("GET", path, None, stream=False, params=params)
        return _decode_json(response.content, "response")

    def delete_json(self, path: str) -> Any:
        response = self._send("DELETE", path, None, stream=False)
        return _decode_json(response.content, "response")

    def upload(self, path: str, upload: Upload) -> dict[str, Any]:
        """POST a file as multipart/form-data (its part `file`, then `fields`), streamed."""
        response = self._send("POST", path, None, stream=False, upload=upload)
        data = _decode_json(response.content, "response")
        if not isinstance(data, dict):
            raise BadResponse("undecodable response: a JSON value that is not an object")
        return data

    def download(self, path: str, into: BinaryIO) -> int:
        """GET raw bytes into `into`, as they come; returns how many."""
        response = self._send("GET", path, None, stream=True)
        count = 0
        try:
            for chunk in StreamedAnswer(response, self).chunks():
                into.write(chunk)
                count += len(chunk)
        finally:
            response.close()
        return count

    def post_json(self, path: str, body: dict[str, Any], *, once: bool = False) -> dict[str, Any]:
        """`once`: a request that must not be carried out twice (creating a batch job): sent
        again only when it cannot have reached the server (connect errors, 429)."""
        response = self._send("POST", path, body, stream=False, once=once)
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
        params: dict[str, Any] | None = None,
        upload: Upload | None = None,
        once: bool = False,
    ) -> Any:
        url = self.url(path)
        content = None
        headers = {"Accept": "text/event-stream" if events else "application/json"}
        if body is not None:
            content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        attempt = 0
        while True:
            self._env.debug_line(f"{method} {redact_url(url)}")
            if content is not None and self._env.debug:  # not decoded for nothing
                self._env.debug_line(f"request body: {content.decode()}")
            started = time.perf_counter()
            opened = None
            try:
                if upload is None:
                    request = self._http.build_request(
                        method, url, content=content, headers=headers, params=params,
                        timeout=self._timeouts(),
                    )  # fmt: skip
                else:  # opened again at each attempt: streamed from disk, never whole in memory
                    opened = open(upload.path, "rb")  # noqa: SIM115 - closed below
                    files = {"file": (upload.filename, opened, "application/octet-stream")}
                    request = self._http.build_request(
                        method, url, files=files, data=upload.fields, headers=headers,
                        timeout=self._timeouts(),
                    )  # fmt: skip
                # Always opened as a stream: a body wanted whole is read here, bounded (httpx
                # would read any size), and its failures are retried as the request's.
                response = self._http.send(request, stream=True)
                if not stream and response.status_code < 300:
                    try:
                        whole = bounded(response, response.iter_bytes())
                    finally:
                        response.close()
                    response = httpx.Response(response.status_code, headers=response.headers,
                                              content=whole, request=response.request)  # fmt: skip
            except httpx.HTTPError as exc:
                error = self.map_error(exc, started=False)
                unsent = not once or isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))
                if (
                    isinstance(error, ConnectionFailed)
                    and unsent
                    and self._wait(attempt, None, error)
                ):
                    attempt += 1
                    continue
                error.retries = attempt
                raise error from exc
            except CliError as refused:  # --max-time already spent
                refused.retries = attempt
                raise
            except OSError as exc:  # the file to upload
                raise ConfigError(f"cannot read {upload.path if upload else url}: {exc}") from None
            finally:
                if opened is not None:
                    opened.close()
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
            status_error = self._status_error(response, raw)
            if response.status_code in RETRY_STATUSES and (not once or response.status_code == 429):
                wait = retry_after_seconds(response.headers.get("retry-after"))
                if self._wait(attempt, wait, status_error):
                    attempt += 1
                    continue
            status_error.retries = attempt
            raise status_error

    def _read_error_body(self, response: httpx.Response) -> bytes:
        body = Capped(response.headers, cut=True)
        try:
            for chunk in response.iter_bytes():
                if not body.add(chunk):
                    break
        except httpx.HTTPError:
            pass
        finally:
            response.close()
        return body.value()

    def _wait(self, attempt: int, retry_after: float | None, error: CliError) -> bool:
        """Sleep before retry `attempt + 1`; False when there is none left, or no time."""
        if attempt >= self._retries:
            return False
        delay = retry_after if retry_after is not None else backoff_delay(attempt)
        left = self.remaining()
        if left is not None and delay >= left:
            self._env.debug_line(f"no retry: waiting {delay:.2f} s would pass --max-time")
            return False
        self._env.debug_line(
            f"retry {attempt + 1}/{self._retries} in {delay:.2f} s after {error.message}"
        )
        time.sleep(delay)
        return True


def _why_not_connected(exc: httpx.ConnectError) -> tuple[str, str]:
    """Why a connection failed: ("tls-untrusted" | "tls" | "dns" | "refused" | "other", the
    detail), from the exception's causes, else its text."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return "tls-untrusted", cause.verify_message or str(cause)
        if isinstance(cause, ssl.SSLError):
            return "tls", str(cause.reason or cause)
        if isinstance(cause, socket.gaierror):
            return "dns", ""
        if isinstance(cause, ConnectionRefusedError):
            return "refused", ""
        cause = cause.__cause__ or cause.__context__
    text = _reason(exc)
    if "name or service not known" in text.lower() or "name resolution" in text.lower():
        return "dns", ""
    if "refused" in text.lower():
        return "refused", ""
    return "other", text


def _connect_failure(exc: httpx.ConnectError, where: str) -> CliError:
    why, detail = _why_not_connected(exc)
    if why == "tls-untrusted":
        return ConnectionFailed(
            f"TLS certificate of {where} not trusted: {detail}",
            hint="trust its CA with --ca-bundle PATH (or SSL_CERT_FILE), or check the server URL",
        )
    if why == "tls":
        return ConnectionFailed(f"TLS handshake with {where} failed: {detail}")
    if why == "dns":
        return ConnectionFailed(
            f"cannot resolve the host of {where}", hint="check the host name in the server URL"
        )
    if why == "refused":
        return ConnectionFailed(
            f"connection refused by {where}",
            hint="check that the server is running and listening on that port",
        )
    return ConnectionFailed(f"cannot connect to {where}: {detail}")


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_of(exc: httpx.HTTPError) -> str:
    try:
        url = exc.request.url
    except RuntimeError:
        return "the server"
    port = f":{url.port}" if url.port else ""
    return f"{url.host}{port}"


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    if text.startswith("[Errno None] "):  # aiohttp's OSError without a number (a broken write)
        text = text[len("[Errno None] ") :]
    return text or type(exc).__name__


def _decode_json(raw: bytes, what: str) -> Any:
    if not raw.strip():
        raise BadResponse(f"empty {what}: the server answered with no body")
    try:
        decoded = json.loads(raw)
    except (ValueError, RecursionError):
        snippet = raw[:80].decode("utf-8", "replace")
        raise BadResponse(f"undecodable {what}: not JSON ({snippet!r})") from None
    from outscale_cli.stream import whole_characters

    return whole_characters(decoded, raw)


@dataclass(frozen=True)
class Upload:
    """A file to send as multipart/form-data: its part `file` (named `filename`), plus fields."""

    path: str
    filename: str
    fields: dict[str, str]


# -- a batch's client ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Answer:
    """One answer, read whole: its status, headers and body."""

    status: int
    headers: Mapping[str, str]
    content: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip()


class AsyncClient(_Http):
    """A batch's requests to one deployment, on httpx's API over aiohttp's engine: at 64
    concurrent requests it spends a fraction of httpx.AsyncClient's CPU a request
    (benchmarks/README.md, "batch"). It makes one attempt per call: the batch engine decides
    retries, since a 429 pauses the whole deployment and a deployment that cannot be reached
    hands its work to the others."""

    def __init__(self, settings: Settings, env: Environment, connections: int) -> None:
        super().__init__(settings, env, deadline=None)
        # Parsed once: httpx would parse the URL string and merge these headers at every
        # request, a quarter of its CPU a request at -j 64 (cProfile of a 5,000-line run).
        self._urls: dict[str, httpx.URL] = {}
        self._http = _batch_http_class()(
            headers={
                **self._headers,
                "Content-Type": "application/json",
                "Accept": "application/json",
            },  # fmt: skip
            timeout=httpx.Timeout(settings.timeout, connect=settings.connect_timeout, pool=None),
            follow_redirects=False,
            verify=self._verify,
            proxy=self._proxy_url,
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        )
        self._http.cookies = None  # an empty SparingCookies jar (the class's own setter)

    async def post(self, path: str, body: dict[str, Any]) -> Answer:
        """One POST; a failure to get an answer is raised as our error (ConnectionFailed,
        TimedOut, BadResponse...)."""
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = httpx.URL(self.url(path))
        try:
            async with self._http.stream("POST", url, content=content) as response:
                received = Capped(response.headers, cut=response.status_code >= 400)
                async for chunk in response.aiter_bytes():
                    if not received.add(chunk):
                        break
        except httpx.HTTPError as exc:
            seen = _as_httpx_would(exc)
            error = self.map_error(seen, started=False)  # (a batch sends it again)
            error.unreachable = isinstance(
                seen, (httpx.ConnectError, httpx.ConnectTimeout, httpx.ProxyError)
            )
            raise error from exc
        return Answer(response.status_code, response.headers, received.value())

    def status_error(self, answer: Answer, request_url: str) -> ServerError:
        """The error for an answer with an error status (the same message as every command)."""
        response = httpx.Response(answer.status, headers=dict(answer.headers),
                                  request=httpx.Request("POST", request_url))  # fmt: skip
        return self._status_error(response, answer.content)

    async def aclose(self) -> None:
        await self._http.aclose()


class SparingCookies(httpx.Cookies):
    """httpx's cookie jar, that reads an answer only when it sets a cookie. To look for one,
    httpx builds the standard library's views of every request and answer: 7% of a batch's CPU
    (py-spy, 5,000 requests at -j 64), spent on answers that set none."""

    def extract_cookies(self, response: httpx.Response) -> None:
        if "set-cookie" in response.headers:
            super().extract_cookies(response)


@functools.cache
def _batch_http_class() -> Any:
    """httpx's client on aiohttp's engine (httpx-aiohttp), keeping its cookies in a
    SparingCookies jar. Defined on first use: aiohttp loads only for a batch."""
    from httpx_aiohttp import HttpxAiohttpClient

    class BatchHttp(HttpxAiohttpClient):
        _jar: httpx.Cookies

        @property
        def cookies(self) -> httpx.Cookies:
            return self._jar

        @cookies.setter
        def cookies(self, cookies: Any) -> None:
            self._jar = SparingCookies(cookies)

    return BatchHttp


def _as_httpx_would(exc: httpx.HTTPError) -> httpx.HTTPError:
    """httpx-aiohttp reports a refused or unresolvable connection as a ConnectTimeout (its map
    takes the first match): a connection that failed for a reason other than time is a
    ConnectError, as httpx's own transport says."""
    if isinstance(exc, httpx.TimeoutException):
        cause: BaseException | None = exc.__cause__
        while cause is not None:
            if isinstance(cause, OSError) and not isinstance(cause, TimeoutError):
                try:
                    error = httpx.ConnectError(str(exc), request=exc.request)
                except RuntimeError:  # no request attached
                    error = httpx.ConnectError(str(exc))
                error.__cause__ = exc.__cause__
                return error
            cause = cause.__cause__ or cause.__context__
    return exc
