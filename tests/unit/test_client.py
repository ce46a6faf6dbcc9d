"""outscale_cli.client with pytest-httpx: URLs, headers, retries and error mapping."""

from __future__ import annotations

import email.utils
import json
import random
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pytest_httpx import HTTPXMock

from outscale_cli import __version__
from outscale_cli import client as client_module
from outscale_cli.client import (
    BACKOFF_CAP,
    RETRY_AFTER_CAP,
    Client,
    backoff_delay,
    retry_after_seconds,
)
from outscale_cli.console import Environment
from outscale_cli.errors import BadResponse, ConfigError, ConnectionFailed, ServerError, TimedOut
from outscale_cli.settings import load_settings
from outscale_cli.status import ExitStatus
from outscale_cli.wire import Sampling, fim_body

from .conftest import make_env

SERVER = "http://vm.test:5000"
MODELS_URL = f"{SERVER}/v1/models"
CHAT_URL = f"{SERVER}/v1/chat/completions"
MODELS = {"object": "list", "data": [{"id": "small-2409"}]}


def make_client(
    env: Environment | None = None,
    *,
    retries: int = 0,
    server_url: str = SERVER,
    environ: dict[str, str] | None = None,
) -> Client:
    settings = load_settings({"server_url": server_url}, environ or {})
    return Client(settings, env or make_env(), retries)


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every wait the client asks for between attempts, instead of sleeping."""
    recorded: list[float] = []
    monkeypatch.setattr(client_module.time, "sleep", recorded.append)
    return recorded


# -- where requests go ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("server_url", "expected"),
    [
        ("http://vm.test:5000", "http://vm.test:5000/v1/models"),
        ("http://vm.test:5000/", "http://vm.test:5000/v1/models"),
        ("http://vm.test:5000/v1", "http://vm.test:5000/v1/models"),
        ("http://vm.test:5000/v1/", "http://vm.test:5000/v1/models"),
        ("https://gw.example.com/mistral", "https://gw.example.com/mistral/v1/models"),
        ("https://gw.example.com/mistral/v1/", "https://gw.example.com/mistral/v1/models"),
        ("vm.test:5000", "http://vm.test:5000/v1/models"),
    ],
)
def test_requests_go_to_prefix_v1_never_v1_v1(
    httpx_mock: HTTPXMock, server_url: str, expected: str
) -> None:
    httpx_mock.add_response(url=expected, json=MODELS)
    with make_client(server_url=server_url) as client:
        assert client.get_json("models") == MODELS
    [request] = httpx_mock.get_requests()
    assert str(request.url) == expected
    assert "/v1/v1" not in str(request.url)


def test_client_without_server_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        Client(load_settings({}, {}), make_env(), 0)
    assert "OUTSCALE_SERVER_URL" in caught.value.message


# -- headers --------------------------------------------------------------------------------


def test_user_agent_names_the_cli_and_its_version(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=MODELS_URL, json=MODELS)
    with make_client() as client:
        client.get_json("models")
    assert httpx_mock.get_requests()[0].headers["User-Agent"] == f"outscale-cli/{__version__}"


def test_no_authorization_header_without_a_key(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=MODELS_URL, json=MODELS)
    with make_client() as client:
        client.get_json("models")
    assert "Authorization" not in httpx_mock.get_requests()[0].headers


def test_bearer_key_when_set(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=CHAT_URL, json={"choices": []})
    with make_client(environ={"OUTSCALE_API_KEY": "sk-test-123"}) as client:
        client.post_json("chat/completions", {"model": "m", "messages": []})
    assert httpx_mock.get_requests()[0].headers["Authorization"] == "Bearer sk-test-123"


def test_key_never_reaches_debug_output(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=MODELS_URL, status_code=401, json={"detail": "bad key sk-test-123"})
    env = make_env(debug=True)
    with make_client(env, environ={"OUTSCALE_API_KEY": "sk-test-123"}) as client:
        with pytest.raises(ServerError) as caught:
            client.get_json("models")
    stderr = env.stderr.getvalue()  # type: ignore[attr-defined]
    assert "GET" in stderr and "401" in stderr
    assert "sk-test-123" not in stderr
    assert "sk-test-123" not in env.scrub(caught.value.message)


def test_post_sends_json_and_accepts_json(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=CHAT_URL, json={"choices": []})
    with make_client() as client:
        client.post_json("chat/completions", {"model": "m", "messages": []})
    request = httpx_mock.get_requests()[0]
    assert request.method == "POST"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Accept"] == "application/json"


def test_stream_request_accepts_an_event_stream(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=CHAT_URL, content=b"data: [DONE]\n\n")
    with (
        make_client() as client,
        client.post_stream("chat/completions", {"stream": True}) as answer,
    ):
        assert answer.read() == b"data: [DONE]\n\n"
    assert httpx_mock.get_requests()[0].headers["Accept"] == "text/event-stream"


def test_fim_prompt_reaches_the_server_byte_for_byte(httpx_mock: HTTPXMock) -> None:
    prompt, suffix = "def f(x):\n    \t\n", "\n\n    return y  \n\n"
    url = f"{SERVER}/v1/fim/completions"
    httpx_mock.add_response(url=url, json={"choices": []})
    body = fim_body("codestral-2405", prompt, suffix=suffix, sampling=Sampling(), stream=False)
    with make_client() as client:
        client.post_json("fim/completions", body)
    sent = json.loads(httpx_mock.get_requests()[0].content)
    assert sent == {"model": "codestral-2405", "prompt": prompt, "suffix": suffix}


# -- retries --------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retryable_status_is_retried_then_succeeds(
    httpx_mock: HTTPXMock, waits: list[float], status: int
) -> None:
    httpx_mock.add_response(url=MODELS_URL, status_code=status)
    httpx_mock.add_response(url=MODELS_URL, json=MODELS)
    with make_client(retries=2) as client:
        assert client.get_json("models") == MODELS
    assert len(httpx_mock.get_requests()) == 2
    assert len(waits) == 1


def test_backoff_waits_stay_under_their_ceilings(httpx_mock: HTTPXMock, waits: list[float]) -> None:
    for _ in range(3):
        httpx_mock.add_response(url=MODELS_URL, status_code=503)
    httpx_mock.add_response(url=MODELS_URL, json=MODELS)
    with make_client(retries=3) as client:
        client.get_json("models")
    assert len(waits) == 3
    for attempt, wait in enumerate(waits):
        assert 0 <= wait <= 0.5 * 2**attempt


def test_retries_exhausted_raise_the_last_status(httpx_mock: HTTPXMock, waits: list[float]) -> None:
    httpx_mock.add_response(url=MODELS_URL, status_code=503, is_reusable=True)
    with make_client(retries=2) as client, pytest.raises(ServerError) as caught:
        client.get_json("models")
    assert caught.value.http_status == 503
    assert len(httpx_mock.get_requests()) == 3
    assert len(waits) == 2


def test_retries_zero_means_one_request(httpx_mock: HTTPXMock, waits: list[float]) -> None:
    httpx_mock.add_response(url=MODELS_URL, status_code=503)
    with make_client(retries=0) as client, pytest.raises(ServerError) as caught:
        client.get_json("models")
    assert caught.value.http_status == 503
    assert len(httpx_mock.get_requests()) == 1
    assert waits == []


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 422])
def test_client_errors_are_not_retried(
    httpx_mock: HTTPXMock, waits: list[float], status: int
) -> None:
    httpx_mock.add_response(url=MODELS_URL, status_code=status, json={"detail": "no"})
    with make_client(retries=2) as client, pytest.raises(ServerError) as caught:
        client.get_json("models")
    assert caught.value.http_status == status
    assert len(httpx_mock.get_requests()) == 1
    assert waits == []


def test_retry_after_seconds_decides_the_wait(httpx_mock: HTTPXMock, waits: list[float]) -> None:
    httpx_mock.add_response(url=MODELS_URL, status_code=429, headers={"Retry-After": "7"})
    httpx_mock.add_response(url=MODELS_URL, json=MODELS)
    with make_client(retries=1) as client:
        client.get_json("models")
    assert waits == [7.0]


def test_retry_after_is_capped_at_60_seconds(httpx_mock: HTTPXMock, waits: list[float]) -> None:
    httpx_mock.add_response(url=MODELS_URL, status_code=503, headers={"Retry-After": "3600"})
    httpx_mock.add_response(url=MODELS_URL, json=MODELS)
    with make_client(retries=1) as client:
        client.get_json("models")
    assert waits == [60.0]


def test_retry_after_http_date_far_ahead_is_capped(
    httpx_mock: HTTPXMock, waits: list[float]
) -> None:
    date = email.utils.formatdate(client_module.time.time() + 3600, usegmt=True)
    httpx_mock.add_response(url=MODELS_URL, status_code=429, headers={"Retry-After": date})
    httpx_mock.add_response(url=MODELS_URL, json=MODELS)
    with make_client(retries=1) as client:
        client.get_json("models")
    assert waits == [60.0]


def test_retry_after_http_date_in_the_past_waits_nothing(
    httpx_mock: HTTPXMock, waits: list[float]
) -> None:
    headers = {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}
    httpx_mock.add_response(url=MODELS_URL, status_code=429, headers=headers)
    httpx_mock.add_response(url=MODELS_URL, json=MODELS)
    with make_client(retries=1) as client:
        client.get_json("models")
    assert waits == [0.0]


def test_stream_retried_before_any_byte(httpx_mock: HTTPXMock, waits: list[float]) -> None:
    httpx_mock.add_response(url=CHAT_URL, status_code=502)
    httpx_mock.add_response(url=CHAT_URL, content=b"data: [DONE]\n\n")
    with make_client(retries=1) as client, client.post_stream("chat/completions", {}) as answer:
        assert answer.read() == b"data: [DONE]\n\n"
    assert len(httpx_mock.get_requests()) == 2


class BrokenStream(httpx.SyncByteStream):
    """Sends one event, then the connection resets."""

    def __iter__(self) -> Iterator[bytes]:
        yield b'data: {"choices": [{"index": 0, "delta": {"content": "Hel"}}]}\n\n'
        raise httpx.ReadError("Connection reset by peer")


def test_stream_breaking_after_output_started_is_not_retried(
    httpx_mock: HTTPXMock, waits: list[float]
) -> None:
    httpx_mock.add_response(url=CHAT_URL, stream=BrokenStream())
    received: list[bytes] = []
    with make_client(retries=2) as client, client.post_stream("chat/completions", {}) as answer:
        with pytest.raises(BadResponse) as caught:
            for piece in answer.chunks():
                received.append(piece)
    assert b"Hel" in b"".join(received)
    assert caught.value.status == ExitStatus.BAD_RESPONSE
    assert len(httpx_mock.get_requests()) == 1
    assert waits == []


# -- errors ---------------------------------------------------------------------------------


def test_error_status_raises_server_error_with_the_servers_message(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=CHAT_URL,
        status_code=401,
        json={"message": "Unauthorized", "request_id": "abc"},
    )
    with make_client() as client, pytest.raises(ServerError) as caught:
        client.post_json("chat/completions", {})
    assert caught.value.http_status == 401
    assert caught.value.message.startswith("401 Unauthorized")
    assert caught.value.status == ExitStatus.HTTP_ERROR


def test_422_error_names_the_field(httpx_mock: HTTPXMock) -> None:
    detail = [
        {"loc": ["body", "top_p"], "msg": "Input should be less than or equal to 1", "type": "x"}
    ]
    httpx_mock.add_response(url=CHAT_URL, status_code=422, json={"detail": detail})
    with make_client(retries=2) as client, pytest.raises(ServerError) as caught:
        client.post_json("chat/completions", {})
    assert caught.value.http_status == 422
    assert "top_p" in caught.value.message


def test_error_status_on_a_stream_is_raised_before_reading(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=CHAT_URL, status_code=404, json={"detail": "Not Found"})
    with make_client() as client, pytest.raises(ServerError) as caught:
        with client.post_stream("chat/completions", {}):
            pass  # pragma: no cover - never reached
    assert caught.value.http_status == 404


def test_request_id_header_is_kept(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=MODELS_URL, status_code=500, headers={"x-request-id": "rq-9"})
    with make_client() as client, pytest.raises(ServerError) as caught:
        client.get_json("models")
    assert caught.value.request_id == "rq-9"


def test_non_json_success_body_is_bad_response(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=MODELS_URL, text="<html>hello</html>")
    with make_client() as client, pytest.raises(BadResponse):
        client.get_json("models")


def test_empty_success_body_is_bad_response(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=CHAT_URL, content=b"")
    with make_client() as client, pytest.raises(BadResponse):
        client.post_json("chat/completions", {})


def test_post_json_answer_not_an_object_is_bad_response(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=CHAT_URL, json=[1, 2])
    with make_client() as client, pytest.raises(BadResponse):
        client.post_json("chat/completions", {})


def test_connection_refused_is_connection_failed(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_exception(httpx.ConnectError("[Errno 111] Connection refused"))
    with make_client() as client, pytest.raises(ConnectionFailed) as caught:
        client.get_json("models")
    assert "vm.test:5000" in caught.value.message
    assert caught.value.status == ExitStatus.CONNECTION


def test_connection_refused_is_retried(httpx_mock: HTTPXMock, waits: list[float]) -> None:
    httpx_mock.add_exception(httpx.ConnectError("[Errno 111] Connection refused"))
    httpx_mock.add_response(url=MODELS_URL, json=MODELS)
    with make_client(retries=1) as client:
        assert client.get_json("models") == MODELS
    assert len(waits) == 1


def test_connection_refused_every_time_after_retries(
    httpx_mock: HTTPXMock, waits: list[float]
) -> None:
    httpx_mock.add_exception(httpx.ConnectError("[Errno 111] Connection refused"), is_reusable=True)
    with make_client(retries=2) as client, pytest.raises(ConnectionFailed):
        client.get_json("models")
    assert len(httpx_mock.get_requests()) == 3
    assert len(waits) == 2


@pytest.mark.parametrize(
    "exception",
    [httpx.ReadTimeout("timed out"), httpx.ConnectTimeout("timed out")],
    ids=["read", "connect"],
)
def test_timeouts_are_timed_out(httpx_mock: HTTPXMock, exception: httpx.TimeoutException) -> None:
    httpx_mock.add_exception(exception)
    with make_client() as client, pytest.raises(TimedOut) as caught:
        client.get_json("models")
    assert caught.value.status == ExitStatus.TIMEOUT


# -- pure functions -------------------------------------------------------------------------


class Ceiling(random.Random):
    """An rng whose uniform(a, b) answers b, to read the backoff ceiling."""

    def uniform(self, a: float, b: float) -> float:
        return b


@pytest.mark.parametrize(
    ("attempt", "ceiling"), [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0), (30, 8.0)]
)
def test_backoff_ceiling_doubles_up_to_the_cap(attempt: int, ceiling: float) -> None:
    assert backoff_delay(attempt, Ceiling()) == ceiling
    assert BACKOFF_CAP == 8.0


def test_backoff_is_jittered_within_the_ceiling() -> None:
    rng = random.Random(1234)
    delays = [backoff_delay(3, rng) for _ in range(200)]
    assert all(0 <= d <= 4.0 for d in delays)
    assert len(set(delays)) > 100


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5", 5.0),
        (" 5 ", 5.0),
        ("1.5", 1.5),
        ("0", 0.0),
        ("-3", 0.0),
        ("60", 60.0),
        ("61", 60.0),
        ("86400", 60.0),
    ],
)
def test_retry_after_seconds(value: str, expected: float) -> None:
    assert retry_after_seconds(value) == expected


@pytest.mark.parametrize("value", [None, "", "soon", "nan", "Not, a date"])
def test_retry_after_absent_or_unreadable_is_none(value: Any) -> None:
    assert retry_after_seconds(value) is None


def test_retry_after_http_date() -> None:
    now = email.utils.parsedate_to_datetime("Wed, 21 Oct 2015 07:28:00 GMT").timestamp()
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:30 GMT", now=now) == 30.0


def test_retry_after_http_date_is_capped() -> None:
    now = email.utils.parsedate_to_datetime("Wed, 21 Oct 2015 07:28:00 GMT").timestamp()
    assert retry_after_seconds("Wed, 21 Oct 2015 09:00:00 GMT", now=now) == RETRY_AFTER_CAP == 60.0


def test_retry_after_http_date_in_the_past_is_zero() -> None:
    now = email.utils.parsedate_to_datetime("Wed, 21 Oct 2015 07:28:00 GMT").timestamp()
    assert retry_after_seconds("Wed, 21 Oct 2015 07:00:00 GMT", now=now) == 0.0


@pytest.fixture
def eastern_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The local time zone five hours behind UTC, restored afterwards."""
    monkeypatch.setenv("TZ", "EST5")
    client_module.time.tzset()
    yield
    monkeypatch.undo()
    client_module.time.tzset()


