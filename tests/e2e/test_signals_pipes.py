"""Signals, pipes and standard input, through the real process on a real stand-in."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from outscale_cli.mock.server import MockConfig, MockServer

MODEL = "small-2409"


def argv(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "outscale-cli"), *args]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTSCALE_")}
    env["OUTSCALE_CONFIG"] = os.devnull + ".absent.toml"
    env.update(extra)
    return env


@pytest.fixture
def slow_server() -> Iterator[str]:
    with MockServer(MockConfig(models=(MODEL,), pace=0.05, length=400)) as server:
        yield server.url


@pytest.fixture
def long_server() -> Iterator[str]:
    with MockServer(MockConfig(models=(MODEL,), length=20000)) as server:
        yield server.url


def test_sigterm_while_streaming_keeps_output_and_exits_143(slow_server: str) -> None:
    process = subprocess.Popen(
        argv("chat", "--server-url", slow_server, "-m", MODEL, "Hello"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=clean_env(),
    )  # fmt: skip
    assert process.stdout is not None
    first = process.stdout.read(10)  # the answer has started
    process.send_signal(signal.SIGTERM)
    rest, err = process.communicate(timeout=15)
    assert process.returncode == 143
    out = (first + rest).decode()
    assert out.startswith("**Stand-in")
    assert out.endswith("\n")
    assert err.decode() == "outscale-cli: error: terminated\n"


def test_closed_stdout_exits_quietly(long_server: str) -> None:
    shell = f"{' '.join(argv('chat', '--server-url', long_server, '-m', MODEL, 'Hi'))} | head -1"
    result = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {shell}"],
        capture_output=True, text=True, env=clean_env(), stdin=subprocess.DEVNULL, timeout=30,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("**Stand-in answer**")
    assert result.stderr == ""


def test_silent_stdin_gets_a_hint_and_is_still_read(long_server: str) -> None:
    process = subprocess.Popen(
        argv("chat", "--server-url", long_server, "-m", MODEL, "--no-stream", "--max-tokens", "5"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.PIPE, env=clean_env(),
    )  # fmt: skip
    assert process.stdin is not None and process.stderr is not None
    hint = process.stderr.readline().decode()  # arrives after 5 s of silence
    assert "--no-stdin" in hint and "waiting for standard input" in hint
    out, err = process.communicate(b"A question that came late.", timeout=15)
    assert process.returncode == 0, err
    assert out.decode().startswith("**Stand-in")


def test_no_stdin_ignores_an_open_pipe(long_server: str) -> None:
    process = subprocess.Popen(
        argv("chat", "--server-url", long_server, "-m", MODEL, "--no-stdin", "--no-stream", "Hi"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.PIPE, env=clean_env(),
    )  # fmt: skip
    assert process.stdin is not None and process.stdout is not None
    assert process.stderr is not None
    # Read to the end with stdin left open (communicate() would close it first). Waiting on
    # stdin would print the hint after 5 s and never end: the timer then kills it.
    killer = threading.Timer(30, process.kill)
    killer.start()
    with process:  # (closes the pipes)
        try:
            out = process.stdout.read()
            err = process.stderr.read()
            process.wait()
        finally:
            killer.cancel()
    assert process.returncode == 0, err
    assert out.startswith(b"**Stand-in")
    assert b"waiting for standard input" not in err


def test_a_50_mb_file_is_refused_before_sending(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_bytes(b"a" * (50 * 1024 * 1024))
    with MockServer(MockConfig(models=(MODEL,))) as server:
        result = subprocess.run(
            argv("chat", "--server-url", server.url, "-m", MODEL, "-f", str(big)),
            capture_output=True, text=True, env=clean_env(), stdin=subprocess.DEVNULL, timeout=30,
        )  # fmt: skip
    assert result.returncode == 2
    assert "52,428,800 bytes" in result.stderr
    assert "--max-input-bytes" in result.stderr
    assert result.stdout == ""


def test_max_input_bytes_raises_the_limit(tmp_path: Path) -> None:
    text = tmp_path / "t.txt"
    text.write_text("b" * 2000)
    with MockServer(MockConfig(models=(MODEL,))) as server:
        base = argv("chat", "--server-url", server.url, "-m", MODEL, "-f", str(text), "--no-stream")
        refused = subprocess.run(
            [*base, "--max-input-bytes", "1000"], capture_output=True, text=True,
            env=clean_env(), stdin=subprocess.DEVNULL, timeout=30,
        )  # fmt: skip
        accepted = subprocess.run(
            [*base, "--max-input-bytes", "3000"], capture_output=True, text=True,
            env=clean_env(), stdin=subprocess.DEVNULL, timeout=30,
        )  # fmt: skip
    assert refused.returncode == 2
    assert accepted.returncode == 0, accepted.stderr
