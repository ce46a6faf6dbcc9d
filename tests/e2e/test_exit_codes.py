"""Every documented exit code, provoked through the real process over real sockets."""

from __future__ import annotations

import json
import signal
from http import HTTPStatus
from pathlib import Path

import pytest

from outscale_cli.mock.answers import answer_tokens, chat_text
from outscale_cli.mock.server import MockConfig, error_body

from .helpers import (
    ERROR_PREFIX,
    Canned,
    Served,
    assert_error,
    expected_chat,
    read_until,
    refused_url,
    run_cli,
    serve,
    serve_canned,
    silent_server,
    start_cli,
    url_env,
)

SERVED = ("small-2409", "codestral-2405", "ministral-8b-2410")


# -- 2: usage -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "stdin"),
    [
        (["chat"], None),
        (["chat", "   \n\t "], None),
        (["chat"], b"  \n\n  "),
        (["fim"], None),
    ],
    ids=["nothing", "blank-argument", "blank-stdin", "fim-nothing"],
)
def test_empty_prompt_exits_2_without_a_request(
    stand_in: Served, args: list[str], stdin: bytes | None
) -> None:
    result = run_cli(*args, env=stand_in.env(), stdin=stdin)
    assert_error(result, 2, "empty")
    assert stand_in.records == []


def test_unknown_flag_exits_2(stand_in: Served) -> None:
    result = run_cli("chat", "--bogus-flag", "Hello", env=stand_in.env())
    assert_error(result, 2, "--bogus-flag")
    assert stand_in.records == []


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["-t", "3"], "--temperature"),
        (["--top-p", "0"], "--top-p"),
        (["--presence-penalty", "2.5"], "--presence-penalty"),
        (["--frequency-penalty", "-3"], "--frequency-penalty"),
        (["--max-tokens", "0"], "--max-tokens"),
        (["-t", "warm"], "temperature"),
    ],
)
def test_values_outside_the_api_ranges_exit_2(stand_in: Served, args: list[str], flag: str) -> None:
    result = run_cli("chat", *args, "Hello", env=stand_in.env())
    assert_error(result, 2, flag)
    assert stand_in.records == []


def test_bad_timeout_flag_exits_2(stand_in: Served) -> None:
    result = run_cli("chat", "--timeout", "soon", "Hello", env=stand_in.env())
    assert_error(result, 2, "--timeout")
    assert stand_in.records == []


NOT_UTF8 = "caf\u00e9 cr\u00e8me".encode("latin-1")


def test_non_utf8_stdin_exits_2_naming_it(stand_in: Served) -> None:
    result = run_cli("chat", "Summarise", env=stand_in.env(), stdin=NOT_UTF8)
    assert_error(result, 2, "standard input", "UTF-8")
    assert stand_in.records == []


@pytest.mark.parametrize("command", ["chat", "fim"])
def test_non_utf8_file_exits_2_naming_it(stand_in: Served, tmp_path: Path, command: str) -> None:
    (tmp_path / "notes-latin1.txt").write_bytes(NOT_UTF8)
    result = run_cli(
        command, "-f", "notes-latin1.txt", env=stand_in.env("codestral-2405"), cwd=tmp_path
    )
    assert_error(result, 2, "notes-latin1.txt", "UTF-8")
    assert stand_in.records == []


@pytest.mark.parametrize(
    ("args", "source"),
    [
        (["chat", NOT_UTF8], "PROMPT"),
        (["chat", "-s", NOT_UTF8, "Hello"], "-s"),
        (["fim", NOT_UTF8], "PROMPT"),
        (["fim", "def f():", "--suffix", NOT_UTF8], "--suffix"),
    ],
    ids=["chat-prompt", "chat-system", "fim-prompt", "fim-suffix"],
)
def test_non_utf8_argument_exits_2_naming_it(
    stand_in: Served, args: list[str | bytes], source: str
) -> None:
    # A shell hands over whatever bytes it was given (a Latin-1 terminal, a file's name...).
    result = run_cli(*args, env=stand_in.env("codestral-2405"))
    assert_error(result, 2, source, "UTF-8")
    assert stand_in.records == []


