"""Gaps found by mutation testing in outscale_cli/client.py: the retry policy's edges (README,
"Retries"), --max-time against waits and timeouts, and the mapping of httpx's failures."""

from __future__ import annotations

import http.server
import io
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from pytest_httpx import HTTPXMock

from outscale_cli import client as client_module
from outscale_cli.client import Client, base_of, proxy_in_use, proxy_of, tls_context
from outscale_cli.console import Environment
from outscale_cli.errors import BadResponse, ConfigError, ConnectionFailed, ServerError, TimedOut
from outscale_cli.settings import load_settings

from . import conftest

SERVER = "http://vm.test:5000"
MODELS_URL = f"{SERVER}/v1/models"
CHAT_URL = f"{SERVER}/v1/chat/completions"
MODELS = {"object": "list", "data": [{"id": "small-2409"}]}


def make_env(*, debug: bool = False) -> Environment:
    return conftest.make_env(debug=debug, own_secrets=True)


def stderr_of(env: Environment) -> str:
    return env.stderr.getvalue()  # type: ignore[attr-defined]


class Clock:
    """time.monotonic and time.sleep of the client: a sleep moves the clock, nothing waits."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(client_module.time, "monotonic", fake.monotonic)
    monkeypatch.setattr(client_module.time, "sleep", fake.sleep)
    return fake


@pytest.fixture
def ceiling(monkeypatch: pytest.MonkeyPatch) -> None:
    """The backoff's jitter always draws its ceiling (0.5 s, 1 s, 2 s ...)."""
    monkeypatch.setattr(client_module.random, "uniform", lambda low, high: high)


def make_client(
    env: Environment | None = None,
    *,
    retries: int = 0,
    left: float | None = None,
    clock: Clock | None = None,
    **flags: Any,
) -> Client:
    """A client; with `left`, --max-time (5 s) has `left` seconds to go on `clock`."""
    if left is not None:
        flags.setdefault("max_time", 5.0)
    settings = load_settings({"server_url": SERVER, **flags}, {})
    deadline = None if left is None or clock is None else clock.now + left
    return Client(settings, env or make_env(), retries, deadline)


# -- what is retried ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [501, 505, 507, 511, 408, 409, 410, 413])
def test_statuses_outside_the_retry_list_are_not_retried(
    httpx_mock: HTTPXMock, clock: Clock, status: int
) -> None:
    httpx_mock.add_response(url=MODELS_URL, status_code=status)
    with make_client(retries=3) as client, pytest.raises(ServerError) as caught:
        client.get_json("models")
    assert caught.value.http_status == status
    assert caught.value.retries == 0
    assert len(httpx_mock.get_requests()) == 1
    assert clock.sleeps == []


def test_a_read_timeout_is_not_retried(httpx_mock: HTTPXMock, clock: Clock) -> None:
    httpx_mock.add_exception(httpx.ReadTimeout("timed out"))
    with make_client(retries=3) as client, pytest.raises(TimedOut) as caught:
        client.get_json("models")
    assert caught.value.message == "the server at vm.test:5000 said nothing for 120 s (--timeout)"
    assert caught.value.retries == 0
    assert len(httpx_mock.get_requests()) == 1
    assert clock.sleeps == []


def test_a_connection_reset_before_any_byte_is_retried(httpx_mock: HTTPXMock, clock: Clock) -> None:
    httpx_mock.add_exception(httpx.ReadError("Connection reset by peer"))
    httpx_mock.add_response(url=MODELS_URL, json=MODELS)
    with make_client(retries=1) as client:
        assert client.get_json("models") == MODELS
    assert len(clock.sleeps) == 1


def test_the_error_says_how_many_retries_were_made(httpx_mock: HTTPXMock, clock: Clock) -> None:
    httpx_mock.add_response(url=MODELS_URL, status_code=503, is_reusable=True)
    with make_client(retries=2) as client, pytest.raises(ServerError) as caught:
        client.get_json("models")
    assert caught.value.retries == 2


def test_connection_failures_say_how_many_retries_were_made(
    httpx_mock: HTTPXMock, clock: Clock
) -> None:
    httpx_mock.add_exception(httpx.ConnectError("[Errno 111] Connection refused"), is_reusable=True)
    with make_client(retries=2) as client, pytest.raises(ConnectionFailed) as caught:
        client.get_json("models")
    assert caught.value.retries == 2
    assert len(httpx_mock.get_requests()) == 3


def test_backoff_waits_double_from_half_a_second(
    httpx_mock: HTTPXMock, clock: Clock, ceiling: None
) -> None:
    httpx_mock.add_response(url=MODELS_URL, status_code=503, is_reusable=True)
    with make_client(retries=5) as client, pytest.raises(ServerError):
        client.get_json("models")
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0, 8.0]


def test_a_retry_after_of_zero_is_honoured(httpx_mock: HTTPXMock, clock: Clock) -> None:
    httpx_mock.add_response(url=MODELS_URL, status_code=429, headers={"Retry-After": "0"})
    httpx_mock.add_response(url=MODELS_URL, json=MODELS)
    with make_client(retries=1) as client:
        client.get_json("models")
    assert clock.sleeps == [0.0]


def test_a_bad_retry_after_falls_back_to_the_backoff(
    httpx_mock: HTTPXMock, clock: Clock, ceiling: None
) -> None:
    httpx_mock.add_response(url=MODELS_URL, status_code=429, headers={"Retry-After": "soon"})
    httpx_mock.add_response(url=MODELS_URL, json=MODELS)
    with make_client(retries=1) as client:
        client.get_json("models")
    assert clock.sleeps == [0.5]


# -- no wait goes past --max-time -----------------------------------------------------------------


def test_a_retry_after_past_max_time_is_not_waited(httpx_mock: HTTPXMock, clock: Clock) -> None:
    httpx_mock.add_response(url=MODELS_URL, status_code=503, headers={"Retry-After": "10"})
    env = make_env(debug=True)
    with make_client(env, retries=2, left=4.0, clock=clock) as client:
        with pytest.raises(ServerError) as caught:
            client.get_json("models")
    assert caught.value.http_status == 503
    assert caught.value.retries == 0
    assert clock.sleeps == []
    assert len(httpx_mock.get_requests()) == 1
    assert "no retry: waiting 10.00 s would pass --max-time" in stderr_of(env)


def test_a_wait_that_would_use_up_max_time_is_not_made(httpx_mock: HTTPXMock, clock: Clock) -> None:
    # Waiting exactly what is left would leave no time for the retry: the server's own error
    # is the one to report, not a --max-time timeout after a useless wait.
    httpx_mock.add_response(url=MODELS_URL, status_code=503, headers={"Retry-After": "4"})
    with make_client(retries=2, left=4.0, clock=clock) as client:
        with pytest.raises(ServerError) as caught:
            client.get_json("models")
    assert caught.value.http_status == 503
    assert clock.sleeps == []


def test_a_wait_within_max_time_is_made(httpx_mock: HTTPXMock, clock: Clock) -> None:
    httpx_mock.add_response(url=MODELS_URL, status_code=503, headers={"Retry-After": "3"})
    httpx_mock.add_response(url=MODELS_URL, json=MODELS)
    with make_client(retries=2, left=4.0, clock=clock) as client:
        assert client.get_json("models") == MODELS
    assert clock.sleeps == [3.0]