@pytest.mark.parametrize(
    "value",
    ["Wednesday, 21-Oct-15 07:28:30 GMT", "Wed Oct 21 07:28:30 2015"],
    ids=["rfc850", "asctime"],
)
def test_retry_after_obsolete_http_date_formats_are_gmt(eastern_time: None, value: str) -> None:
    # RFC 9110 5.6.7: recipients must accept all three HTTP-date formats, all in GMT.
    now = email.utils.parsedate_to_datetime("Wed, 21 Oct 2015 07:28:00 GMT").timestamp()
    assert retry_after_seconds(value, now=now) == 30.0


# -- redirects: the hint names the base to use, not the route ---------------------------------


@pytest.mark.parametrize(
    ("location", "base"),
    [
        ("https://vm.test/v1/chat/completions", "https://vm.test"),
        ("https://gw.test/mistral/v1/chat/completions", "https://gw.test/mistral"),
        ("/moved/v1/chat/completions", "http://vm.test:5000/moved"),
        ("https://vm.test/v1", "https://vm.test"),
        ("https://vm.test:8443/", "https://vm.test:8443"),
    ],
)
def test_a_redirect_hint_suggests_the_base_url(
    httpx_mock: HTTPXMock, location: str, base: str
) -> None:
    httpx_mock.add_response(url=CHAT_URL, status_code=301, headers={"Location": location})
    with make_client() as client, pytest.raises(ServerError) as caught:
        client.post_json("chat/completions", {"model": "m", "messages": []})
    assert caught.value.hint is not None
    assert caught.value.hint.endswith(f"; use {base} as the server URL"), caught.value.hint