def test_missing_file_exits_2(stand_in: Served, tmp_path: Path) -> None:
    result = run_cli("chat", "-f", "nowhere.md", env=stand_in.env(), cwd=tmp_path)
    assert_error(result, 2, "nowhere.md")
    assert stand_in.records == []


# -- 3: configuration ---------------------------------------------------------------------------
@pytest.mark.parametrize("command", [["chat", "Hello"], ["models"], ["ping"]])
def test_no_server_url_exits_3_naming_both_ways_to_set_it(command: list[str]) -> None:
    result = run_cli(*command)
    assert_error(result, 3, "OUTSCALE_SERVER_URL", "--server-url")


def test_no_model_on_a_multi_model_server_exits_3_listing_ids(stand_in: Served) -> None:
    result = run_cli("chat", "Hello", env=stand_in.env(model=None))
    line = assert_error(result, 3, "OUTSCALE_MODEL_NAME", "-m")
    for model in SERVED:
        assert model in line
    assert stand_in.posts() == []


def test_no_model_on_a_server_without_models_route_exits_3() -> None:
    with serve(MockConfig(no_models=True)) as srv:
        result = run_cli("chat", "Hello", env=srv.env(model=None))
    assert_error(result, 3, "OUTSCALE_MODEL_NAME", "-m")
    assert srv.posts() == []


def test_no_model_on_a_server_serving_none_exits_3() -> None:
    with serve(MockConfig(models=())) as srv:
        result = run_cli("chat", "Hello", env=srv.env(model=None))
    assert_error(result, 3, "OUTSCALE_MODEL_NAME", "-m")
    assert srv.posts() == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OUTSCALE_TIMEOUT", "soon"),
        ("OUTSCALE_TIMEOUT", "0"),
        ("OUTSCALE_RETRIES", "many"),
        ("OUTSCALE_SERVER_URL", "ftp://example.com"),
    ],
)
def test_bad_setting_in_the_environment_exits_3(stand_in: Served, name: str, value: str) -> None:
    result = run_cli("chat", "Hello", env=stand_in.env(**{name: value}))
    assert_error(result, 3, name)
    assert stand_in.records == []


# -- 4: connection ------------------------------------------------------------------------------
@pytest.mark.parametrize("retries", [[], ["--retries", "0"]], ids=["default", "no-retries"])
def test_connection_refused_exits_4(retries: list[str]) -> None:
    with refused_url() as url:
        result = run_cli("chat", *retries, "Hello", env=url_env(url))
    assert_error(result, 4, "refused", url.removeprefix("http://"))


def test_ping_of_a_refused_server_exits_4() -> None:
    with refused_url() as url:
        result = run_cli("ping", "-m", "small-2409", env={"OUTSCALE_SERVER_URL": url})
    assert_error(result, 4, "refused")


def test_tls_to_a_plain_http_server_exits_4(stand_in: Served) -> None:
    url = stand_in.url.replace("http://", "https://")
    result = run_cli("chat", "--retries", "0", "Hello", env=url_env(url))
    assert_error(result, 4, "TLS")


# -- 5: timeout ---------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["--stream", "--no-stream"])
def test_a_silent_server_times_out_with_exit_5(mode: str) -> None:
    with silent_server() as silent:
        result = run_cli("chat", mode, "--timeout", "0.5", "Hello", env=url_env(silent.url))
        assert silent.connected.is_set()  # it connected, then heard nothing
    assert_error(result, 5)
    assert result.elapsed >= 0.45


def test_timeout_from_the_environment() -> None:
    with silent_server() as silent:
        result = run_cli(
            "models", env={"OUTSCALE_SERVER_URL": silent.url, "OUTSCALE_TIMEOUT": "0.5"}
        )
    assert_error(result, 5)