def test_a_backoff_past_max_time_is_not_waited(
    httpx_mock: HTTPXMock, clock: Clock, ceiling: None
) -> None:
    httpx_mock.add_exception(httpx.ConnectError("[Errno 111] Connection refused"))
    with make_client(retries=2, left=0.4, clock=clock) as client:
        with pytest.raises(ConnectionFailed):
            client.get_json("models")
    assert clock.sleeps == []


def test_the_retry_is_said_in_debug_lines(httpx_mock: HTTPXMock, clock: Clock) -> None:
    httpx_mock.add_response(url=MODELS_URL, status_code=503, headers={"Retry-After": "2"})
    httpx_mock.add_response(url=MODELS_URL, json=MODELS)
    env = make_env(debug=True)
    with make_client(env, retries=3) as client:
        client.get_json("models")
    assert "outscale-cli: debug: retry 1/3 in 2.00 s after 503 Service Unavailable" in (
        stderr_of(env)
    )


def test_each_request_timeout_is_cut_to_what_is_left(httpx_mock: HTTPXMock, clock: Clock) -> None:
    httpx_mock.add_response(url=MODELS_URL, json=MODELS)
    with make_client(left=4.0, clock=clock) as client:
        client.get_json("models")
    timeout = httpx_mock.get_requests()[0].extensions["timeout"]
    assert timeout["connect"] == 4.0 and timeout["read"] == 4.0


def test_without_max_time_the_timeouts_are_the_settings(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=MODELS_URL, json=MODELS)
    with make_client(timeout=30.0, connect_timeout=3.0) as client:
        client.get_json("models")
    timeout = httpx_mock.get_requests()[0].extensions["timeout"]
    assert timeout["connect"] == 3.0 and timeout["read"] == 30.0


def test_a_short_timeout_is_kept_under_max_time(httpx_mock: HTTPXMock, clock: Clock) -> None:
    httpx_mock.add_response(url=MODELS_URL, json=MODELS)
    with make_client(left=4.0, clock=clock, timeout=2.0, connect_timeout=1.0) as client:
        client.get_json("models")
    timeout = httpx_mock.get_requests()[0].extensions["timeout"]
    assert timeout["connect"] == 1.0 and timeout["read"] == 2.0


def test_no_request_once_max_time_is_spent(httpx_mock: HTTPXMock, clock: Clock) -> None:
    with make_client(retries=2, left=0.0, clock=clock) as client:
        with pytest.raises(TimedOut) as caught:
            client.get_json("models")
    assert caught.value.message == "--max-time 5 s expired: the command took too long"
    assert caught.value.hint == "raise --max-time (OUTSCALE_MAX_TIME) if the answer is long"
    assert caught.value.retries == 0
    assert httpx_mock.get_requests() == []


def test_a_timeout_cut_short_by_max_time_says_max_time(httpx_mock: HTTPXMock, clock: Clock) -> None:
    def late(request: httpx.Request) -> httpx.Response:
        clock.now += 3.97  # the request used up all but 0.03 s of --max-time
        raise httpx.ReadTimeout("timed out", request=request)

    httpx_mock.add_callback(late)
    with make_client(left=4.0, clock=clock) as client, pytest.raises(TimedOut) as caught:
        client.get_json("models")
    assert caught.value.message.startswith("--max-time 5 s expired")


def test_a_timeout_well_before_max_time_says_which_timeout(
    httpx_mock: HTTPXMock, clock: Clock
) -> None:
    def late(request: httpx.Request) -> httpx.Response:
        clock.now += 1.0
        raise httpx.ConnectTimeout("timed out", request=request)

    httpx_mock.add_callback(late)
    with make_client(left=4.0, clock=clock, connect_timeout=2.5) as client:
        with pytest.raises(TimedOut) as caught:
            client.get_json("models")
    assert caught.value.message == (
        "could not connect to vm.test:5000 within 2.5 s (--connect-timeout)"
    )
    assert caught.value.hint == "check that the server is up and reachable from here"


def test_a_stream_past_max_time_stops_between_chunks(httpx_mock: HTTPXMock, clock: Clock) -> None:
    class Slow(httpx.SyncByteStream):
        def __iter__(self) -> Any:
            yield b"one "
            clock.now += 3.5  # 0.5 s left: go on
            yield b"two "
            clock.now += 0.5  # nothing left: stop after this one
            yield b"three "
            yield b"four"

    httpx_mock.add_response(url=CHAT_URL, stream=Slow())
    got: list[bytes] = []
    with make_client(left=4.0, clock=clock) as client:
        with client.post_stream("chat/completions", {}) as answer:
            with pytest.raises(TimedOut) as caught:
                for chunk in answer.chunks():
                    got.append(chunk)
    assert got == [b"one ", b"two ", b"three "]
    assert caught.value.message == "--max-time 5 s expired: the command took too long"


def test_reading_a_stream_whole_joins_its_chunks(httpx_mock: HTTPXMock) -> None:
    class Pieces(httpx.SyncByteStream):
        def __iter__(self) -> Any:
            yield b'{"a":'
            yield b" 1}"

    httpx_mock.add_response(url=CHAT_URL, stream=Pieces())
    with make_client() as client, client.post_stream("chat/completions", {}) as answer:
        assert answer.read() == b'{"a": 1}'


def test_an_answer_without_a_content_type_has_none(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=CHAT_URL, content=b"")
    with make_client() as client, client.post_stream("chat/completions", {}) as answer:
        assert answer.content_type == ""


# -- what each failure is called ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exception", "kind", "message"),
    [
        (
            httpx.ConnectError("[Errno -2] Name or service not known"),
            ConnectionFailed,
            "cannot resolve the host of vm.test:5000",
        ),
        (
            httpx.ConnectError("[Errno 111] Connection refused"),
            ConnectionFailed,
            "connection refused by vm.test:5000",
        ),
        (
            httpx.ConnectError("something odd"),
            ConnectionFailed,
            "cannot connect to vm.test:5000: something odd",
        ),
        (
            httpx.RemoteProtocolError("Server disconnected"),
            ConnectionFailed,
            "the connection to vm.test:5000 failed: Server disconnected",
        ),
        (
            httpx.WriteError(""),
            ConnectionFailed,
            "the connection to vm.test:5000 failed: WriteError",
        ),
        (httpx.DecodingError("bad gzip"), BadResponse, "undecodable response: bad gzip"),
        (httpx.TooManyRedirects("loop"), ConnectionFailed, "request to vm.test:5000 failed: loop"),
        (httpx.UnsupportedProtocol("no ftp"), ConfigError, "bad server URL: no ftp"),
    ],
)
def test_each_httpx_failure_has_its_message(
    httpx_mock: HTTPXMock, clock: Clock, exception: Exception, kind: type, message: str
) -> None:
    httpx_mock.add_exception(exception)
    with make_client() as client, pytest.raises(kind) as caught:
        client.get_json("models")
    assert caught.value.message == message


