"""The garbage collector's pause at start-up (outscale_cli/startup.py), in real processes: the
entry point pauses it before Typer loads, and every command turns it back on, frozen, once its
work begins. A command that left it off would let a long batch or session grow without end."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .helpers import clean_env, serve, url_env

# The real entry point in a fresh interpreter: whether the collector was on when Typer began
# to load, and at exit, and whether what was loaded was frozen (startup.loaded).
PROBE = """
import atexit, gc, json, sys
report = sys.argv[1]
seen = {}

class Spy:
    def find_spec(self, name, path=None, target=None):
        if name == "typer" and "typer" not in seen:
            seen["typer"] = gc.isenabled()
        return None

sys.meta_path.insert(0, Spy())
atexit.register(lambda: open(report, "w").write(json.dumps(
    {**seen, "exit": gc.isenabled(), "frozen": gc.get_freeze_count()})))
sys.argv = ["outscale-cli", *sys.argv[2:]]
from outscale_cli.__main__ import main
main()
"""


def user_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A user's environment: no config file, the history in tmp_path."""
    return clean_env({"OUTSCALE_CONFIG": str(tmp_path / "absent.toml"),
                      "OUTSCALE_HISTORY": str(tmp_path / "history.sqlite"), **extra})  # fmt: skip


def probe(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    report = tmp_path / "gc.json"
    full = user_env(tmp_path, **(env or {}))
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(report), *args], capture_output=True, text=True,
        env=full, stdin=subprocess.DEVNULL, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return dict(json.loads(report.read_text()))


def test_paused_while_typer_loads_then_resumed_by_a_chat(tmp_path: Path) -> None:
    with serve() as served:
        seen = probe(tmp_path, "chat", "Hello", env=url_env(served.url))
    assert seen["typer"] is False  # paused first thing
    assert seen["exit"] is True and seen["frozen"] > 0  # on again, what was loaded frozen


@pytest.mark.parametrize(
    "args",
    [["models", "--mock"], ["ping", "--mock"], ["fim", "--mock", "def f(", "--suffix", "pass"],
     ["history", "path"], ["config", "path"]],
)  # fmt: skip
def test_every_kind_of_command_turns_the_collector_back_on(tmp_path: Path, args: list[str]) -> None:
    seen = probe(tmp_path, *args)
    assert seen["typer"] is False
    assert seen["exit"] is True and seen["frozen"] > 0


def test_a_batch_runs_with_the_collector_on(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"prompt": f"q{i}"}) + "\n" for i in range(20)))
    seen = probe(tmp_path, "batch", "run", str(source), "--mock", "-o", str(tmp_path / "o.jsonl"))
    assert seen["exit"] is True and seen["frozen"] > 0
    assert len((tmp_path / "o.jsonl").read_text().splitlines()) == 20


def test_the_interactive_session_turns_it_on_once_its_prompt_is_drawn(tmp_path: Path) -> None:
    pexpect = pytest.importorskip("pexpect")
    report = tmp_path / "gc.json"
    env = user_env(tmp_path, TERM="xterm", PROMPT_TOOLKIT_NO_CPR="1")
    with serve() as served:
        env.update(url_env(served.url))
        child = pexpect.spawn(sys.executable, ["-c", PROBE, str(report), "chat", "-i"], env=env,
                              encoding="utf-8", timeout=20, dimensions=(24, 80))  # fmt: skip
        try:
            child.expect_exact("\x1b[?2004h")  # the prompt is up
            child.sendeof()
            child.expect(pexpect.EOF)
        finally:
            child.close(force=True)
    seen = json.loads(report.read_text())
    assert seen["typer"] is False
    assert seen["exit"] is True and seen["frozen"] > 0


def test_the_stand_in_serves_with_the_collector_on(tmp_path: Path) -> None:
    report = tmp_path / "gc.json"
    env = user_env(tmp_path)
    with subprocess.Popen(
        [sys.executable, "-c", PROBE, str(report), "mock-server", "--port", "0", "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=env,
        text=True,
    ) as process:  # fmt: skip
        try:
            assert process.stdout is not None
            assert process.stdout.readline().startswith("http://127.0.0.1:")  # serving
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=20) == 130  # Ctrl-C, as documented
        finally:
            process.kill()
    seen = json.loads(report.read_text())
    assert seen["typer"] is False
    assert seen["exit"] is True and seen["frozen"] > 0