# -- 6: error status ----------------------------------------------------------------------------
def test_503_after_the_retries_exits_6() -> None:
    with serve(MockConfig(models=("small-2409",), fail_status=503)) as srv:
        result = run_cli("chat", "Hello", env=srv.env())
    line = assert_error(result, 6)
    assert line.startswith(f"{ERROR_PREFIX}503 Service Unavailable"), line
    assert "stand-in failure" in line  # the server's own message
    assert len(srv.posts()) == 3  # the first try and the default 2 retries


def test_wrong_api_key_exits_6_with_401() -> None:
    with serve(MockConfig(models=("small-2409",), api_key="the-right-key")) as srv:
        result = run_cli("chat", "Hello", env=srv.env(OUTSCALE_API_KEY="a-wrong-key"))
    line = assert_error(result, 6)
    assert line.startswith(f"{ERROR_PREFIX}401 Unauthorized"), line
    assert "OUTSCALE_API_KEY" in result.stderr  # the hint says what to check
    assert "a-wrong-key" not in result.stderr


PHRASE_422 = HTTPStatus(422).phrase
VALIDATION = [
    {
        "type": "less_than_equal",
        "loc": ["body", "temperature"],
        "msg": "Input should be less than or equal to 1",
        "input": 1.2,
    }
]


@pytest.mark.parametrize(
    "body",
    [
        error_body({"detail": VALIDATION}, "invalid_request_error"),  # La Plateforme's shape
        {"detail": VALIDATION},  # FastAPI's own shape
        error_body(json.dumps({"detail": VALIDATION}), "invalid_request_error"),  # stringified
    ],
    ids=["error-object", "detail-list", "stringified"],
)
def test_422_names_the_field(body: object) -> None:
    # A server that accepts temperature only up to 1 (an older API range) refuses 1.2.
    canned = Canned(status=422, body=json.dumps(body).encode())
    with serve_canned(canned) as srv:
        result = run_cli("chat", "-t", "1.2", "--no-stream", "Hello", env=srv.env())
    line = assert_error(result, 6, "temperature", "less than or equal to 1")
    assert line.startswith(f"{ERROR_PREFIX}422 {PHRASE_422}: "), line
    assert len(srv.records) == 1  # never retried


def test_an_error_object_inside_a_stream_exits_6() -> None:
    event = error_body("the model is overloaded, try later", "service_unavailable", "3505")
    canned = Canned(
        body=b"data: " + json.dumps(event).encode() + b"\n\n",
        content_type="text/event-stream",
    )
    with serve_canned(canned) as srv:
        result = run_cli("chat", "Hello", env=srv.env())
    assert_error(result, 6, "the model is overloaded")


# -- 7: malformed answer or broken stream -------------------------------------------------------
def test_a_stream_that_breaks_off_keeps_the_text_and_exits_7() -> None:
    with serve(MockConfig(models=("small-2409",), break_after=3)) as srv:
        result = run_cli("chat", "Hello", env=srv.env())
    pieces, _ = answer_tokens(
        chat_text({"messages": [{"role": "user", "content": "Hello"}]}, "small-2409"),
        prefix=None,
        length=None,
        max_tokens=None,
    )
    received = "".join(pieces[:3])
    assert not received.endswith("\n")
    assert_error(result, 7, stdout=received + "\n")  # what came, ended with a newline
    assert len(srv.posts()) == 1  # never retried once output started


NOT_ANSWERS = {
    "empty": Canned(body=b""),
    "html-as-json": Canned(body=b"<html><body>Welcome to nginx!</body></html>"),
    "html": Canned(body=b"<html><body>Welcome to nginx!</body></html>", content_type="text/html"),
    "truncated-json": Canned(body=b'{"id": "x", "choices": [{"index": 0, "message": {"role": '),
    "no-choices": Canned(body=b'{"id": "x", "object": "chat.completion"}'),
    "empty-stream": Canned(body=b"", content_type="text/event-stream"),
    "bad-event": Canned(body=b"data: {not json}\n\n", content_type="text/event-stream"),
    "non-utf8-event": Canned(
        body=b'data: {"choices": "\xff\xfe"}\n\n', content_type="text/event-stream"
    ),
}