def test_the_reasons_of_a_refusal_are_found_in_the_causes(
    httpx_mock: HTTPXMock, clock: Clock
) -> None:
    import socket
    import ssl

    tls = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")
    tls.reason = "WRONG_VERSION_NUMBER"  # as OpenSSL's own errors carry it
    cases = [
        (ConnectionRefusedError(111, "x"), "connection refused by vm.test:5000"),
        (socket.gaierror(-2, "x"), "cannot resolve the host of vm.test:5000"),
        (tls, "TLS handshake with vm.test:5000 failed: WRONG_VERSION_NUMBER"),
    ]
    for cause, message in cases:
        error = httpx.ConnectError("opaque")
        error.__cause__ = cause
        httpx_mock.add_exception(error)
        with make_client() as client, pytest.raises(ConnectionFailed) as caught:
            client.get_json("models")
        assert caught.value.message == message


def test_an_untrusted_certificate_names_ca_bundle(httpx_mock: HTTPXMock, clock: Clock) -> None:
    import ssl

    cause = ssl.SSLCertVerificationError(1, "verify failed")
    cause.verify_message = "unable to get local issuer certificate"
    error = httpx.ConnectError("opaque")
    error.__context__ = cause
    httpx_mock.add_exception(error)
    with make_client() as client, pytest.raises(ConnectionFailed) as caught:
        client.get_json("models")
    assert caught.value.message == (
        "TLS certificate of vm.test:5000 not trusted: unable to get local issuer certificate"
    )
    assert caught.value.hint is not None and "--ca-bundle" in caught.value.hint


def test_a_stream_that_breaks_after_a_byte_is_a_broken_stream(
    httpx_mock: HTTPXMock, clock: Clock
) -> None:
    class Broken(httpx.SyncByteStream):
        def __iter__(self) -> Any:
            yield b"data: x\n\n"
            raise httpx.RemoteProtocolError("peer closed connection")

    httpx_mock.add_response(url=CHAT_URL, stream=Broken())
    with make_client(retries=2) as client, client.post_stream("chat/completions", {}) as answer:
        with pytest.raises(BadResponse) as caught:
            answer.read()
    assert caught.value.message == "the stream broke off: peer closed connection"


# -- what is sent ---------------------------------------------------------------------------------


def test_the_body_is_compact_utf8_json(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=CHAT_URL, json={"choices": []})
    with make_client() as client:
        client.post_json("chat/completions", {"content": "é", "n": [1, 2]})
    request = httpx_mock.get_requests()[0]
    assert request.content == '{"content":"é","n":[1,2]}'.encode()
    assert request.headers["content-type"] == "application/json"
    assert request.headers["accept"] == "application/json"


def test_a_stream_asks_for_events_and_a_whole_answer_for_json(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=CHAT_URL, content=b"{}", is_reusable=True)
    with make_client() as client:
        with client.post_stream("chat/completions", {}) as answer:
            answer.read()
        with client.post_stream("chat/completions", {}, events=False) as answer:
            answer.read()
    first, second = httpx_mock.get_requests()
    assert first.headers["accept"] == "text/event-stream"
    assert second.headers["accept"] == "application/json"


def test_a_get_sends_no_body_and_no_content_type(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=MODELS_URL, json=MODELS)
    with make_client() as client:
        client.get_json("models")
    request = httpx_mock.get_requests()[0]
    assert request.content == b""
    assert "content-type" not in request.headers


def test_the_content_type_of_a_stream_is_its_media_type(httpx_mock: HTTPXMock) -> None:
    headers = {"content-type": "Text/Event-Stream ; charset=utf-8"}
    httpx_mock.add_response(url=CHAT_URL, content=b"", headers=headers)
    with make_client() as client, client.post_stream("chat/completions", {}) as answer:
        assert answer.content_type == "Text/Event-Stream"


def test_profile_headers_are_sent_and_the_user_agent_is_ours(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=MODELS_URL, json=MODELS)
    with make_client(headers={"X-Team": "data", "User-Agent": "spoof"}) as client:
        client.get_json("models")
    request = httpx_mock.get_requests()[0]
    assert request.headers["x-team"] == "data"
    assert request.headers["user-agent"].startswith("outscale-cli/")


def test_the_url_joins_the_base_and_the_route(httpx_mock: HTTPXMock) -> None:
    with make_client() as client:
        assert client.url("/models") == f"{SERVER}/v1/models"
        assert client.url("chat/completions") == f"{SERVER}/v1/chat/completions"


# -- debug lines ----------------------------------------------------------------------------------


def test_debug_lines_show_the_request_its_body_status_and_rate_limits(
    httpx_mock: HTTPXMock,
) -> None:
    httpx_mock.add_response(
        url=CHAT_URL,
        status_code=400,
        json={"message": "bad"},
        headers={"x-ratelimit-remaining": "7", "x-other": "no"},
    )
    env = make_env(debug=True)
    with make_client(env) as client, pytest.raises(ServerError):
        client.post_json("chat/completions", {"a": 1})
    lines = stderr_of(env).splitlines()
    assert lines[0] == f"outscale-cli: debug: POST {CHAT_URL}"
    assert lines[1] == 'outscale-cli: debug: request body: {"a":1}'
    assert lines[2].startswith("outscale-cli: debug: <- 400 Bad Request in ")
    assert lines[2].endswith(" ms")
    assert lines[3] == "outscale-cli: debug: x-ratelimit-remaining: 7"
    assert lines[4] == 'outscale-cli: debug: response body: {"message":"bad"}'
    assert len(lines) == 5


def test_without_debug_nothing_is_said(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=CHAT_URL, status_code=400, json={"message": "bad"})
    env = make_env()
    with make_client(env) as client, pytest.raises(ServerError):
        client.post_json("chat/completions", {"a": 1})
    assert stderr_of(env) == ""


def test_a_key_over_plain_http_to_another_host_warns(httpx_mock: HTTPXMock) -> None:
    env = make_env()
    settings = load_settings({"server_url": SERVER}, {"OUTSCALE_API_KEY": "sk-1"})
    Client(settings, env, 0).__exit__()
    assert stderr_of(env) == (
        "outscale-cli: warning: sending the API key over plain http:// to vm.test: "
        "anyone on the way can read it\n"
    )
    assert env.secrets == ["sk-1"]


@pytest.mark.parametrize(
    "server", ["http://127.0.0.1:8000", "http://localhost:8000", "http://a.localhost", "https://h"]
)
def test_a_key_to_loopback_or_over_https_does_not_warn(server: str) -> None:
    env = make_env()
    settings = load_settings({"server_url": server}, {"OUTSCALE_API_KEY": "sk-1"})
    Client(settings, env, 0).__exit__()
    assert stderr_of(env) == ""


def test_url_passwords_become_secrets_once() -> None:
    env = make_env()
    env.secrets.append("pw1")
    settings = load_settings(
        {"server_url": "http://u:pw1@vm.test:5000", "proxy": "http://p:pw2@proxy.test:3128"}, {}
    )
    Client(settings, env, 0).__exit__()
    assert env.secrets == ["pw1", "pw2"]


# -- the proxy and TLS ----------------------------------------------------------------------------


def settings_with(environ: dict[str, str] | None = None, **flags: Any) -> Any:
    return load_settings({"server_url": SERVER, **flags}, environ or {})


def test_a_proxy_from_the_environment_is_left_to_httpx() -> None:
    assert proxy_of(settings_with({"HTTP_PROXY": "http://proxy.test:3128"})) is None
    assert proxy_of(settings_with(proxy="http://proxy.test:3128")) == "http://proxy.test:3128"
    assert proxy_of(settings_with()) is None


