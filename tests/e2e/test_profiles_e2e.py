"""Profiles end to end: the installed `outscale-cli` process, a clean environment, a config file
in tmp_path, and stand-in deployments on loopback started in this process.

    the issue's walk-through      config add x3, chat (default), fim -m (routed), chat -p
    a whole fleet                 ping --all (table lines, --json, exit codes, --wait), models --all
    an interrupted edit           SIGKILL between the temp file and the rename: the old file stays
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from outscale_cli.config import load_config
from outscale_cli.mock.answers import fim_text
from outscale_cli.mock.server import MockConfig, MockServer, Record

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SCRIPT = Path(sys.executable).parent / "outscale-cli"
TIMEOUT = 30  # seconds: a hung process fails its test instead of hanging the suite
REFUSED = "http://127.0.0.1:1"  # nothing listens on port 1
POLL = 0.02  # seconds: how often a stand-in looks for its shutdown


@dataclass
class Stand:
    url: str
    records: list[Record] = field(default_factory=list)

    @property
    def seen(self) -> list[tuple[str, str]]:  # (method, path) received
        return [(r.method, r.path) for r in self.records]

    def posts(self, path: str) -> int:
        return sum(1 for method, p in self.seen if method == "POST" and p == path)


@contextmanager
def stand_in(**knobs: Any) -> Iterator[Stand]:
    """The stand-in deployment on a loopback port, recording the requests it receives."""
    with MockServer(MockConfig(**knobs)) as server:
        yield Stand(server.url, server.records)


@dataclass
class Home:
    """A user's clean environment: no OUTSCALE_*, config dir and file in tmp_path."""

    root: Path
    config: Path
    env: dict[str, str]

    def run(self, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(SCRIPT), *args], env={**self.env, **extra_env}, stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=TIMEOUT, check=False,
        )  # fmt: skip

    def write(self, text: str) -> Path:
        self.config.write_text(textwrap.dedent(text), encoding="utf-8")
        self.config.chmod(0o600)
        return self.config


@pytest.fixture
def home(tmp_path: Path) -> Home:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OUTSCALE_", "_OUTSCALE"))}
    env.pop("MISTRAL_API_KEY", None)
    config = tmp_path / "config.toml"
    env.update(XDG_CONFIG_HOME=str(tmp_path / "xdg"), OUTSCALE_CONFIG=str(config), NO_COLOR="1")
    return Home(tmp_path, config, env)


def ok(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr)
    return done


# -- 6. the walk-through ------------------------------------------------------------------
def test_walk_through_three_profiles(home: Home) -> None:
    with (
        stand_in(models=("small-2409",)) as small,
        stand_in(models=("codestral-2405",)) as codestral,
    ):
        add = ("config", "add")
        ok(home.run(*add, "small", "--server-url", small.url, "--model", "small-2409", "--default"))
        ok(home.run(*add, "codestral", "--server-url", codestral.url, "--model", "codestral-2405"))
        ok(home.run(
            "config", "add", "plateforme", "--server-url", "https://api.mistral.ai",
            "--model", "mistral-small-latest", "--api-key-env", "MISTRAL_API_KEY",
        ))  # fmt: skip
        assert stat.S_IMODE(home.config.stat().st_mode) == 0o600
        data = tomllib.loads(home.config.read_text(encoding="utf-8"))
        assert data["default_profile"] == "small"
        assert list(data["profiles"]) == ["small", "codestral", "plateforme"]
        assert data["profiles"]["plateforme"]["api_key_env"] == "MISTRAL_API_KEY"

        listed = ok(home.run("config", "list")).stdout.splitlines()
        assert [line.split()[0] for line in listed] == ["*", "codestral", "plateforme"]
        assert listed[0].split()[1] == "small"

        # the default profile
        chat = ok(home.run("chat", "Bonjour"))
        assert "You asked (7 characters): *Bonjour*" in chat.stdout
        assert "- model: `small-2409`" in chat.stdout
        assert small.posts("/v1/chat/completions") == 1
        assert codestral.seen == []

        # routed to the codestral profile by its model
        fim = ok(home.run("fim", "-m", "codestral-2405", "def add(a, b):"))
        assert fim.stdout == fim_text({"prompt": "def add(a, b):"})
        assert codestral.posts("/v1/fim/completions") == 1
        assert small.posts("/v1/fim/completions") == 0

        # options follow the command name
        again = ok(home.run("chat", "-p", "small", "Bonjour"))
        assert again.stdout == chat.stdout
        assert small.posts("/v1/chat/completions") == 2
        assert codestral.posts("/v1/chat/completions") == 0

        # the plateforme profile's key is named, never read here, and nothing is asked of it
        shown = json.loads(ok(home.run("config", "show", "-p", "plateforme", "--json")).stdout)
        assert shown["profile"] == "plateforme"
        assert shown["settings"]["server_url"]["value"] == "https://api.mistral.ai"
        assert "MISTRAL_API_KEY" in shown["settings"]["api_key"]["source"]