def test_a_redirect_hint_hides_a_password(httpx_mock: HTTPXMock) -> None:
    location = "https://user:s3cret-pw@vm.test/v1/chat/completions"
    httpx_mock.add_response(url=CHAT_URL, status_code=308, headers={"Location": location})
    with make_client() as client, pytest.raises(ServerError) as caught:
        client.post_json("chat/completions", {"model": "m", "messages": []})
    assert caught.value.hint is not None and "s3cret-pw" not in caught.value.hint
    assert "https://user:********@vm.test" in caught.value.hint


# -- a password in the server URL is shown nowhere --------------------------------------------


def test_a_url_password_is_scrubbed_from_debug_lines(httpx_mock: HTTPXMock) -> None:
    env = make_env(debug=True)
    env.secrets = []
    httpx_mock.add_response(url="http://user:pw-123456@vm.test:5000/v1/models", json=MODELS)
    with make_client(env, server_url="http://user:pw-123456@vm.test:5000") as client:
        client.get_json("models")
    shown = env.stderr.getvalue()  # type: ignore[attr-defined]
    assert "GET http://user:********@vm.test:5000/v1/models" in shown
    assert "pw-123456" not in shown
    assert "pw-123456" in env.secrets  # so every later diagnostic line is scrubbed too


def test_redact_url() -> None:
    from outscale_cli.settings import redact_url

    assert redact_url("http://u:p@h:1/x") == "http://u:********@h:1/x"
    assert redact_url("http://u@h:1") == "http://u@h:1"
    assert redact_url("http://h:1") == "http://h:1"
    assert redact_url(None) is None