def test_the_proxy_in_use_says_where_it_was_set(monkeypatch: pytest.MonkeyPatch) -> None:
    assert proxy_in_use(settings_with()) is None
    assert proxy_in_use(settings_with(proxy="http://proxy.test:3128")) == (
        "http://proxy.test:3128",
        "--proxy",
    )
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy",
                 "ALL_PROXY", "all_proxy"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://env-proxy.test:3128")
    environ = {"HTTP_PROXY": "http://env-proxy.test:3128"}
    assert proxy_in_use(settings_with(environ)) == ("http://env-proxy.test:3128", "HTTP_PROXY")
    monkeypatch.setenv("NO_PROXY", "vm.test")
    assert proxy_in_use(settings_with(environ)) is None
    monkeypatch.delenv("NO_PROXY")
    monkeypatch.delenv("HTTP_PROXY")
    monkeypatch.setenv("ALL_PROXY", "http://all-proxy.test:3128")
    assert proxy_in_use(settings_with({"ALL_PROXY": "http://all-proxy.test:3128"})) == (
        "http://all-proxy.test:3128",
        "ALL_PROXY",
    )


def test_a_proxy_that_refuses_is_named_as_the_proxy(httpx_mock: HTTPXMock, clock: Clock) -> None:
    httpx_mock.add_exception(httpx.ConnectError("[Errno 111] Connection refused"))
    with make_client(proxy="http://proxy.test:3128") as client:
        with pytest.raises(ConnectionFailed) as caught:
            client.get_json("models")
    assert caught.value.message == (
        "cannot connect to the proxy proxy.test:3128 (--proxy): connection refused"
    )
    assert caught.value.hint == "check --proxy: is the proxy running and reachable from here?"


@pytest.mark.parametrize(
    ("exception", "kind", "message"),
    [
        (
            httpx.ProxyError("407 Proxy Authentication Required"),
            ConnectionFailed,
            "the proxy proxy.test (--proxy) refused the request: 407 Proxy Authentication Required",
        ),
        (
            httpx.ConnectTimeout("timed out"),
            TimedOut,
            "could not connect to the proxy proxy.test (--proxy) within 10 s",
        ),
        (
            httpx.ConnectError("[Errno -2] Name or service not known"),
            ConnectionFailed,
            "cannot connect to the proxy proxy.test (--proxy): cannot resolve its host",
        ),
        (
            httpx.ConnectError("odd"),
            ConnectionFailed,
            "cannot connect to the proxy proxy.test (--proxy): odd",
        ),
        (
            httpx.ReadTimeout("timed out"),
            TimedOut,
            "the server at vm.test:5000 said nothing for 120 s (--timeout)",
        ),
    ],
)
def test_proxy_failures_are_the_proxys(
    httpx_mock: HTTPXMock, clock: Clock, exception: Exception, kind: type, message: str
) -> None:
    httpx_mock.add_exception(exception)
    with make_client(proxy="http://proxy.test") as client, pytest.raises(kind) as caught:
        client.get_json("models")
    assert caught.value.message == message


def test_a_profile_proxy_is_named_by_its_profile(tmp_path: Any) -> None:
    from outscale_cli.config import check_text

    path = tmp_path / "c.toml"
    text = f'[profiles.p]\nserver_url = "{SERVER}"\nproxy = "http://proxy.test:3128"\n'
    settings = load_settings({}, {}, check_text(text, path).ref("p", {}))
    assert proxy_in_use(settings) == ("http://proxy.test:3128", "the proxy of profile p")


def test_plain_http_loads_no_ca_bundle(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    context = tls_context(settings_with(), make_env())
    assert context.get_ca_certs() == []  # type: ignore[union-attr]
    assert context.verify_mode.name == "CERT_REQUIRED"  # type: ignore[union-attr]


def test_https_loads_the_default_bundle() -> None:
    context = tls_context(load_settings({"server_url": "https://h.test"}, {}), make_env())
    assert context.get_ca_certs() != []  # type: ignore[union-attr]
    assert context.check_hostname is True  # type: ignore[union-attr]


def test_an_https_proxy_needs_tls_too(monkeypatch: pytest.MonkeyPatch) -> None:
    context = tls_context(settings_with(proxy="https://proxy.test:3128"), make_env())
    assert context.get_ca_certs() != []  # type: ignore[union-attr]


def test_insecure_warns_and_verifies_nothing() -> None:
    env = make_env()
    assert tls_context(settings_with(insecure=True), env) is False
    assert stderr_of(env) == (
        "outscale-cli: warning: --insecure: the server's TLS certificate is not verified\n"
    )


def test_a_ca_bundle_that_cannot_be_loaded_is_a_config_error(tmp_path: Any) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not a certificate")
    settings = load_settings({"server_url": "https://h.test", "ca_bundle": str(bundle)}, {})
    with pytest.raises(ConfigError) as caught:
        tls_context(settings, make_env())
    assert caught.value.message.startswith(f"cannot load the CA bundle {bundle}: ")


def test_a_client_certificate_that_cannot_be_loaded_is_a_config_error(tmp_path: Any) -> None:
    cert = tmp_path / "client.pem"
    cert.write_text("not a certificate")
    settings = load_settings({"server_url": "https://h.test", "client_cert": str(cert)}, {})
    with pytest.raises(ConfigError) as caught:
        tls_context(settings, make_env())
    assert caught.value.message.startswith(f"cannot load the client certificate {cert}: ")
    assert caught.value.hint == (
        "--client-cert takes a PEM file; give the key with --client-key if apart"
    )


# -- redirects ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("https://new.test/v1/models", "https://new.test"),
        ("https://new.test/prefix/v1/chat/completions", "https://new.test/prefix"),
        ("https://new.test/prefix/v1", "https://new.test/prefix"),
        ("https://new.test/elsewhere/", "https://new.test/elsewhere"),
        ("/moved/v1/models", "http://vm.test:5000/moved"),
    ],
)
def test_base_of_a_redirect(location: str, expected: str) -> None:
    assert base_of(location, f"{SERVER}/v1/models") == expected


def test_base_of_cuts_at_the_last_v1() -> None:
    assert base_of("https://new.test/v1/gw/v1/models", f"{SERVER}/v1/models") == (
        "https://new.test/v1/gw"
    )


