"""The line named in a config file's error is the key's own, however the file is written:
TOML counts lines at LF only, and nothing inside a multi-line string is a key."""

from __future__ import annotations

from pathlib import Path

import pytest

from outscale_cli.config import Locator, check_text
from outscale_cli.errors import ConfigError

PATH = Path("broken.toml")


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        check_text(text, PATH)
    return caught.value.message


@pytest.mark.parametrize("odd", ["\u2028", "\u2029", "\x85"], ids=repr)
def test_characters_python_splits_lines_at_do_not_shift_the_line(odd: str) -> None:
    text = f'[profiles.a]\nserver_url = "http://127.0.0.1:1{odd}{odd}"\ntimeout = 0\n'
    assert len(text.split("\n")) - 1 == 3  # a 3-line file
    assert error_of(text).startswith("broken.toml:3: [profiles.a] timeout: ")


def test_a_key_inside_a_multiline_string_is_not_taken_for_the_key() -> None:
    text = (
        "[profiles.a]\n"
        'server_url = "http://127.0.0.1:1"\n'
        'api_key_cmd = """echo\n'
        "timeout = 5\n"
        '"""\n'
        "timeout = 0\n"
    )
    assert error_of(text).startswith("broken.toml:6: [profiles.a] timeout: ")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('[profiles.a]\nserver_url = "http://h:1"\n\n\nmodle = "m"\n', 5),
        ('profiles.a.server_url = "http://h:1"\nprofiles.a.modle = 1\n', 2),
        ('[profiles]\na = { server_url = "http://h:1", modle = 1 }\n', 2),
        ('[ profiles . "a" ]\nserver_url = "http://h:1"\n"modle" = 1\n', 3),
        ('[profiles.a]\r\nserver_url = "http://h:1"\r\nmodle = 1\r\n', 3),
    ],
    ids=["blank-lines", "dotted-keys", "inline-table", "quoted-and-spaced", "crlf"],
)
def test_the_line_is_the_keys_own(text: str, line: int) -> None:
    message = error_of(text)
    assert message.startswith(f"broken.toml:{line}: "), message
    assert "modle" in message


def test_a_syntax_error_names_tomls_own_line() -> None:
    message = error_of('[profiles.a]\nserver_url = "http://h:1\nmodel = "m"\n')
    assert message.startswith("broken.toml:2: not valid TOML: ")


def test_the_locator_falls_back_to_the_table_holding_the_key() -> None:
    locate = Locator('x = 1\n[profiles.a]\nserver_url = "u"\n')
    assert locate.line(("profiles", "a", "headers", "X")) == 2
    assert locate.line(("nothing",)) is None
