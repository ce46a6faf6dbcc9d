"""What the start-up path imports (behaviour, not timing): `--version`, `--help`, completion and
a piped `chat` must not load what they do not use. pydantic (the settings) is loaded only by a
command that runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from outscale_cli.mock.server import MockConfig, MockServer

# Run the real entry point in a fresh interpreter and report the modules loaded at exit.
PROBE = """
import atexit, json, sys
report = sys.argv[1]
atexit.register(lambda: open(report, "w").write(json.dumps(sorted(sys.modules))))
sys.argv = ["outscale-cli", *sys.argv[2:]]
from outscale_cli.__main__ import main
main()
"""

NEVER_IN_A_PIPED_CHAT = (
    "rich",  # rendering on a terminal only
    "prompt_toolkit",  # chat -i only
    "outscale_cli.mock",  # the stand-in server: only for --mock and mock-server
    "http.server",
    "tomllib",  # TOML parsing: only when a config file exists
    "tomlkit",
)
NEVER_AT_START = (
    *NEVER_IN_A_PIPED_CHAT,
    "sqlite3",  # the history: only when a command records or reads it
    "prompt_toolkit",  # chat -i only
    "pydantic",  # the settings: only when a command runs
    "pydantic_settings",
    "pydantic_core",
    "concurrent.futures",  # the --all machinery (and asyncio, which pydantic-settings loads)
    "asyncio",
)


def modules_loaded(tmp_path: Path, *args: str, **extra_env: str) -> set[str]:
    out = tmp_path / "modules.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTSCALE_")}
    env["OUTSCALE_CONFIG"] = str(tmp_path / "absent.toml")
    env.update(extra_env)
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(out), *args],
        capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return set(json.loads(out.read_text()))


def offenders(loaded: set[str], banned: tuple[str, ...]) -> list[str]:
    return sorted(m for m in loaded if any(m == b or m.startswith(b + ".") for b in banned))


def test_version_loads_neither_typer_nor_httpx(tmp_path: Path) -> None:
    loaded = modules_loaded(tmp_path, "--version")
    assert offenders(loaded, ("typer", "httpx", "rich", *NEVER_AT_START)) == []
    # nor the console module (dataclasses, inspect: 40 ms), which only a failure needs
    assert offenders(loaded, ("outscale_cli.console", "dataclasses")) == []


@pytest.mark.parametrize(
    "args",
    [["--help"], ["chat", "--help"], ["fim", "--help"], ["ping", "--help"], ["config", "--help"],
     ["completion", "bash"], ["completion", "zsh"]],
)  # fmt: skip
def test_help_and_completion_load_no_client_no_rich_no_pydantic(
    tmp_path: Path, args: list[str]
) -> None:
    loaded = modules_loaded(tmp_path, *args)
    assert offenders(loaded, ("httpx", *NEVER_AT_START)) == []


def test_shell_completion_itself_loads_no_pydantic(tmp_path: Path) -> None:
    """What a shell runs at each Tab, here completing profile names from a config file."""
    config = tmp_path / "config.toml"
    config.write_text('[profiles.small]\nserver_url = "http://127.0.0.1:1"\n')
    loaded = modules_loaded(
        tmp_path,
        OUTSCALE_CONFIG=str(config),
        _OUTSCALE_CLI_COMPLETE="complete_bash",
        COMP_WORDS="outscale-cli chat -p ",
        COMP_CWORD="3",
    )
    assert {"tomllib", "tomli"} & loaded  # it did read the config file
    assert offenders(loaded, ("httpx", "pydantic", "pydantic_settings", "rich")) == []


def test_piped_chat_loads_only_what_it_uses(tmp_path: Path) -> None:
    with MockServer(MockConfig(models=("small-2409",))) as server:
        loaded = modules_loaded(
            tmp_path, "chat", "--server-url", server.url, "-m", "small-2409", "Hi"
        )
    assert "httpx" in loaded  # it did send the request
    assert "pydantic_settings" in loaded  # and read its settings through it
    assert offenders(loaded, NEVER_IN_A_PIPED_CHAT) == []


COMMAND_MODULES = {
    "chat": "outscale_cli.commands.chat",
    "fim": "outscale_cli.commands.fim",
    "ping": "outscale_cli.commands.ping",
    "config": "outscale_cli.commands.config",
    "batch": "outscale_cli.commands.batch",
    "history": "outscale_cli.commands.history",
}


@pytest.mark.parametrize("command", ["chat", "batch", "history"])
def test_a_command_loads_no_other_commands_module(tmp_path: Path, command: str) -> None:
    """Each subcommand is built when it runs: `chat` pays for neither batch's nor history's
    options, and `--help` lists them all without building any."""
    loaded = modules_loaded(tmp_path, command, "--help")
    others = tuple(module for name, module in COMMAND_MODULES.items() if name != command)
    assert COMMAND_MODULES[command] in loaded
    assert offenders(loaded, others) == []


def test_the_root_help_loads_no_commands_module(tmp_path: Path) -> None:
    loaded = modules_loaded(tmp_path, "--help")
    assert offenders(loaded, tuple(COMMAND_MODULES.values())) == []


def test_a_recorded_chat_loads_the_recording_half_of_the_history_only(tmp_path: Path) -> None:
    """Recording imports outscale_cli.store; reading, searching and removing (and the
    dataclasses they build) stay in outscale_cli.history, which a plain chat never loads."""
    database = tmp_path / "history.sqlite"
    with MockServer(MockConfig(models=("small-2409",))) as server:
        loaded = modules_loaded(
            tmp_path, "chat", "--server-url", server.url, "-m", "small-2409", "Hi",
            OUTSCALE_HISTORY=str(database),
        )  # fmt: skip
    assert {"sqlite3", "outscale_cli.store"} <= loaded
    assert "outscale_cli.history" not in loaded
    import sqlite3

    with sqlite3.connect(database) as db:
        assert db.execute("SELECT prompt FROM exchanges").fetchall() == [("Hi",)]
