"""Config edits through the real process: parallel edits all land, a symlinked config is
written through to its target, and an edit reports success only when the file holds it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from .helpers import RUN_TIMEOUT, clean_env, cli_command

PARALLEL = 8  # enough to race; 20 once outwaited the 10 s lock wait on a loaded machine


def add(config: Path, name: str, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*cli_command(), "config", "add", "--config", str(config), name,
         "--server-url", f"http://127.0.0.1:{port}"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=clean_env(),
    )  # fmt: skip


def test_parallel_edits_all_land(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    processes = [add(config, f"p{i}", 1000 + i) for i in range(PARALLEL)]
    said = []
    for process in processes:
        out, err = process.communicate(timeout=RUN_TIMEOUT * 2)
        assert process.returncode == 0, err
        said.append(err.decode())
    assert all("added profile" in line for line in said)
    written = tomllib.loads(config.read_text())
    assert sorted(written["profiles"]) == sorted(f"p{i}" for i in range(PARALLEL))
    for i in range(PARALLEL):
        assert written["profiles"][f"p{i}"]["server_url"] == f"http://127.0.0.1:{1000 + i}"
    assert list(tmp_path.glob(".c.toml.*.tmp")) == []


def test_an_edit_writes_through_a_symlink_to_its_target(tmp_path: Path) -> None:
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    target = dotfiles / "outscale.toml"
    target.write_text('# kept\n[profiles.a]\nserver_url = "http://127.0.0.1:1"\n')
    target.chmod(0o600)
    link = tmp_path / "config.toml"
    link.symlink_to(target)
    done = add(link, "b", 2)
    out, err = done.communicate(timeout=RUN_TIMEOUT)
    assert done.returncode == 0, err
    assert link.is_symlink() and os.readlink(link) == str(target)
    written = tomllib.loads(target.read_text())
    assert sorted(written["profiles"]) == ["a", "b"]
    assert target.read_text().startswith("# kept\n")
    assert list(tmp_path.glob(".config.toml.*")) == []  # nothing written beside the link


def test_an_edit_through_a_dangling_symlink_creates_the_target(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "outscale.toml"
    target.parent.mkdir()
    link = tmp_path / "config.toml"
    link.symlink_to(target)
    done = add(link, "a", 1)
    _, err = done.communicate(timeout=RUN_TIMEOUT)
    assert done.returncode == 0, err
    assert link.is_symlink()
    assert "a" in tomllib.loads(target.read_text())["profiles"]
