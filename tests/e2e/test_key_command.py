"""A profile's api_key_cmd, through the real process: it runs under the command's deadline
(--max-time, or --connect-timeout when there is none), is killed with what it started when it
hangs or prints without end, and when it fails its own stderr is shown, without the key."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from outscale_cli.mock.server import MockConfig

from .helpers import run_cli, serve

SECRET = "sk-key-command-SECRET-42"


@pytest.fixture
def config(tmp_path: Path):
    def write(command: str, server: str = "http://127.0.0.1:1") -> dict[str, str]:
        path = tmp_path / "config.toml"
        quoted = json.dumps(command)
        path.write_text(
            f'default_profile = "k"\n[profiles.k]\nserver_url = "{server}"\n'
            f'model = "small-2409"\napi_key_cmd = {quoted}\n'
        )
        path.chmod(0o600)
        return {"OUTSCALE_CONFIG": str(path)}

    return write


def test_a_hanging_command_is_stopped_at_max_time(config) -> None:
    started = time.monotonic()
    result = run_cli("chat", "--max-time", "2", "hi", env=config("sleep 600"))
    elapsed = time.monotonic() - started
    assert result.code == 3, result.stderr
    assert "api_key_cmd did not finish within" in result.stderr
    assert "--max-time 2" in result.stderr
    assert elapsed < 20  # a hang detector, far above the 2 s: not a speed test


def test_without_max_time_the_connect_timeout_bounds_it(config) -> None:
    result = run_cli("chat", "--connect-timeout", "1", "hi", env=config("sleep 600"))
    assert result.code == 3
    assert "did not finish within 1.0 s (--connect-timeout 1)" in result.stderr


def test_what_it_started_is_stopped_too(config, tmp_path: Path) -> None:
    marker = tmp_path / "still-running"
    command = f"sh -c 'sleep 3; touch {marker}' "
    result = run_cli("chat", "--connect-timeout", "1", "hi", env=config(command))
    assert result.code == 3
    time.sleep(3.5)
    assert not marker.exists(), "the command's own child outlived it"


def test_a_failing_command_shows_its_own_stderr_without_the_key(config) -> None:
    command = f"sh -c 'echo {SECRET}; echo gpg: decryption failed for {SECRET} >&2; exit 2'"
    result = run_cli("chat", "hi", env=config(command))
    assert result.code == 3
    first = result.stderr.splitlines()[0]
    assert "api_key_cmd exited with status 2: gpg: decryption failed for ********" in first
    assert SECRET not in result.stderr + result.stdout


def test_a_command_printing_without_end_is_refused(config) -> None:
    result = run_cli("chat", "--connect-timeout", "5", "hi", env=config("yes"))
    assert result.code == 3
    assert "printed more than 65,536 bytes" in result.stderr


def test_a_key_that_cannot_be_sent_is_refused_before_any_request(config) -> None:
    with serve(MockConfig()) as served:
        command = "printf 'sk-bad\\001key'"
        result = run_cli("chat", "hi", env=config(command, served.url))
        assert result.code == 3, result.stderr
        assert "api_key_cmd" in result.stderr and "HTTP header" in result.stderr
        assert served.posts() == []


def test_a_good_command_gives_the_key(config) -> None:
    with serve(MockConfig(api_key=SECRET)) as served:
        result = run_cli("chat", "hi", env=config(f"echo {SECRET}", served.url))
    assert result.code == 0, result.stderr
    assert served.posts()[0].headers["authorization"] == f"Bearer {SECRET}"
