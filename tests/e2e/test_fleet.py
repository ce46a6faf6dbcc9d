"""`ping --all` and `models --all` over a fleet with broken parts, through the real process: a
misconfigured profile fails alone (the others are checked), each failure is said once, --json
keeps stderr JSON only, and Ctrl-C keeps the results already in."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from outscale_cli.mock.server import MockConfig

from .helpers import RUN_TIMEOUT, Served, run_cli, serve, silent_server, start_cli


@pytest.fixture
def healthy() -> Iterator[Served]:
    with serve(MockConfig(models=("small-2409",))) as served:
        yield served


def write_fleet(path: Path, *profiles: tuple[str, str]) -> dict[str, str]:
    """Profiles (name, the rest of its table) in this order; returns the environment."""
    text = "".join(f"[profiles.{name}]\n{body}\n" for name, body in profiles)
    path.write_text(text)
    path.chmod(0o600)
    return {"OUTSCALE_CONFIG": str(path)}


def fleet_with_misconfigured(tmp_path: Path, healthy: Served) -> dict[str, str]:
    good = f'server_url = "{healthy.url}"\nmodel = "small-2409"'
    return write_fleet(
        tmp_path / "c.toml",
        ("nokey", good + '\napi_key_env = "OUTSCALE_TEST_UNSET_VARIABLE"'),
        ("good", good),
        ("badcmd", good + '\napi_key_cmd = "false"'),
    )


def test_ping_all_checks_every_profile_past_a_misconfigured_one(
    tmp_path: Path, healthy: Served
) -> None:
    done = run_cli("ping", "--all", env=fleet_with_misconfigured(tmp_path, healthy))
    assert done.code == 3, done.stderr  # the first failing profile, in file order, is config
    lines = done.stdout.splitlines()
    assert [line.split()[:2] for line in lines] == [["fail", "nokey"], ["ok", "good"],
                                                    ["fail", "badcmd"]]  # fmt: skip
    assert "OUTSCALE_TEST_UNSET_VARIABLE, which is not set" in lines[0]
    assert "api_key_cmd exited with status 1" in lines[2]
    assert lines[0].startswith("fail nokey (settings): ") and "None" not in done.stdout
    assert done.stderr == "outscale-cli: error: 2 of 3 profiles are not healthy: nokey, badcmd\n"


def test_ping_all_json_keeps_stderr_json_only(tmp_path: Path, healthy: Served) -> None:
    done = run_cli("ping", "--all", "--json", env=fleet_with_misconfigured(tmp_path, healthy))
    assert done.code == 3
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(r["profile"], r["ok"]) for r in records] == [
        ("nokey", False), ("good", True), ("badcmd", False),
    ]  # fmt: skip
    assert "not set" in records[0]["error"] and "status 1" in records[2]["error"]
    errors = [json.loads(line) for line in done.stderr.splitlines()]  # every line is JSON
    assert len(errors) == 1
    assert errors[0]["error"]["type"] == "config" and errors[0]["error"]["exit_code"] == 3


def test_models_all_lists_every_profile_past_a_misconfigured_one(
    tmp_path: Path, healthy: Served
) -> None:
    env = fleet_with_misconfigured(tmp_path, healthy)
    done = run_cli("models", "--all", env=env)
    assert done.code == 3
    assert done.stdout == "good\tsmall-2409\n"
    errors = done.stderr.splitlines()
    assert errors[0].startswith("outscale-cli: error: profile nokey: ")
    assert errors[1].startswith("outscale-cli: error: profile badcmd: ")
    assert errors[2] == "outscale-cli: error: 2 of 3 profiles failed: nokey, badcmd"
    as_json = run_cli("models", "--all", "--json", env=env)
    assert as_json.code == 3
    records = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [r["profile"] for r in records] == ["nokey", "good", "badcmd"]
    assert "error" in records[0] and records[1]["models"]["data"][0]["id"] == "small-2409"
    assert [json.loads(line)["error"]["exit_code"] for line in as_json.stderr.splitlines()] == [3]


def test_ctrl_c_during_ping_all_keeps_the_results_already_in(
    tmp_path: Path, healthy: Served
) -> None:
    with silent_server() as silent:
        env = write_fleet(
            tmp_path / "c.toml",
            ("fast", f'server_url = "{healthy.url}"\nmodel = "small-2409"'),
            ("slow", f'server_url = "{silent.url}"\nmodel = "small-2409"\ntimeout = 600'),
        )
        process = start_cli("ping", "--all", env=env)
        try:
            assert silent.connected.wait(RUN_TIMEOUT), "the slow profile was never asked"
            # the fast profile answers from this process within milliseconds of being asked
            healthy_asked = _wait_for(lambda: bool(healthy.records), RUN_TIMEOUT)
            assert healthy_asked
            _wait_for(lambda: False, 3.0)  # give its answer time to land (a loaded machine)
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=RUN_TIMEOUT)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert process.returncode == 130, err
    lines = out.decode().splitlines()
    assert lines[0].startswith("ok fast small-2409 at "), lines
    assert lines[1].startswith("fail slow ") and "interrupted before it answered" in lines[1]
    assert err.decode() == "outscale-cli: error: interrupted\n"


def _wait_for(condition, seconds: float) -> bool:  # type: ignore[no-untyped-def]
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_on_a_terminal_a_failure_shows_once_in_the_table(tmp_path: Path, healthy: Served) -> None:
    import os
    import pty
    import subprocess

    from .helpers import clean_env, cli_command

    env = fleet_with_misconfigured(tmp_path, healthy)
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [*cli_command(), "ping", "--all"], stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
        env=clean_env({**env, "TERM": "xterm-256color", "COLUMNS": "200"}),
    )  # fmt: skip
    os.close(slave)
    shown = b""
    while True:
        try:
            piece = os.read(master, 65536)
        except OSError:  # EIO: the process let go of the terminal
            break
        if not piece:
            break
        shown += piece
    os.close(master)
    assert process.wait(timeout=RUN_TIMEOUT) == 3
    text = shown.decode()
    assert text.count("OUTSCALE_TEST_UNSET_VARIABLE") == 1, text
    assert text.count("exited with status 1") == 1, text
    assert "2 of 3 profiles are not healthy: nokey, badcmd" in text