def test_an_https_proxy_variable_needs_tls(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALL_PROXY", "https://proxy.test:3128")
    context = tls_context(settings_with(), make_env())
    assert context.get_ca_certs() != []  # type: ignore[union-attr]


def certifi_count() -> int:
    import certifi

    with open(certifi.where(), encoding="ascii") as bundle:
        return bundle.read().count("-----BEGIN CERTIFICATE-----")


def test_https_trusts_certifis_bundle_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    context = tls_context(load_settings({"server_url": "https://h.test"}, {}), make_env())
    assert len(context.get_ca_certs()) == certifi_count()  # type: ignore[union-attr]


@pytest.fixture
def pki(tmp_path: Any) -> dict[str, str]:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    client = ca.issue_cert("client.test")
    paths = {
        "ca": tmp_path / "ca.pem",
        "both": tmp_path / "client.pem",
        "cert": tmp_path / "cert.pem",
        "key": tmp_path / "key.pem",
    }
    ca.cert_pem.write_to_path(str(paths["ca"]))
    client.private_key_and_cert_chain_pem.write_to_path(str(paths["both"]))
    client.cert_chain_pems[0].write_to_path(str(paths["cert"]))
    client.private_key_pem.write_to_path(str(paths["key"]))
    return {name: str(path) for name, path in paths.items()}


def test_a_ca_bundle_is_trusted_alone(pki: dict[str, str]) -> None:
    settings = load_settings({"server_url": "https://h.test", "ca_bundle": pki["ca"]}, {})
    context = tls_context(settings, make_env())
    assert len(context.get_ca_certs()) == 1  # type: ignore[union-attr]
    assert context.verify_mode.name == "CERT_REQUIRED"  # type: ignore[union-attr]


def test_a_client_certificate_with_its_key_apart_is_loaded(pki: dict[str, str]) -> None:
    flags = {"server_url": "https://h.test", "client_cert": pki["cert"], "client_key": pki["key"]}
    import ssl

    assert isinstance(tls_context(load_settings(flags, {}), make_env()), ssl.SSLContext)
    flags = {"server_url": "https://h.test", "client_cert": pki["cert"]}
    with pytest.raises(ConfigError):  # the key is not in that file
        tls_context(load_settings(flags, {}), make_env())


def test_a_client_certificate_over_plain_http_is_loaded_too(pki: dict[str, str]) -> None:
    settings = load_settings({"server_url": SERVER, "client_cert": pki["both"]}, {})
    context = tls_context(settings, make_env())
    assert context.get_ca_certs() != []  # type: ignore[union-attr]


def test_insecure_with_a_client_certificate_verifies_nothing_but_sends_it(
    pki: dict[str, str],
) -> None:
    import ssl

    env = make_env()
    settings = load_settings(
        {"server_url": "https://h.test", "insecure": True, "client_cert": pki["both"]}, {}
    )
    context = tls_context(settings, env)
    assert isinstance(context, ssl.SSLContext)
    assert context.check_hostname is False
    assert context.verify_mode == ssl.CERT_NONE
    assert "--insecure" in stderr_of(env)


# -- more messages, each exact ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty response: the server answered with no body"),
        (b"  \n", "empty response: the server answered with no body"),
        (b"<html>" + b"x" * 100, f"undecodable response: not JSON ({'<html>' + 'x' * 74!r})"),
        (b"\xff{", "undecodable response: not JSON ('\ufffd{')"),
    ],
)
def test_a_success_body_that_is_not_json_says_so(
    httpx_mock: HTTPXMock, body: bytes, message: str
) -> None:
    httpx_mock.add_response(url=MODELS_URL, content=body, is_reusable=True)
    httpx_mock.add_response(url=CHAT_URL, content=body, is_reusable=True)
    with make_client() as client:
        with pytest.raises(BadResponse) as caught:
            client.get_json("models")
        assert caught.value.message == message
        with pytest.raises(BadResponse) as caught:
            client.post_json("chat/completions", {})
        assert caught.value.message == message


def test_a_post_answer_that_is_not_an_object_says_so(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=CHAT_URL, json=[1, 2])
    with make_client() as client, pytest.raises(BadResponse) as caught:
        client.post_json("chat/completions", {})
    assert caught.value.message == "undecodable response: a JSON value that is not an object"


def test_a_get_answer_may_be_any_json(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=MODELS_URL, json=[{"id": "m"}])
    with make_client() as client:
        assert client.get_json("models") == [{"id": "m"}]


@pytest.mark.parametrize("status", [300, 301, 302, 307, 308])
def test_a_redirect_is_an_error_naming_the_base_url(httpx_mock: HTTPXMock, status: int) -> None:
    httpx_mock.add_response(
        url=MODELS_URL, status_code=status, headers={"location": "https://new.test/v1/models"}
    )
    with make_client() as client, pytest.raises(ServerError) as caught:
        client.get_json("models")
    assert caught.value.http_status == status
    assert caught.value.hint == (
        "the server redirects to https://new.test/v1/models; use https://new.test as the server URL"
    )


def test_a_redirect_without_a_location_suggests_the_base_it_was_given(
    httpx_mock: HTTPXMock,
) -> None:
    httpx_mock.add_response(url=MODELS_URL, status_code=302)
    with make_client() as client, pytest.raises(ServerError) as caught:
        client.get_json("models")
    assert caught.value.hint == f"the server redirects to ; use {SERVER} as the server URL"


def test_a_client_error_with_a_location_is_not_a_redirect(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=MODELS_URL, status_code=400, headers={"location": "/elsewhere"})
    with make_client() as client, pytest.raises(ServerError) as caught:
        client.get_json("models")
    assert caught.value.hint is None


def test_the_request_id_header_of_either_name_is_kept(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=MODELS_URL, status_code=500, headers={"request-id": "r-9"})
    with make_client() as client, pytest.raises(ServerError) as caught:
        client.get_json("models")
    assert caught.value.request_id == "r-9"


def test_an_error_body_that_breaks_off_is_no_message(httpx_mock: HTTPXMock) -> None:
    class Broken(httpx.SyncByteStream):
        def __iter__(self) -> Any:
            raise httpx.ReadError("reset")
            yield b""  # pragma: no cover

    httpx_mock.add_response(url=CHAT_URL, status_code=503, stream=Broken())
    with make_client() as client, pytest.raises(ServerError) as caught:
        with client.post_stream("chat/completions", {}):
            pass
    assert caught.value.message == "503 Service Unavailable"


def test_debug_lines_show_the_time_taken_and_at_most_2000_characters_of_body(
    httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [10.0]
    monkeypatch.setattr(client_module.time, "perf_counter", lambda: now[0])

    def slow(request: httpx.Request) -> httpx.Response:
        now[0] += 0.25
        return httpx.Response(500, content=b"\xff" + b"e" * 2500)

    httpx_mock.add_callback(slow, url=MODELS_URL)
    env = make_env(debug=True)
    with make_client(env) as client, pytest.raises(ServerError):
        client.get_json("models")
    lines = stderr_of(env).splitlines()
    assert lines[1] == "outscale-cli: debug: <- 500 Internal Server Error in 250 ms"
    assert lines[2] == "outscale-cli: debug: response body: \ufffd" + "e" * 1999


@pytest.mark.parametrize(
    ("left", "message"),
    [
        (0.05, "--max-time 5 s expired: the command took too long"),
        (0.5, "the server at vm.test:5000 said nothing for 120 s (--timeout)"),
    ],
)
def test_a_timeout_is_max_times_only_when_max_time_is_nearly_spent(
    httpx_mock: HTTPXMock, clock: Clock, left: float, message: str
) -> None:
    def late(request: httpx.Request) -> httpx.Response:
        clock.now += 4.0 - left
        raise httpx.ReadTimeout("timed out", request=request)

    httpx_mock.add_callback(late)
    with make_client(left=4.0, clock=clock) as client, pytest.raises(TimedOut) as caught:
        client.get_json("models")
    assert caught.value.message == message


@pytest.mark.parametrize(
    ("exception", "hint"),
    [
        (httpx.ReadTimeout("t"),
         "raise --timeout (OUTSCALE_TIMEOUT) if the model is slow to answer"),
        (httpx.UnsupportedProtocol("x"), "check --server-url"),
        (httpx.ConnectError("[Errno -2] Name or service not known"),
         "check the host name in the server URL"),
        (httpx.ConnectError("[Errno -3] Temporary failure in name resolution"),
         "check the host name in the server URL"),
        (httpx.ConnectError("[Errno 111] Connection refused"),
         "check that the server is running and listening on that port"),
        (httpx.ConnectError("odd"), None),
    ],
)  # fmt: skip
def test_each_failure_has_its_hint(
    httpx_mock: HTTPXMock, clock: Clock, exception: Exception, hint: str | None
) -> None:
    httpx_mock.add_exception(exception)
    with make_client() as client, pytest.raises(Exception) as caught:
        client.get_json("models")
    assert caught.value.hint == hint  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "exception", [httpx.ProxyError("407"), httpx.ConnectTimeout("t"), httpx.ConnectError("x")]
)
def test_every_proxy_failure_says_to_check_where_it_was_set(
    httpx_mock: HTTPXMock, clock: Clock, exception: Exception
) -> None:
    httpx_mock.add_exception(exception)
    with make_client(proxy="http://proxy.test") as client, pytest.raises(Exception) as caught:
        client.get_json("models")
    assert caught.value.hint == "check --proxy: is the proxy running and reachable from here?"  # type: ignore[attr-defined]