def test_config_file_defaults_to_the_xdg_config_dir(home: Home) -> None:
    env = {k: v for k, v in home.env.items() if k != "OUTSCALE_CONFIG"}
    home.env = env
    expected = home.root / "xdg" / "outscale-cli" / "config.toml"
    assert ok(home.run("config", "path")).stdout == f"{expected}\n"
    assert not expected.exists()
    with stand_in(models=("small-2409",)) as small:
        ok(home.run("config", "add", "small", "--server-url", small.url, "-m", "small-2409"))
        assert stat.S_IMODE(expected.stat().st_mode) == 0o600
        assert tomllib.loads(expected.read_text())["default_profile"] == "small"  # the first one
        ok(home.run("chat", "Bonjour"))
        assert small.posts("/v1/chat/completions") == 1


def test_no_config_file_and_the_environment_alone(home: Home) -> None:
    with stand_in(models=("small-2409",)) as small:
        done = ok(home.run("chat", "Bonjour", OUTSCALE_SERVER_URL=small.url))
        assert "- model: `small-2409`" in done.stdout  # the one model served, as before
    assert not home.config.exists()
    assert not (home.root / "xdg").exists()


# -- 7. a whole fleet -----------------------------------------------------------------------------
def fleet(home: Home, *profiles: tuple[str, str, str]) -> None:
    """Write profiles (name, server, model) in this order."""
    home.write(
        "".join(
            f'[profiles.{name}]\nserver_url = "{url}"\nmodel = "{model}"\n\n'
            for name, url, model in profiles
        )
    )


def test_ping_all_one_healthy_one_503(home: Home) -> None:
    with (
        stand_in(models=("small-2409",)) as healthy,
        stand_in(models=("codestral-2405",), fail_status=503, no_models=True) as broken,
    ):
        # file order is neither alphabetical nor the order in which checks finish
        fleet(home, ("zulu", healthy.url, "small-2409"), ("alpha", broken.url, "codestral-2405"))
        done = home.run("ping", "--all")
        assert done.returncode == 6, done.stderr
        lines = done.stdout.splitlines()
        assert len(lines) == 2, done.stdout
        assert lines[0].startswith(f"ok zulu small-2409 at {healthy.url} (models, ")
        assert lines[1].startswith(f"fail alpha codestral-2405 at {broken.url}")
        assert "503 Service Unavailable" in lines[1]
        # each failure is said once, in its line; stderr names the failing profiles
        assert done.stderr == "outscale-cli: error: 1 of 2 profiles are not healthy: alpha\n"
        # the failing deployment was asked the way ping asks Outscale: no models, then a chat
        assert broken.posts("/v1/chat/completions") == 1  # ping does not retry
        assert ("GET", "/v1/models") in broken.seen


