"""`config add/remove/default`: where edits put keys and comments, and what they refuse
before writing anything (what the reader would refuse, named by the flag, exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

LAYOUT = """\
# My deployments
default_profile = "a"

[profiles.a]
server_url = "http://127.0.0.1:1"   # VM 12
timeout = 60  # seconds

# ---- profile B ----
[profiles.b]
server_url = "http://127.0.0.1:2"

# end of file
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(LAYOUT)
    path.chmod(0o600)
    return path


def lines_of(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_new_keys_go_at_the_end_of_their_table_before_the_next_tables_comment(
    cli, config: Path
) -> None:
    result = cli("config", "add", "a", "--config", str(config), "--server-url",
                 "http://127.0.0.1:1", "--retries", "3", "-m", "small-2409")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    lines = lines_of(config)
    comment = lines.index("# ---- profile B ----")
    assert lines.index("retries = 3") < comment and lines.index('model = "small-2409"') < comment
    assert lines[comment + 1] == "[profiles.b]"
    assert lines[-1] == "# end of file"


def test_a_header_is_written_inline_in_its_table_and_moves_no_comment(cli, config: Path) -> None:
    result = cli("config", "add", "b", "--config", str(config),
                 "--server-url", "http://127.0.0.1:2", "-H", "X-Team: data")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    lines = lines_of(config)
    b = lines.index("[profiles.b]")
    assert lines[b - 1] == "# ---- profile B ----"
    assert lines[b + 2] == 'headers = {X-Team = "data"}'
    assert lines[-1] == "# end of file"
    assert "[profiles.b.headers]" not in lines


def test_a_changed_key_keeps_its_place_and_its_comment(cli, config: Path) -> None:
    result = cli("config", "add", "a", "--config", str(config),
                 "--server-url", "http://127.0.0.1:1", "--timeout", "30")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    before, after = LAYOUT.splitlines(), lines_of(config)
    assert after == [("timeout = 30  # seconds" if x.startswith("timeout") else x) for x in before]


def test_removing_the_last_profile_keeps_the_files_final_comment(cli, config: Path) -> None:
    result = cli("config", "remove", "b", "--config", str(config))
    assert result.exit_code == 0, result.stderr
    text = config.read_text()
    assert "[profiles.b]" not in text and "http://127.0.0.1:2" not in text
    assert text.rstrip().endswith("# end of file")
    assert "# My deployments" in text and "# VM 12" in text


def test_removing_the_first_profile_keeps_the_next_ones_comment(cli, config: Path) -> None:
    result = cli("config", "remove", "a", "--config", str(config))
    assert result.exit_code == 0, result.stderr
    lines = lines_of(config)
    assert lines[lines.index("[profiles.b]") - 1] == "# ---- profile B ----"
    assert "# VM 12" not in config.read_text()


def test_changing_the_default_keeps_its_line(cli, config: Path) -> None:
    result = cli("config", "default", "b", "--config", str(config))
    assert result.exit_code == 0, result.stderr
    assert lines_of(config)[1] == 'default_profile = "b"'


REFUSED = [
    # (flags, the flag named, a fragment of the reason)
    (["--timeout", "1e300"], "--timeout", "at most 1,000,000"),
    (["--timeout", "nan"], "--timeout", "number of seconds"),
    (["--timeout", "0"], "--timeout", "greater than 0"),
    (["--retries", "-1"], "--retries", "0 or more"),
    (["--retries", "101"], "--retries", "at most 100"),
    (["--api-key-cmd", ""], "--api-key-cmd", "empty"),
    (["--api-key-cmd", "'unclosed"], "--api-key-cmd", "cannot be parsed"),
    (["-m", ""], "--model", "empty"),
    (["-m", "  "], "--model", "empty"),
    (["--api-key-env", "BAD VAR"], "--api-key-env", "not an environment variable name"),
    (["--api-key-env", "1X"], "--api-key-env", "not an environment variable name"),
    (["-H", "X-Team: a\x01b"], "--header", "control characters"),
    (["-H", "Bad Name: v"], "--header", "not a header name"),
]


@pytest.mark.parametrize(
    ("flags", "flag", "reason"), REFUSED, ids=[r[1] + str(i) for i, r in enumerate(REFUSED)]
)
def test_config_add_refuses_what_the_reader_would_refuse(
    cli, config: Path, flags: list[str], flag: str, reason: str
) -> None:
    before = config.read_bytes()
    result = cli("config", "add", "c", "--config", str(config),
                 "--server-url", "http://127.0.0.1:3", *flags)  # fmt: skip
    assert result.exit_code == 2, result.stderr
    first = result.stderr.splitlines()[0]
    assert first.startswith("outscale-cli: error: invalid value "), first
    assert f"for {flag}: " in first and reason in first
    assert config.read_bytes() == before


@pytest.mark.parametrize("name", ["", "a b", "tab\there", "new\nline", "nul\x00x"])
def test_config_add_refuses_a_profile_name_the_reader_would_refuse(
    cli, config: Path, name: str
) -> None:
    before = config.read_bytes()
    result = cli("config", "add", name, "--config", str(config), "--server-url", "http://h:1")
    assert result.exit_code == 2, result.stderr
    assert "the profile NAME" in result.stderr
    assert config.read_bytes() == before


@pytest.mark.parametrize("name", ["a b", "", "x\ty"])
def test_the_reader_refuses_such_profile_names(cli, tmp_path: Path, name: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        f'[profiles."{name}"]\nserver_url = "http://127.0.0.1:1"\n'.replace("\t", "\\t")
    )
    result = cli("chat", "--config", str(path), "q")
    assert result.exit_code == 3
    assert f"{path}:1: " in result.stderr and "not a profile name" in result.stderr


def test_a_config_file_that_cannot_be_written_is_exit_3(cli, tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    path = folder / "c.toml"
    try:
        result = cli("config", "add", "x", "--config", str(path), "--server-url", "http://h:1")
    finally:
        folder.chmod(0o700)
    import os

    if os.geteuid() == 0:  # root writes anyway: use a path under a file instead
        blocker = tmp_path / "file"
        blocker.write_text("")
        path = blocker / "c.toml"
        result = cli("config", "add", "x", "--config", str(path), "--server-url", "http://h:1")
    assert result.exit_code == 3, result.stderr
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"outscale-cli: error: cannot write config file {path}: "), first
    assert "Traceback" not in result.stderr
