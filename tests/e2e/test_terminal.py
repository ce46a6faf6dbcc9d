"""On a terminal (a real pseudo-terminal): Markdown and tables rendered, --plain not, thinking
dimmed. The exact rendering is rich's business; these check which mode the CLI chose."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time
from collections.abc import Mapping

import pytest

from outscale_cli.mock.server import MockConfig

from .helpers import RECORDED, Served, clean_env, cli_command, expected_chat, serve

TERMINAL_ENV = {"TERM": "xterm-256color", "COLUMNS": "100", "LINES": "40"}

pytestmark = pytest.mark.skipif(not hasattr(pty, "openpty"), reason="needs a pseudo-terminal")


def run_on_terminal(
    *args: str, env: Mapping[str, str], stdout_too: bool = True, timeout: float = 30.0
) -> tuple[int, bytes, bytes]:
    """(exit code, what the terminal showed, what went to the stdout pipe if not the terminal)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [*cli_command(), *args],
        stdin=subprocess.DEVNULL,
        stdout=slave if stdout_too else subprocess.PIPE,
        stderr=slave,
        env=clean_env({**env, **TERMINAL_ENV}),
    )
    os.close(slave)
    shown = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                piece = os.read(master, 65536)
            except OSError:  # EIO: the terminal's last writer has gone
                break
            if not piece:
                break
            shown += piece
        out, _ = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, shown, out or b""


def test_plain_on_a_terminal_prints_the_markdown_source(stand_in: Served) -> None:
    code, shown, _ = run_on_terminal("chat", "--plain", "Hello", env=stand_in.env())
    assert code == 0
    assert shown.replace(b"\r\n", b"\n").decode() == expected_chat("Hello")


def test_chat_on_a_terminal_renders_markdown(stand_in: Served) -> None:
    code, shown, _ = run_on_terminal("chat", "Hello", env=stand_in.env())
    assert code == 0
    text = shown.decode()
    assert "\x1b[" in text  # styled
    assert "Stand-in answer" in text
    assert "**Stand-in answer**" not in text  # the bold markers were rendered, not printed
    assert "hello from the stand-in" in text


def test_models_on_a_terminal_is_a_table(stand_in: Served) -> None:
    code, shown, _ = run_on_terminal("models", env=stand_in.env(model=None))
    assert code == 0
    text = shown.decode()
    for heading in ("id", "context", "capabilities", "aliases"):
        assert heading in text
    rows = [line for line in text.splitlines() if "codestral-2405" in line]
    assert len(rows) == 1
    assert "262,144" in rows[0] or "262144" in rows[0]
    assert "fim" in rows[0] and "chat" in rows[0]


def test_thinking_is_dimmed_on_a_terminal_and_stdout_stays_clean() -> None:
    fixture = RECORDED / "magistral-high-stream.sse"
    config = MockConfig(models=("magistral-small-latest",), replay=fixture)
    with serve(config) as srv:
        code, shown, out = run_on_terminal(
            "chat", "--show-thinking", "17 times 19?", env=srv.env(model=None), stdout_too=False
        )
    assert code == 0
    assert out == b"323\n"
    assert b"\x1b[2m" in shown  # dim
    assert b"17" in shown and b"323" in shown