def test_ping_all_json_is_one_object_per_profile(home: Home) -> None:
    with (
        stand_in(models=("small-2409",)) as healthy,
        stand_in(models=("codestral-2405",), fail_status=503, no_models=True) as broken,
    ):
        fleet(home, ("zulu", healthy.url, "small-2409"), ("alpha", broken.url, "codestral-2405"))
        done = home.run("ping", "--all", "--json")
        assert done.returncode == 6, done.stderr
        records = [json.loads(line) for line in done.stdout.splitlines()]
        assert [r["profile"] for r in records] == ["zulu", "alpha"]
        # the fields of `ping --json` for that profile, plus `profile`
        for record in records:
            single = home.run("ping", "--json", "-p", record["profile"])
            assert single.returncode == (0 if record["ok"] else 6)
            alone = json.loads(single.stdout)
            assert "profile" not in alone
            assert set(record) == set(alone) | {"profile"}
        zulu, alpha = records
        assert zulu["ok"] is True and zulu["check"] == "models"
        assert zulu["server_url"] == healthy.url and zulu["model"] == "small-2409"
        assert isinstance(zulu["latency_ms"], int)
        assert alpha["ok"] is False and alpha["check"] == "chat"
        assert alpha["server_url"] == broken.url and "503" in alpha["error"]


def test_ping_all_healthy_is_exit_0(home: Home) -> None:
    with (
        stand_in(models=("small-2409",)) as one,
        stand_in(models=("codestral-2405",), no_models=True) as two,  # the chat fallback
    ):
        fleet(home, ("small", one.url, "small-2409"), ("codestral", two.url, "codestral-2405"))
        # OUTSCALE_SERVER_URL and OUTSCALE_MODEL_NAME would make every profile the same
        done = home.run(
            "ping", "--all", OUTSCALE_SERVER_URL=REFUSED, OUTSCALE_MODEL_NAME="not-served"
        )
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert [line.split()[:2] for line in lines] == [["ok", "small"], ["ok", "codestral"]]
        assert "(chat, " in lines[1]
        assert done.stderr == ""


@pytest.mark.parametrize("broken_first", [True, False])
def test_ping_all_exits_with_the_first_failure_in_file_order(home: Home, broken_first) -> None:
    with (
        stand_in(models=("small-2409",)) as healthy,
        stand_in(models=("small-2409",), fail_status=503, no_models=True) as broken,  # exit 6
        stand_in(models=("other-model",)) as wrong,  # the model is not served: exit 8
    ):
        failing = [("broken", broken.url, "small-2409"), ("wrong", wrong.url, "small-2409")]
        if not broken_first:
            failing.reverse()
        fleet(home, ("healthy", healthy.url, "small-2409"), *failing)
        done = home.run("ping", "--all")
        assert done.returncode == (6 if broken_first else 8), done.stderr
        assert [line.split()[1] for line in done.stdout.splitlines()] == [
            "healthy",
            *(name for name, _, _ in failing),
        ]
        names = ", ".join(name for name, _, _ in failing)
        assert done.stderr == f"outscale-cli: error: 2 of 3 profiles are not healthy: {names}\n"
        everything = done.stdout + done.stderr
        # (the status with its words: a port in a URL may hold "503" too, as CI met once)
        assert everything.count("503 Service Unavailable") == 1, everything  # said once
        assert everything.count("is not served") == 1


def test_ping_all_wait_until_healthy(home: Home) -> None:
    with (
        stand_in(models=("small-2409",)) as healthy,
        stand_in(models=("codestral-2405",), fail_status=503, fail_times=1, no_models=True) as slow,
    ):
        fleet(home, ("small", healthy.url, "small-2409"), ("codestral", slow.url, "codestral-2405"))
        done = home.run("ping", "--all", "--wait", "3")
        assert done.returncode == 0, done.stderr
        assert [line.split()[:2] for line in done.stdout.splitlines()] == [
            ["ok", "small"], ["ok", "codestral"],
        ]  # fmt: skip
        assert slow.posts("/v1/chat/completions") == 2  # the failure, then the success


def test_ping_all_without_wait_fails_on_the_first_503(home: Home) -> None:
    with stand_in(models=("codestral-2405",), fail_status=503, fail_times=1, no_models=True) as s:
        fleet(home, ("codestral", s.url, "codestral-2405"))
        done = home.run("ping", "--all")
        assert done.returncode == 6, done.stderr
        assert s.posts("/v1/chat/completions") == 1


