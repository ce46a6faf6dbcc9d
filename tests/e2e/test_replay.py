"""Every recorded real response, replayed over loopback HTTP, prints exactly `323`."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from outscale_cli.mock.server import MockConfig

from .helpers import RECORDED, read_until, run_cli, serve, start_cli

MODEL = "magistral-small-latest"
FIXTURES = sorted([*RECORDED.glob("*.sse"), *RECORDED.glob("*.json")])
FIXTURES = [p for p in FIXTURES if p.name != "metadata.json"]
REASONING = [p for p in FIXTURES if p.name.startswith("magistral-high")]


def test_the_recorded_fixtures_are_all_there() -> None:
    names = {p.name for p in FIXTURES}
    assert names == {
        "magistral-stream.sse",
        "magistral-completion.json",
        "magistral-none-completion.json",
        "magistral-high-stream.sse",
        "magistral-high-completion.json",
    }


def _thinking_of(content: Any) -> str:
    if not isinstance(content, list):
        return ""
    out = []
    for part in content:
        if isinstance(part, dict) and part.get("type") == "thinking":
            out.extend(p.get("text", "") for p in part.get("thinking") or [])
    return "".join(out)


def recorded_thinking(path: Path) -> str:
    """The reasoning a recorded answer carries, read straight from the file."""
    if path.suffix == ".json":
        return _thinking_of(json.loads(path.read_bytes())["choices"][0]["message"]["content"])
    parts = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("data:") and line[5:].strip() != "[DONE]":
            choices = json.loads(line[5:])["choices"]
            if choices:
                parts.append(_thinking_of(choices[0]["delta"].get("content")))
    return "".join(parts)


@pytest.mark.parametrize("mode", ["--stream", "--no-stream"])
@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.name)
def test_replay_prints_exactly_323(fixture: Path, mode: str) -> None:
    with serve(MockConfig(models=(MODEL,), replay=fixture)) as srv:
        result = run_cli(
            "chat",
            mode,
            "-m",
            MODEL,
            "What is 17 times 19? Answer briefly.",
            env=srv.env(model=None),
        )
    assert result.code == 0, result
    assert result.stdout == "323\n"
    assert result.stderr == ""
    assert len(srv.posts()) == 1


@pytest.mark.parametrize("mode", ["--stream", "--no-stream"])
@pytest.mark.parametrize("fixture", REASONING, ids=lambda p: p.name)
def test_replay_show_thinking_puts_reasoning_on_stderr(fixture: Path, mode: str) -> None:
    thinking = recorded_thinking(fixture)
    assert "17" in thinking and "323" in thinking  # the fixture does carry reasoning
    with serve(MockConfig(models=(MODEL,), replay=fixture)) as srv:
        result = run_cli(
            "chat", mode, "--show-thinking", "-m", MODEL, "17 times 19?", env=srv.env(model=None)
        )
    assert result.code == 0, result
    assert result.stdout == "323\n"
    assert result.stderr.rstrip("\n") == thinking.rstrip("\n")
    assert "\x1b" not in result.stderr


@pytest.mark.parametrize("fixture", REASONING, ids=lambda p: p.name)
def test_replay_without_show_thinking_hides_reasoning(fixture: Path) -> None:
    with serve(MockConfig(models=(MODEL,), replay=fixture)) as srv:
        result = run_cli("chat", "-m", MODEL, "17 times 19?", env=srv.env(model=None))
    assert result.code == 0, result
    assert result.stdout == "323\n"
    assert result.stderr == ""


def test_replay_through_a_separate_mock_server_process() -> None:
    """`outscale-cli mock-server --port 0 --replay FILE` in its own process, then `chat`."""
    fixture = RECORDED / "magistral-high-stream.sse"
    server = start_cli(
        "mock-server", "--port", "0", "-q", "--pace", "0", "-m", MODEL, "--replay", str(fixture)
    )
    with server:
        try:
            assert server.stdout is not None
            first = read_until(server.stdout.fileno(), lambda data: b"\n" in data)
            url = first.split(b"\n", 1)[0].decode()
            assert url.startswith("http://127.0.0.1:")
            result = run_cli("chat", "17 times 19?", env={"OUTSCALE_SERVER_URL": url})
        finally:
            server.send_signal(signal.SIGINT)  # Ctrl-C is how mock-server is meant to end
            try:
                _, err = server.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.communicate()
                raise
    # One model served: chat picks it without -m.
    assert result.code == 0, result
    assert result.stdout == "323\n"
    assert result.stderr == ""
    assert b"Traceback" not in err


@pytest.mark.parametrize(
    "fixture", [p for p in FIXTURES if p.suffix == ".json"], ids=lambda p: p.name
)
def test_json_of_a_whole_answer_is_the_response_as_received(fixture: Path) -> None:
    with serve(MockConfig(models=(MODEL,), replay=fixture)) as srv:
        result = run_cli("chat", "--no-stream", "--json", "17 times 19?", env=srv.env(MODEL))
    assert result.code == 0, result
    assert json.loads(result.stdout) == json.loads(fixture.read_bytes())


@pytest.mark.parametrize(
    "fixture", [p for p in FIXTURES if p.suffix == ".sse"], ids=lambda p: p.name
)
def test_json_of_a_stream_is_assembled_from_its_chunks(fixture: Path) -> None:
    chunks = [
        json.loads(line[5:])
        for line in fixture.read_text(encoding="utf-8").splitlines()
        if line.startswith("data:") and line[5:].strip() != "[DONE]"
    ]
    with serve(MockConfig(models=(MODEL,), replay=fixture)) as srv:
        result = run_cli("chat", "--json", "17 times 19?", env=srv.env(MODEL))
    assert result.code == 0, result
    response = json.loads(result.stdout)
    assert response["id"] == chunks[0]["id"]
    assert response["model"] == MODEL
    assert response["usage"] == chunks[-1]["usage"]
    (choice,) = response["choices"]
    assert choice["finish_reason"] == "stop"
    content = choice["message"]["content"]
    if isinstance(content, list):  # text and thinking chunks, in the API's shape
        text = "".join(c["text"] for c in content if c.get("type") == "text")
        assert _thinking_of(content) == recorded_thinking(fixture)
    else:
        text = content
        assert recorded_thinking(fixture) == ""
    assert text == "323"


def test_usage_speed_of_a_reasoning_answer_counts_from_its_first_thinking_token() -> None:
    """277 completion tokens, mostly thinking, replayed at 0.02 s an event (80 events, about
    1.6 s): the speed is completion tokens over the time since the first token of any kind,
    about 175 tokens/s, not over the instant after the first visible one (tens of thousands)."""
    fixture = RECORDED / "magistral-high-stream.sse"
    with serve(MockConfig(models=(MODEL,), replay=fixture, pace=0.02)) as srv:
        result = run_cli("chat", "--server-url", srv.url, "-m", MODEL, "--usage", "q")
    assert result.code == 0, result.stderr
    assert result.stdout == "323\n"
    line = next(x for x in result.stderr.splitlines() if x.startswith("usage:"))
    assert "first token" in line and "(thinking)" in line, line
    speed = float(line.rsplit(", ", 1)[1].split()[0])
    assert 20 < speed < 277 / 1.0, line  # the replay takes longer than 1 s whatever the load
