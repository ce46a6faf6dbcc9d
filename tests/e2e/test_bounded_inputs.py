"""Every input goes through one bounded reader, through the real process: special files that
never end are refused with exit 2 (never read whole), and a prompt typed on a terminal ends
at the first Ctrl-D."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers import Served, clean_env, cli_command, run_cli

LIMIT = ("--max-input-bytes", "100000")


@pytest.fixture
def endless_fifo(tmp_path: Path) -> Iterator[Path]:
    """A FIFO that a writer fills for ever: what `<(yes)` gives a command."""
    fifo = tmp_path / "yes"
    os.mkfifo(fifo)
    stop = threading.Event()

    def write_forever() -> None:
        try:
            with open(fifo, "wb") as out:
                while not stop.is_set():
                    out.write(b"y\n" * 4096)
        except (BrokenPipeError, OSError):
            pass

    writer = threading.Thread(target=write_forever, daemon=True)
    writer.start()
    yield fifo
    stop.set()
    try:  # unblock a writer still waiting for a reader
        os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
    except OSError:
        pass
    writer.join(timeout=5)


@pytest.mark.parametrize(
    "args",
    [
        ["chat", "-f", "/dev/zero"],
        ["chat", "--json-schema", "/dev/zero", "q"],
        ["fim", "-f", "/dev/zero"],
        ["fim", "def f():", "--suffix-file", "/dev/zero"],
        ["fim", "--at", "/dev/zero:1"],
    ],
    ids=["chat -f", "chat --json-schema", "fim -f", "fim --suffix-file", "fim --at"],
)
def test_dev_zero_is_refused_with_exit_2(stand_in: Served, args: list[str]) -> None:
    result = run_cli(*args, *LIMIT, env=stand_in.env())
    assert result.code == 2, result.stderr
    assert "holds more than 100,000 bytes, over the 100,000-byte input limit" in result.stderr
    assert stand_in.posts() == []


def test_an_endless_fifo_is_refused_with_exit_2(stand_in: Served, endless_fifo: Path) -> None:
    result = run_cli("chat", "-f", str(endless_fifo), *LIMIT, env=stand_in.env())
    assert result.code == 2, result.stderr
    assert f"file {endless_fifo} holds more than 100,000 bytes" in result.stderr
    assert stand_in.posts() == []


@pytest.mark.parametrize("value", ["-1", "0", "2000000000"])
def test_max_input_bytes_has_a_range(stand_in: Served, value: str) -> None:
    result = run_cli("chat", "--max-input-bytes", value, "q", env=stand_in.env())
    assert result.code == 2
    assert "--max-input-bytes must be from 1 to" in result.stderr
    assert stand_in.posts() == []


@pytest.mark.skipif(not hasattr(pty, "openpty"), reason="needs a pseudo-terminal")
def test_a_prompt_typed_on_a_terminal_ends_at_the_first_ctrl_d(stand_in: Served) -> None:
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [*cli_command(), "chat", "-f", "-", "--no-stream"],
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(stand_in.env()),
    )
    os.close(slave)
    try:
        time.sleep(0.5)  # let it start reading
        os.write(master, b"What is 17 times 19?\n")
        os.write(master, b"\x04")  # one Ctrl-D, at the start of a line
        deadline = time.monotonic() + 10  # the answer takes well under a second
        while process.poll() is None and time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    os.read(master, 4096)  # the terminal echo
                except OSError:  # EIO: the process let go of the terminal
                    break
        try:
            out, err = process.communicate(timeout=max(0.5, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pytest.fail("still waiting for input after one Ctrl-D")
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert b"Stand-in answer" in out
    assert b"end it with Ctrl-D" in err
    sent = stand_in.posts()[-1].json()
    assert sent["messages"][-1]["content"] == "What is 17 times 19?"