def test_an_untrusted_certificate_without_a_verify_message_gives_the_error() -> None:
    import ssl

    cause = ssl.SSLCertVerificationError(1, "certificate verify failed")
    cause.verify_message = None  # type: ignore[assignment]
    error = httpx.ConnectError("opaque")
    error.__cause__ = cause
    with make_client() as client:
        found = client.map_error(error, started=False)
    assert found.message == ("TLS certificate of the server not trusted: certificate verify failed")
    assert found.hint == (
        "trust its CA with --ca-bundle PATH (or SSL_CERT_FILE), or check the server URL"
    )


def test_a_failure_without_a_request_names_the_server() -> None:
    with make_client() as client:
        found = client.map_error(
            httpx.ConnectError("[Errno 111] Connection refused"), started=False
        )
    assert found.message == "connection refused by the server"


def test_a_url_without_a_port_is_named_without_one(httpx_mock: HTTPXMock, clock: Clock) -> None:
    httpx_mock.add_exception(httpx.ConnectError("[Errno 111] Connection refused"))
    settings = load_settings({"server_url": "http://vm.test"}, {})
    with Client(settings, make_env(), 0) as client, pytest.raises(ConnectionFailed) as caught:
        client.get_json("models")
    assert caught.value.message == "connection refused by vm.test"


def test_an_insecure_client_warns_once_it_is_built() -> None:
    env = make_env()
    Client(load_settings({"server_url": SERVER, "insecure": True}, {}), env, 0).__exit__()
    assert stderr_of(env) == (
        "outscale-cli: warning: --insecure: the server's TLS certificate is not verified\n"
    )


# -- a batch's client: httpx's API on aiohttp's engine, against a server on 127.0.0.1 ----------


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_async_client(server_url: str, call: Any, *, timeout: float = 10.0) -> Any:
    """`call(client)` awaited on an AsyncClient of `server_url`, the client closed after."""
    import asyncio

    from outscale_cli.client import AsyncClient

    async def main() -> Any:
        settings = load_settings({"server_url": server_url, "timeout": timeout}, {})
        client = AsyncClient(settings, make_env(), connections=2)
        try:
            return await call(client)
        finally:
            await client.aclose()

    return asyncio.run(main())


def serving(handler: Any, call: Any, *, timeout: float = 10.0, connections: int = 2) -> Any:
    """`call(client)` against an aiohttp server on 127.0.0.1 that answers every POST with
    `handler`; returns what `call` returned and the requests the server saw."""
    import asyncio

    from aiohttp import web

    from outscale_cli.client import AsyncClient

    seen: list[tuple[str, dict[str, str], bytes]] = []

    async def record(request: web.Request) -> web.StreamResponse:
        seen.append((request.path, dict(request.headers), await request.read()))
        return await handler(request)

    async def main() -> Any:
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", record)
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        settings = load_settings({"server_url": f"http://127.0.0.1:{port}", "timeout": timeout}, {})
        client = AsyncClient(settings, make_env(), connections=connections)
        try:
            return await call(client), port
        finally:
            await client.aclose()
            await runner.cleanup()

    (result, port) = asyncio.run(main())
    return result, port, seen


def test_the_batch_client_posts_compact_json_and_returns_the_answer_whole() -> None:
    from aiohttp import web

    async def answer(request: Any) -> Any:
        return web.Response(
            status=200, body=b'{"ok": true}', headers={"Content-Type": "Application/JSON; x=1"}
        )

    async def call(client: Any) -> Any:
        return await client.post("chat/completions", {"content": "é", "n": [1, 2]})

    got, _port, seen = serving(answer, call)
    assert (got.status, got.content, got.content_type) == (200, b'{"ok": true}', "Application/JSON")
    [(path, headers, body)] = seen
    assert path == "/v1/chat/completions"
    assert body == '{"content":"é","n":[1,2]}'.encode()
    assert headers["Content-Type"] == "application/json"
    assert headers["Accept"] == "application/json"
    assert headers["User-Agent"].startswith("outscale-cli/")


def test_the_batch_client_says_an_error_status_as_every_command_does() -> None:
    from aiohttp import web

    async def busy(request: Any) -> Any:
        return web.Response(
            status=503, body=b'{"message": "overloaded"}', headers={"x-request-id": "r-7"}
        )

    async def call(client: Any) -> Any:
        answer = await client.post("chat/completions", {})
        return answer, client.status_error(answer, client.url("chat/completions"))

    (answer, error), port, _ = serving(busy, call)
    assert answer.status == 503
    assert isinstance(error, ServerError)
    assert (error.message, error.http_status, error.request_id) == (
        "503 Service Unavailable: overloaded", 503, "r-7"
    )  # fmt: skip
    assert error.hint == "the server failed; try again later or check the deployment's health"


def test_the_batch_client_names_a_redirects_base() -> None:
    from aiohttp import web

    async def moved(request: Any) -> Any:
        return web.Response(status=308, headers={"Location": "/moved/v1/chat/completions"})

    async def call(client: Any) -> Any:
        answer = await client.post("chat/completions", {})
        return client.status_error(answer, client.url("chat/completions"))

    error, port, _ = serving(moved, call)
    assert error.hint == (
        f"the server redirects to /moved/v1/chat/completions; "
        f"use http://127.0.0.1:{port}/moved as the server URL"
    )


def test_the_batch_client_says_a_refused_connection_is_unreachable() -> None:
    port = free_port()  # nothing listens there any more

    async def call(client: Any) -> Any:
        with pytest.raises(ConnectionFailed) as caught:
            await client.post("chat/completions", {})
        return caught.value

    error = run_async_client(f"http://127.0.0.1:{port}", call)
    assert error.message == f"connection refused by 127.0.0.1:{port}"
    assert error.unreachable is True
    assert isinstance(error.__cause__, httpx.HTTPError)