def test_ping_all_wait_gives_up_at_the_deadline(home: Home) -> None:
    with stand_in(models=("codestral-2405",), fail_status=503, no_models=True) as s:
        fleet(home, ("codestral", s.url, "codestral-2405"))
        # 3 s, not 1: on a loaded machine the first check alone (GET /v1/models, then the chat
        # POST) once took longer than 1 s, leaving no time for a second try
        done = home.run("ping", "--all", "--wait", "3")
        assert done.returncode == 6, done.stderr
        assert s.posts("/v1/chat/completions") >= 2  # it tried again before giving up


def test_ping_wait_of_one_profile(home: Home) -> None:
    with stand_in(models=("small-2409",), fail_status=503, fail_times=1, no_models=True) as s:
        fleet(home, ("small", s.url, "small-2409"))
        done = home.run("ping", "-p", "small", "--wait", "3")
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"ok small-2409 at {s.url} (chat, ")


def test_models_all_lists_profile_tab_id(home: Home) -> None:
    with (
        stand_in(models=("small-2409",)) as one,
        stand_in(models=("codestral-2405", "ministral-8b-2410")) as two,
    ):
        fleet(home, ("zulu", one.url, "small-2409"), ("alpha", two.url, "codestral-2405"))
        done = home.run("models", "--all", OUTSCALE_SERVER_URL=REFUSED)
        assert done.returncode == 0, done.stderr
        assert done.stdout == (
            "zulu\tsmall-2409\nalpha\tcodestral-2405\nalpha\tministral-8b-2410\n"
        )


def test_ping_all_without_profiles_is_a_config_error(home: Home) -> None:
    done = home.run("ping", "--all")
    assert done.returncode == 3
    assert str(home.config) in done.stderr


# -- 8. an interrupted edit -----------------------------------------------------------------------
STUCK_BEFORE_RENAME = """
import sys, time
from pathlib import Path

import outscale_cli.config_edit as config_edit

def stuck(src, dst):  # the temp file is written and synced: never rename it
    while True:
        time.sleep(60)

config_edit.os.replace = stuck
config_edit.add_profile(
    Path(sys.argv[1]), "mini",
    {"server_url": "http://127.0.0.1:9", "model": "ministral-8b-2410"}, True,
)
"""

ORIGINAL = """\
# My deployments: do not lose them.
default_profile = "small"

[profiles.small]
server_url = "http://127.0.0.1:7"   # VM 12
model = "small-2409"

[profiles.codestral]
server_url = "http://127.0.0.1:8"
model = "codestral-2405"
"""


def test_an_edit_killed_before_the_rename_leaves_the_old_file_whole(home: Home) -> None:
    path = home.write(ORIGINAL)
    before = path.read_bytes()
    process = subprocess.Popen(
        [sys.executable, "-c", STUCK_BEFORE_RENAME, str(path)],
        env=home.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        temp = None
        deadline = time.monotonic() + TIMEOUT
        while temp is None:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "the temp file never appeared complete"
            for candidate in path.parent.glob(f".{path.name}.*.tmp"):
                try:
                    written = tomllib.loads(candidate.read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    continue  # not there yet, or half written
                if "mini" in written.get("profiles", {}):
                    temp = candidate
            time.sleep(0.01)
        assert stat.S_IMODE(temp.stat().st_mode) == 0o600
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=TIMEOUT)
        if process.stderr:
            process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    assert path.read_bytes() == before
    config = load_config(path)
    assert config.default_profile == "small"
    assert list(config.profiles) == ["small", "codestral"]
    # and the CLI still reads it
    listed = ok(home.run("config", "list")).stdout
    assert "mini" not in listed and "small" in listed and "codestral" in listed


def test_an_edit_that_completes_replaces_the_file(home: Home) -> None:
    # The same edit, not interrupted, does change the file (the test above can fail).
    path = home.write(ORIGINAL)
    script = STUCK_BEFORE_RENAME.replace("config_edit.os.replace = stuck\n", "")
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)], env=home.env, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    config = load_config(path)
    assert config.default_profile == "mini"
    assert list(config.profiles) == ["small", "codestral", "mini"]
    assert path.read_text(encoding="utf-8").startswith("# My deployments: do not lose them.\n")
    assert list(path.parent.glob(f".{path.name}.*.tmp")) == []