@pytest.mark.parametrize(
    ("case", "mode"),
    [
        ("empty", "--stream"),
        ("empty", "--no-stream"),
        ("html-as-json", "--no-stream"),
        ("html", "--stream"),
        ("truncated-json", "--no-stream"),
        ("no-choices", "--no-stream"),
        ("empty-stream", "--stream"),
        ("bad-event", "--stream"),
        ("non-utf8-event", "--stream"),
    ],
)
def test_a_200_that_is_not_an_answer_exits_7(case: str, mode: str) -> None:
    with serve_canned(NOT_ANSWERS[case]) as srv:
        result = run_cli("chat", mode, "Hello", env=srv.env())
    assert_error(result, 7)


def test_a_model_list_that_is_not_json_exits_7() -> None:
    with serve_canned(Canned(body=b"OK")) as srv:
        result = run_cli("models", env=srv.env(model=None))
    assert_error(result, 7)


# -- 8: ping, model not served ------------------------------------------------------------------
def test_ping_exits_8_when_the_model_is_not_served(stand_in: Served) -> None:
    result = run_cli("ping", "-m", "mistral-large-2411", env=stand_in.env(model=None))
    line = assert_error(result, 8, "mistral-large-2411")
    for model in SERVED:
        assert model in line


# -- 130: interrupted ---------------------------------------------------------------------------
def test_ctrl_c_during_a_stream_exits_130_keeping_what_arrived() -> None:
    config = MockConfig(models=("small-2409",), pace=0.2, length=60)
    full = expected_chat("Hello", length=60)
    with serve(config) as srv:
        proc = start_cli("chat", "Hello", env=srv.env())
        with proc:
            try:
                assert proc.stdout is not None
                first = read_until(proc.stdout.fileno(), lambda data: len(data) > 0)
                proc.send_signal(signal.SIGINT)
                rest, err = proc.communicate(timeout=15)
            except BaseException:
                proc.kill()
                proc.communicate()
                raise
    out = (first + rest).decode("utf-8")
    stderr = err.decode("utf-8")
    assert proc.returncode == 130, (out, stderr)
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) in (1, 2) and lines[0].startswith(ERROR_PREFIX), stderr
    received = out[:-1] if out.endswith("\n") and not full.startswith(out) else out
    assert received and full.startswith(received), (out, full)
    assert len(received) < len(full)  # it was cut short


def test_ctrl_c_while_waiting_for_the_server_exits_130() -> None:
    with silent_server() as silent:
        proc = start_cli("chat", "Hello", env=url_env(silent.url))
        with proc:
            try:
                # Ctrl-C once it has connected and waits for an answer that never comes.
                assert silent.connected.wait(15), "the CLI never connected"
                proc.send_signal(signal.SIGINT)
                out, err = proc.communicate(timeout=15)
            except BaseException:
                proc.kill()
                proc.communicate()
                raise
    assert proc.returncode == 130, (out, err)
    assert out == b""
    assert b"Traceback" not in err
    assert err.decode().startswith(ERROR_PREFIX)


# -- --mock is the same stand-in as mock-server ---------------------------------------------------
def test_mock_serves_the_stand_ins_three_models() -> None:
    result = run_cli("models", "--mock")
    assert result.code == 0, result.stderr
    assert result.stdout.split() == ["small-2409", "codestral-2405", "ministral-8b-2410"]


def test_ping_mock_refuses_a_model_it_does_not_serve() -> None:
    result = run_cli("ping", "--mock", "-m", "typo")
    assert result.code == 8, result.stderr
    assert "model typo is not served" in result.stderr


def test_chat_mock_refuses_a_model_it_does_not_serve() -> None:
    result = run_cli("chat", "--mock", "-m", "typo", "hi")
    assert result.code == 6, result.stderr
    assert "Invalid model: typo" in result.stderr
    assert result.stdout == ""