JOBS_URL = f"{SERVER}/v1/batch/jobs"


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_request_sent_once_is_not_sent_again_after_a_gateway_error(
    httpx_mock: HTTPXMock, waits: list[float], status: int
) -> None:
    httpx_mock.add_response(url=JOBS_URL, status_code=status)  # the job may exist already
    with make_client(retries=3) as client, pytest.raises(ServerError) as caught:
        client.post_json("batch/jobs", {"input_files": ["f"]}, once=True)
    assert caught.value.http_status == status
    assert len(httpx_mock.get_requests()) == 1 and waits == []


def test_a_request_sent_once_is_sent_again_when_it_cannot_have_been_carried_out(
    httpx_mock: HTTPXMock, waits: list[float]
) -> None:
    httpx_mock.add_exception(httpx.ConnectError("refused"), url=JOBS_URL)
    httpx_mock.add_response(url=JOBS_URL, status_code=429)
    httpx_mock.add_response(url=JOBS_URL, json={"id": "job-1"})
    with make_client(retries=3) as client:
        assert client.post_json("batch/jobs", {"input_files": ["f"]}, once=True) == {"id": "job-1"}
    assert len(httpx_mock.get_requests()) == 3 and len(waits) == 2


def test_a_request_sent_once_is_not_sent_again_after_a_read_timeout(
    httpx_mock: HTTPXMock, waits: list[float]
) -> None:
    httpx_mock.add_exception(httpx.ReadTimeout("slow"), url=JOBS_URL)
    with make_client(retries=3) as client, pytest.raises((ConnectionFailed, TimedOut)):
        client.post_json("batch/jobs", {"input_files": ["f"]}, once=True)
    assert len(httpx_mock.get_requests()) == 1