def test_the_batch_client_says_a_silent_server_timed_out_and_was_reached() -> None:
    import asyncio

    from aiohttp import web

    async def silent(request: Any) -> Any:
        await asyncio.sleep(5)
        return web.Response(status=200)

    async def call(client: Any) -> Any:
        with pytest.raises(TimedOut) as caught:
            await client.post("chat/completions", {})
        return caught.value

    error, port, _ = serving(silent, call, timeout=0.3)
    assert error.message == f"the server at 127.0.0.1:{port} said nothing for 0.3 s (--timeout)"
    assert error.unreachable is False


def test_a_connect_timeout_caused_by_a_refusal_is_a_connect_error() -> None:
    from outscale_cli.client import _as_httpx_would

    request = httpx.Request("POST", "http://vm.test:5000/v1/chat/completions")
    refused = ConnectionRefusedError(111, "Connection refused")
    wrapped = OSError("connector")  # as aiohttp wraps the socket's error
    wrapped.__cause__ = refused
    reported = httpx.ConnectTimeout("Cannot connect", request=request)
    reported.__cause__ = wrapped
    seen = _as_httpx_would(reported)
    assert type(seen) is httpx.ConnectError
    assert str(seen) == "Cannot connect"
    assert seen.request is request
    assert seen.__cause__ is wrapped
    without_request = httpx.ConnectTimeout("Cannot connect")
    without_request.__cause__ = refused
    seen = _as_httpx_would(without_request)
    assert type(seen) is httpx.ConnectError and seen.__cause__ is refused


def test_a_timeout_caused_by_time_stays_a_timeout() -> None:
    from outscale_cli.client import _as_httpx_would

    timed_out = httpx.ReadTimeout("slow")
    timed_out.__cause__ = TimeoutError()
    assert _as_httpx_would(timed_out) is timed_out
    no_cause = httpx.ConnectTimeout("slow")
    assert _as_httpx_would(no_cause) is no_cause
    other = httpx.ReadError("reset")
    other.__cause__ = ConnectionResetError()
    assert _as_httpx_would(other) is other


def test_the_cause_of_a_timeout_is_looked_for_down_the_chain() -> None:
    from outscale_cli.client import _as_httpx_would

    refused = ConnectionRefusedError(111, "Connection refused")
    middle = RuntimeError("aiohttp's own")
    middle.__context__ = refused
    reported = httpx.ConnectTimeout("Cannot connect")
    reported.__cause__ = middle
    assert type(_as_httpx_would(reported)) is httpx.ConnectError
    deeper = RuntimeError("outer")
    deeper.__cause__ = middle
    reported = httpx.ConnectTimeout("Cannot connect")
    reported.__cause__ = deeper
    assert type(_as_httpx_would(reported)) is httpx.ConnectError


def test_the_batch_client_opens_at_most_its_connections_and_waits_for_one_unbounded() -> None:
    import asyncio

    from aiohttp import web

    busy = {"now": 0, "most": 0}

    async def slow(request: Any) -> Any:
        busy["now"] += 1
        busy["most"] = max(busy["most"], busy["now"])
        await asyncio.sleep(0.4)
        busy["now"] -= 1
        return web.Response(status=200, body=b"{}")

    async def call(client: Any) -> Any:
        return await asyncio.gather(*(client.post("chat/completions", {}) for _ in range(4)))

    # One connection, four requests: the last one waits 1.2 s for it, longer than the 1 s
    # timeout, and is still sent: a wait for a connection has no time limit of its own.
    answers, _port, seen = serving(slow, call, timeout=1.0, connections=1)
    assert [a.status for a in answers] == [200, 200, 200, 200]
    assert busy["most"] == 1
    assert len(seen) == 4


# -- downloads ----------------------------------------------------------------------------------


def test_a_download_writes_every_chunk_as_it_comes(httpx_mock: HTTPXMock) -> None:
    class Pieces(httpx.SyncByteStream):
        def __iter__(self) -> Any:
            yield b'{"a": 1}\n'
            yield b'{"b": 2}\n'

    httpx_mock.add_response(url=f"{SERVER}/v1/files/f-1/content", stream=Pieces())
    into = io.BytesIO()
    with make_client() as client:
        assert client.download("files/f-1/content", into) == 18
    assert into.getvalue() == b'{"a": 1}\n{"b": 2}\n'
    [request] = httpx_mock.get_requests()
    assert request.method == "GET"
    assert request.content == b""


def test_a_download_refused_writes_nothing(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{SERVER}/v1/files/f-1/content", status_code=404, json={"message": "no such file"}
    )
    into = io.BytesIO()
    with make_client() as client, pytest.raises(ServerError) as caught:
        client.download("files/f-1/content", into)
    assert caught.value.message == "404 Not Found: no such file"
    assert into.getvalue() == b""


def test_a_download_that_breaks_off_keeps_what_came(httpx_mock: HTTPXMock) -> None:
    class Broken(httpx.SyncByteStream):
        def __iter__(self) -> Any:
            yield b"first line\n"
            raise httpx.ReadError("reset")

    httpx_mock.add_response(url=f"{SERVER}/v1/files/f-1/content", stream=Broken())
    into = io.BytesIO()
    with make_client() as client, pytest.raises(BadResponse) as caught:
        client.download("files/f-1/content", into)
    assert caught.value.message == "the stream broke off: reset"
    assert into.getvalue() == b"first line\n"


def test_a_download_stops_at_max_time(httpx_mock: HTTPXMock, clock: Clock) -> None:
    class Slow(httpx.SyncByteStream):
        def __iter__(self) -> Any:
            yield b"one "
            clock.now += 5.0
            yield b"two "
            yield b"three"

    httpx_mock.add_response(url=f"{SERVER}/v1/files/f-1/content", stream=Slow())
    into = io.BytesIO()
    with make_client(left=4.0, clock=clock) as client, pytest.raises(TimedOut):
        client.download("files/f-1/content", into)
    assert into.getvalue() == b"one two "


# -- uploads, query parameters ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty response: the server answered with no body"),
        (b"<html>", "undecodable response: not JSON ('<html>')"),
        (b"[1]", "undecodable response: a JSON value that is not an object"),
    ],
)
def test_an_upload_answer_that_is_not_an_object_says_so(
    httpx_mock: HTTPXMock, tmp_path: Any, body: bytes, message: str
) -> None:
    from outscale_cli.client import Upload

    path = tmp_path / "batch.jsonl"
    path.write_bytes(b'{"custom_id": "1"}\n')
    httpx_mock.add_response(url=f"{SERVER}/v1/files", method="POST", content=body)
    with make_client() as client, pytest.raises(BadResponse) as caught:
        client.upload("files", Upload(str(path), "batch.jsonl", {"purpose": "batch"}))
    assert caught.value.message == message


def test_an_upload_sends_the_file_and_its_fields(httpx_mock: HTTPXMock, tmp_path: Any) -> None:
    from outscale_cli.client import Upload

    path = tmp_path / "batch.jsonl"
    path.write_bytes(b'{"custom_id": "1"}\n')
    httpx_mock.add_response(url=f"{SERVER}/v1/files", method="POST", json={"id": "f-1"})
    with make_client() as client:
        got = client.upload("files", Upload(str(path), "named.jsonl", {"purpose": "batch"}))
    assert got == {"id": "f-1"}
    [request] = httpx_mock.get_requests()
    assert request.method == "POST"
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert b'name="purpose"\r\n\r\nbatch\r\n' in request.content
    assert b'name="file"; filename="named.jsonl"' in request.content
    assert b'{"custom_id": "1"}\n' in request.content


