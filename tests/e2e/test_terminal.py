"""On a terminal (a real pseudo-terminal): Markdown and tables rendered, --plain not, thinking
dimmed. The exact rendering is rich's business; these check which mode the CLI chose."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import pytest

from outscale_cli.mock.server import MockConfig

from ..unit.test_render import Screen
from .helpers import RECORDED, Served, clean_env, cli_command, expected_chat, serve

TERMINAL_ENV = {"TERM": "xterm-256color", "COLUMNS": "100", "LINES": "40"}

pytestmark = pytest.mark.skipif(not hasattr(pty, "openpty"), reason="needs a pseudo-terminal")


def run_on_terminal(
    *args: str,
    env: Mapping[str, str],
    stdout_too: bool = True,
    timeout: float = 30.0,
    terminal: Mapping[str, str] = TERMINAL_ENV,
    interrupt_after: bytes | None = None,
) -> tuple[int, bytes, bytes]:
    """(exit code, what the terminal showed, what went to the stdout pipe if not the terminal);
    with `interrupt_after`, Ctrl-C (SIGINT) once the terminal has shown those bytes."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [*cli_command(), *args],
        stdin=subprocess.DEVNULL,
        stdout=slave if stdout_too else subprocess.PIPE,
        stderr=slave,
        env=clean_env({**env, **terminal}),
    )
    os.close(slave)
    shown = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if interrupt_after is not None and interrupt_after in shown:
                proc.send_signal(signal.SIGINT)
                interrupt_after = None
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


# -- an answer taller than the terminal ------------------------------------------------------
SMALL_TERMINAL = {"TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24"}
WORDS = [f"w{i}" for i in range(1500)]
CODE = [f"line_{i} = {i}" for i in range(80)]
TALL = (
    f"Intro.\n\n{' '.join(WORDS)}\n\n```python\n"
    + "".join(f"{line}\n" for line in CODE)
    + "```\n\nThe end.\n"
)


def replay_file(folder: Path, text: str) -> Path:
    """A recorded stream of `text`, a word-sized piece an event."""
    path = folder / "tall.sse"
    pieces = re.findall(r"\s*\S+|\s+", text)
    with path.open("w") as out:
        for number, piece in enumerate(pieces, start=1):
            finish = "stop" if number == len(pieces) else None
            choice = {"index": 0, "delta": {"content": piece}, "finish_reason": finish}
            chunk = {"id": "tall", "object": "chat.completion.chunk", "choices": [choice]}
            out.write(f"data: {json.dumps(chunk)}\n\n")
        out.write("data: [DONE]\n\n")
    return path


def screen_of(shown: bytes) -> Screen:
    screen = Screen(80, 24)
    screen.feed(shown.decode())
    return screen


def test_an_answer_taller_than_the_terminal_is_in_the_scrollback_once(tmp_path: Path) -> None:
    config = MockConfig(models=("small-2409",), replay=replay_file(tmp_path, TALL), pace=0.0005)
    with serve(config) as srv:
        code, shown, _ = run_on_terminal("chat", "Hi", env=srv.env(), terminal=SMALL_TERMINAL)
    assert code == 0
    screen = screen_of(shown)
    assert screen.lost_ups == 0  # the live display always fitted on the screen
    lines = [line.strip() for line in screen.lines()]
    assert "..." not in lines
    code_lines = [line for line in lines if line.startswith("line_")]
    assert code_lines == CODE  # each once, in order
    words = " ".join(line for line in lines if not line.startswith("line_")).split()
    assert words == ["Intro.", *WORDS, "The", "end."]


def test_ctrl_c_during_a_tall_code_block_leaves_each_line_once(tmp_path: Path) -> None:
    text = "Intro.\n\n```python\n" + "".join(f"{line}\n" for line in CODE) + "```\n"
    # ~7 s for the whole block, 1.8 s to line_20: a loaded machine that draws late still gets
    # the Ctrl-C before the last line has come (at 0.005 s a piece, all of it had, once)
    config = MockConfig(models=("small-2409",), replay=replay_file(tmp_path, text), pace=0.03)
    with serve(config) as srv:
        code, shown, _ = run_on_terminal(
            "chat", "Hi", env=srv.env(), terminal=SMALL_TERMINAL, interrupt_after=b"line_20"
        )
    assert code == 130
    screen = screen_of(shown)
    assert screen.lost_ups == 0
    lines = [line.strip() for line in screen.lines()]
    code_lines = [line for line in lines if line.startswith("line_")]
    assert 20 < len(code_lines) < len(CODE)
    *whole, last = code_lines  # what came, each line once (the last one maybe in part)
    assert whole == CODE[: len(whole)]
    assert CODE[len(whole)].startswith(last)
