"""What the start-up path imports (behaviour, not timing): `--version`, `--help` and a piped
`chat` must not load what they do not use."""

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

NEVER_AT_START = (
    "rich.markdown",  # Markdown rendering: only on a terminal
    "pydantic",
    "outscale_cli.mock",  # the stand-in server: only for --mock and mock-server
    "http.server",
    "tomllib",  # TOML parsing: only when a config file exists
    "tomlkit",
    "concurrent.futures",  # the --all machinery
)


def modules_loaded(tmp_path: Path, *args: str) -> set[str]:
    out = tmp_path / "modules.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTSCALE_")}
    env["OUTSCALE_CONFIG"] = str(tmp_path / "absent.toml")
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


@pytest.mark.parametrize("args", [["--help"], ["chat", "--help"], ["fim", "--help"]])
def test_help_loads_no_client_no_rich(tmp_path: Path, args: list[str]) -> None:
    loaded = modules_loaded(tmp_path, *args)
    assert offenders(loaded, ("httpx", "rich", *NEVER_AT_START)) == []


def test_piped_chat_loads_only_what_it_uses(tmp_path: Path) -> None:
    with MockServer(MockConfig(models=("small-2409",))) as server:
        loaded = modules_loaded(
            tmp_path, "chat", "--server-url", server.url, "-m", "small-2409", "Hi"
        )
    assert "httpx" in loaded  # it did send the request
    assert offenders(loaded, ("rich", *NEVER_AT_START)) == []