def test_an_upload_of_a_missing_file_is_a_config_error(tmp_path: Any) -> None:
    from outscale_cli.client import Upload

    path = tmp_path / "none.jsonl"
    with make_client() as client, pytest.raises(ConfigError) as caught:
        client.upload("files", Upload(str(path), "none.jsonl", {}))
    assert caught.value.message.startswith(f"cannot read {path}: ")


def test_query_parameters_are_sent(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{SERVER}/v1/batch/jobs?page=2&status=RUNNING", json={"data": []})
    with make_client() as client:
        assert client.get_json("batch/jobs", params={"page": 2, "status": "RUNNING"}) == {
            "data": []
        }


def test_a_redirect_base_keeps_the_letters_of_its_path() -> None:
    assert base_of("https://new.test/BOX/", f"{SERVER}/v1/models") == "https://new.test/BOX"


def test_a_timeout_with_exactly_fifty_milliseconds_left_is_max_times(
    httpx_mock: HTTPXMock, clock: Clock
) -> None:
    clock.now = 0.0

    def late(request: httpx.Request) -> httpx.Response:
        clock.now = 0.05  # 0.1 - 0.05 == 0.05 exactly: the edge of "cut short by --max-time"
        raise httpx.ReadTimeout("timed out", request=request)

    httpx_mock.add_callback(late)
    with make_client(left=0.1, clock=clock) as client, pytest.raises(TimedOut) as caught:
        client.get_json("models")
    assert caught.value.message == "--max-time 5 s expired: the command took too long"


# -- a real server or proxy on 127.0.0.1: the proxy and TLS settings reach the connection ------


class Recorder(http.server.BaseHTTPRequestHandler):
    """Answers every request with an empty model list; records its request line's target."""

    seen: list[str] = []

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        type(self).seen.append(self.path)
        body = b'{"data": []}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def loopback_server(tls: ssl.SSLContext | None = None) -> Iterator[tuple[int, list[str]]]:
    """An HTTP(S) server on 127.0.0.1 in a thread: (its port, the targets it was sent)."""
    handler = type("Handler", (Recorder,), {"seen": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], handler.seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_requests_go_through_the_proxy_given() -> None:
    with loopback_server() as (port, seen):
        settings = load_settings(
            {"server_url": "http://vm.test:5000", "proxy": f"http://127.0.0.1:{port}"}, {}
        )
        with Client(settings, make_env(), 0) as client:
            assert client.get_json("models") == {"data": []}
    # vm.test is never resolved here: the proxy was asked for the absolute URL
    assert seen == ["http://vm.test:5000/v1/models"]


def test_the_batch_client_goes_through_the_proxy_given() -> None:
    import asyncio

    from outscale_cli.client import AsyncClient

    async def main(port: int) -> Any:
        settings = load_settings(
            {"server_url": "http://vm.test:5000", "proxy": f"http://127.0.0.1:{port}"}, {}
        )
        client = AsyncClient(settings, make_env(), connections=1)
        try:
            return await client.post("chat/completions", {})
        finally:
            await client.aclose()

    with loopback_server() as (port, seen):
        answer = asyncio.run(main(port))
    assert (answer.status, answer.content) == (200, b'{"data": []}')
    assert seen == ["http://vm.test:5000/v1/chat/completions"]


@pytest.fixture
def tls_server(tmp_path: Any) -> Iterator[tuple[int, str]]:
    """An HTTPS server on 127.0.0.1 whose certificate a fresh CA signed: (port, the CA file)."""
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    with loopback_server(context) as (port, _seen):
        yield port, str(bundle)


def test_the_ca_bundle_given_verifies_the_server(tls_server: tuple[int, str]) -> None:
    port, bundle = tls_server
    settings = load_settings({"server_url": f"https://127.0.0.1:{port}", "ca_bundle": bundle}, {})
    with Client(settings, make_env(), 0) as client:
        assert client.get_json("models") == {"data": []}
    untrusted = load_settings({"server_url": f"https://127.0.0.1:{port}"}, {})
    with Client(untrusted, make_env(), 0) as client, pytest.raises(ConnectionFailed) as caught:
        client.get_json("models")
    assert caught.value.message.startswith(f"TLS certificate of 127.0.0.1:{port} not trusted")


def test_the_batch_client_verifies_the_server_with_the_ca_bundle_given(
    tls_server: tuple[int, str],
) -> None:
    import asyncio

    from outscale_cli.client import AsyncClient

    port, bundle = tls_server

    async def main() -> Any:
        settings = load_settings(
            {"server_url": f"https://127.0.0.1:{port}", "ca_bundle": bundle}, {}
        )
        client = AsyncClient(settings, make_env(), connections=1)
        try:
            return await client.post("chat/completions", {})
        finally:
            await client.aclose()

    assert asyncio.run(main()).status == 200


def test_ssl_cert_dir_adds_its_certificates(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    loaded: list[dict[str, Any]] = []
    real = ssl.SSLContext.load_verify_locations

    def recorded(self: ssl.SSLContext, *args: Any, **kwargs: Any) -> None:
        loaded.append(kwargs)
        real(self, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", recorded)
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    tls_context(load_settings({"server_url": "https://h.test"}, {}), make_env())
    assert {"capath": str(tmp_path)} in loaded
    loaded.clear()
    monkeypatch.delenv("SSL_CERT_DIR")
    tls_context(load_settings({"server_url": "https://h.test"}, {}), make_env())
    assert not any("capath" in call for call in loaded)


def test_an_upload_asks_for_json_within_max_time(
    httpx_mock: HTTPXMock, clock: Clock, tmp_path: Any
) -> None:
    from outscale_cli.client import Upload

    path = tmp_path / "batch.jsonl"
    path.write_bytes(b"{}\n")
    httpx_mock.add_response(url=f"{SERVER}/v1/files", method="POST", json={"id": "f-1"})
    with make_client(left=4.0, clock=clock) as client:
        client.upload("files", Upload(str(path), "batch.jsonl", {}))
    [request] = httpx_mock.get_requests()
    assert request.headers["accept"] == "application/json"
    timeout = request.extensions["timeout"]
    assert timeout["connect"] == 4.0 and timeout["read"] == 4.0


def test_the_time_taken_is_said_in_milliseconds(
    httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [10.0]
    monkeypatch.setattr(client_module.time, "perf_counter", lambda: now[0])

    def slow(request: httpx.Request) -> httpx.Response:
        now[0] += 2.0
        return httpx.Response(200, json={})

    httpx_mock.add_callback(slow, url=MODELS_URL)
    env = make_env(debug=True)
    with make_client(env) as client:
        client.get_json("models")
    assert "outscale-cli: debug: <- 200 OK in 2000 ms" in stderr_of(env).splitlines()


def test_a_route_is_joined_as_given(httpx_mock: HTTPXMock) -> None:
    with make_client() as client:
        assert client.url("/XYZ/models") == f"{SERVER}/v1/XYZ/models"
