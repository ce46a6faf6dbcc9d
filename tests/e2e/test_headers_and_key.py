"""What goes on the wire besides the body: the key (and where it must never show), the
User-Agent, the content headers."""

from __future__ import annotations

import pytest

from outscale_cli import __version__
from outscale_cli.mock.server import MockConfig

from .helpers import Served, assert_error, expected_chat, piped, refused_url, run_cli, serve

KEY = "sk-e2e-7f3a9c1d5b2e8a4f"


@pytest.mark.parametrize("mode", ["--stream", "--no-stream"])
def test_the_key_is_sent_as_bearer_and_never_shown(mode: str) -> None:
    with serve(MockConfig(models=("small-2409",), api_key=KEY)) as srv:
        result = run_cli("chat", mode, "--debug", "Hello", env=srv.env(OUTSCALE_API_KEY=KEY))
    assert result.code == 0, result
    assert result.stdout == piped(expected_chat("Hello"))
    assert result.stderr  # --debug did say something
    assert KEY not in result.stdout
    assert KEY not in result.stderr
    assert srv.records[0].headers["authorization"] == f"Bearer {KEY}"


def test_the_key_is_never_shown_on_a_401_with_debug() -> None:
    with serve(MockConfig(models=("small-2409",), api_key="another-key")) as srv:
        result = run_cli("chat", "--debug", "Hello", env=srv.env(OUTSCALE_API_KEY=KEY))
    assert result.code == 6, result
    assert "401" in result.stderr
    assert KEY not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [["models"], ["ping"], ["fim", "def f():"]])
def test_the_key_is_never_shown_by_other_commands_with_debug(command: list[str]) -> None:
    with serve(MockConfig(models=("codestral-2405",), api_key=KEY)) as srv:
        result = run_cli(*command, "--debug", env=srv.env("codestral-2405", OUTSCALE_API_KEY=KEY))
    assert result.code == 0, result
    assert KEY not in result.stdout + result.stderr
    assert all(r.headers.get("authorization") == f"Bearer {KEY}" for r in srv.records)


def test_the_key_is_never_shown_when_the_connection_fails() -> None:
    with refused_url() as url:
        result = run_cli(
            "chat",
            "--debug",
            "--retries",
            "0",
            "Hello",
            env={"OUTSCALE_SERVER_URL": url, "OUTSCALE_MODEL_NAME": "x", "OUTSCALE_API_KEY": KEY},
        )
    assert result.code == 4, result
    assert KEY not in result.stdout + result.stderr


def test_without_a_key_no_authorization_header_is_sent(stand_in: Served) -> None:
    result = run_cli("chat", "Hello", env=stand_in.env())
    assert result.code == 0, result
    ping = run_cli("ping", env=stand_in.env())
    assert ping.code == 0, ping
    assert len(stand_in.records) == 2
    for request in stand_in.records:
        assert "authorization" not in request.headers, request


def test_without_a_key_a_server_that_wants_one_answers_401() -> None:
    with serve(MockConfig(models=("small-2409",), api_key=KEY)) as srv:
        result = run_cli("chat", "Hello", env=srv.env())
    line = assert_error(result, 6)
    assert "401 Unauthorized" in line
    assert "authorization" not in srv.records[0].headers


def test_user_agent_names_the_cli_and_its_version(stand_in: Served) -> None:
    assert run_cli("chat", "Hello", env=stand_in.env()).code == 0
    assert run_cli("models", env=stand_in.env()).code == 0
    assert run_cli("fim", "def f():", env=stand_in.env("codestral-2405")).code == 0
    assert len(stand_in.records) == 3
    for request in stand_in.records:
        assert request.headers.get("user-agent") == f"outscale-cli/{__version__}", request


def test_content_headers(stand_in: Served) -> None:
    assert run_cli("chat", "Hello", env=stand_in.env()).code == 0
    assert run_cli("chat", "--no-stream", "Hello", env=stand_in.env()).code == 0
    assert run_cli("models", env=stand_in.env()).code == 0
    streamed, whole, listing = stand_in.records
    assert streamed.headers["content-type"].startswith("application/json")
    assert streamed.headers["accept"] == "text/event-stream"
    assert whole.headers["content-type"].startswith("application/json")
    assert whole.headers["accept"] == "application/json"
    assert listing.headers["accept"] == "application/json"
