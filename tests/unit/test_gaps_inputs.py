"""Gaps found by mutation testing in outscale_cli/inputs.py: the input limit (exactly the limit
is fine, one byte more is refused, never cut), the sources' names, standard input's rules, the
prompt's joining and --at."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from outscale_cli.console import Environment
from outscale_cli.errors import UsageError
from outscale_cli.inputs import (
    Source,
    check_arguments,
    check_limit,
    check_size,
    join_prompt,
    read_bytes,
    read_file,
    read_stdin,
    read_upto,
    split_at,
    stdin_available,
)


def make_env(stdin: object = None, *, tty: bool = False) -> Environment:
    return Environment(
        stdin=stdin if stdin is not None else io.StringIO(),  # type: ignore[arg-type]
        stdout=io.StringIO(),
        stderr=io.StringIO(),
        stdin_isatty=tty,
        stdout_isatty=False,
        stderr_isatty=False,
        colour=False,
        secrets=[],
    )


def piped(data: bytes) -> Environment:
    return make_env(io.TextIOWrapper(io.BytesIO(data)))


# -- the limit ------------------------------------------------------------------------------------


def test_an_input_of_exactly_the_limit_is_accepted() -> None:
    check_size(100, "file f", 100)
    check_size(0, "file f", 1)


def test_one_byte_over_the_limit_is_refused_with_its_size() -> None:
    with pytest.raises(UsageError) as caught:
        check_size(1_001, "file big.txt", 1_000)
    assert caught.value.message == (
        "file big.txt is 1,001 bytes, over the 1,000-byte input limit (--max-input-bytes)"
    )
    assert caught.value.hint == (
        "no model's context holds that much: send a smaller part, or raise --max-input-bytes"
    )


def test_a_stream_over_the_limit_says_it_holds_more() -> None:
    with pytest.raises(UsageError) as caught:
        check_size(1_001, "standard input", 1_000, exact=False)
    assert caught.value.message == (
        "standard input holds more than 1,000 bytes, over the 1,000-byte input limit "
        "(--max-input-bytes)"
    )


@pytest.mark.parametrize("limit", [1, 2**30])
def test_the_limit_may_be_from_one_byte_to_one_gibibyte(limit: int) -> None:
    check_limit(limit)


def test_a_limit_out_of_range_says_the_range() -> None:
    with pytest.raises(UsageError) as caught:
        check_limit(0)
    assert caught.value.message == "--max-input-bytes must be from 1 to 1,073,741,824 (got 0)"
    assert caught.value.hint == "it bounds what is read from files and standard input"


def test_standard_input_over_the_limit_is_refused_not_cut() -> None:
    with pytest.raises(UsageError) as caught:
        read_stdin(piped(b"a" * 11), 10)
    assert caught.value.message.startswith("standard input holds more than 10 bytes")


def test_standard_input_of_exactly_the_limit_is_read_whole() -> None:
    assert read_stdin(piped("é".encode() * 5), 10) == Source("standard input", "é" * 5)


def test_standard_input_without_a_byte_buffer_is_bounded_too() -> None:
    assert read_stdin(make_env(io.StringIO("abcd")), 4).text == "abcd"
    with pytest.raises(UsageError):
        read_stdin(make_env(io.StringIO("abcde")), 4)


def test_a_file_is_refused_by_its_size_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 11)
    with pytest.raises(UsageError) as caught:
        read_bytes(str(path), "file f.bin", 10)
    assert caught.value.message.startswith("file f.bin is 11 bytes, over the 10-byte")
    assert read_bytes(str(path), "file f.bin", 11) == b"x" * 11


def test_read_upto_reads_every_piece_up_to_the_end() -> None:
    data = b"0123456789" * 20_000  # more than one 64 KiB read
    assert read_upto(io.BufferedReader(io.BytesIO(data)), len(data) + 5) == data  # type: ignore[arg-type]
    assert read_upto(io.BytesIO(data), 70_000) == data[:70_000]
    assert read_upto(io.BytesIO(b""), 10) == b""


# -- the sources' names ---------------------------------------------------------------------------


def test_a_file_is_named_by_its_path(tmp_path: Path) -> None:
    path = tmp_path / "q.md"
    path.write_text("hello", encoding="utf-8")
    assert read_file(str(path), make_env()) == Source(f"file {path}", "hello")


def test_an_unreadable_file_says_why(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        read_file(str(tmp_path / "none.md"), make_env())
    assert (
        caught.value.message
        == f"cannot read file {tmp_path / 'none.md'}: No such file or directory"
    )
    with pytest.raises(UsageError) as caught:
        read_file(str(tmp_path), make_env())
    assert caught.value.message == f"cannot read file {tmp_path}: it is a directory"


def test_text_that_is_not_utf8_names_where_and_the_offset(tmp_path: Path) -> None:
    path = tmp_path / "latin.txt"
    path.write_bytes(b"caf\xe9")
    with pytest.raises(UsageError) as caught:
        read_file(str(path), make_env())
    assert caught.value.message == f"file {path} is not UTF-8 text (invalid byte at offset 3)"
    assert caught.value.hint == "convert it first, e.g. iconv -f latin1 -t utf-8"


def test_arguments_that_are_not_utf8_are_named() -> None:
    check_arguments(prompt="ok", system=None, stop=["a", "b"])
    with pytest.raises(UsageError) as caught:
        check_arguments(prompt="ok", stop=["a", "b\udcff"])
    assert caught.value.message == "stop is not UTF-8 text"
    assert caught.value.hint == "check the shell's locale, or pass the text with -f FILE"


# -- standard input's rules -----------------------------------------------------------------------


def test_a_terminal_is_told_how_to_end_the_prompt() -> None:
    env = make_env(io.TextIOWrapper(io.BytesIO(b"typed")), tty=True)
    assert read_stdin(env, 100).text == "typed"
    assert env.stderr.getvalue() == (  # type: ignore[attr-defined]
        "outscale-cli: reading the prompt from the terminal; end it with Ctrl-D\n"
    )


def test_piped_input_that_is_ready_gives_no_hint() -> None:
    env = piped(b"ready")
    assert read_stdin(env, 100).text == "ready"
    assert env.stderr.getvalue() == ""  # type: ignore[attr-defined]


def test_silent_standard_input_gets_a_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from outscale_cli import inputs

    waited: list[tuple[list[int], list[int], list[int], float]] = []

    def nothing_ready(r: list[int], w: list[int], x: list[int], timeout: float) -> tuple:
        waited.append((r, w, x, timeout))
        return [], [], []

    monkeypatch.setattr(inputs.select, "select", nothing_ready)
    read_end, write_end = os.pipe()
    os.close(write_end)
    with open(read_end, encoding="utf-8") as stdin:
        env = make_env(stdin)
        assert read_stdin(env, 100).text == ""
    assert waited == [([read_end], [], [], 5.0)]  # standard input alone, for 5 s
    assert env.stderr.getvalue() == (  # type: ignore[attr-defined]
        "outscale-cli is still waiting for standard input; pass --no-stdin "
        "(or OUTSCALE_NO_STDIN=1) if none is coming\n"
    )


@pytest.mark.parametrize(
    ("no_stdin", "variable", "tty", "read"),
    [
        (False, None, False, True),
        (False, "0", False, True),
        (False, "", False, True),
        (True, None, False, False),
        (False, "1", False, False),
        (False, "yes", False, False),
        (False, None, True, False),
    ],
)
def test_when_standard_input_is_read(
    monkeypatch: pytest.MonkeyPatch, no_stdin: bool, variable: str | None, tty: bool, read: bool
) -> None:
    if variable is None:
        monkeypatch.delenv("OUTSCALE_NO_STDIN", raising=False)
    else:
        monkeypatch.setenv("OUTSCALE_NO_STDIN", variable)
    assert stdin_available(make_env(tty=tty), no_stdin) is read


# -- the prompt -----------------------------------------------------------------------------------


def test_sources_lose_trailing_line_ends_only() -> None:
    sources = [Source("a", "one\r\n\n"), Source("b", "  \n"), Source("c", "\ttwo ")]
    assert join_prompt(sources) == "one\n\n\ttwo "


def test_an_empty_prompt_says_how_to_give_one() -> None:
    with pytest.raises(UsageError) as caught:
        join_prompt([Source("a", " \n")])
    assert caught.value.message == (
        "the prompt is empty: give a PROMPT argument, -f FILE or standard input"
    )
    assert caught.value.hint == 'e.g. outscale-cli chat "Hello"'


# -- --at -----------------------------------------------------------------------------------------


@pytest.fixture
def code(tmp_path: Path) -> Path:
    path = tmp_path / "app.py"
    path.write_text("ab\ncd\n", encoding="utf-8")
    return path


def test_at_a_line_and_column(code: Path) -> None:
    assert split_at(f"{code}:2:2", make_env()) == ("ab\nc", "d\n")
    assert split_at(f"{code}:2", make_env()) == ("ab\n", "cd\n")
    assert split_at(f"{code}:3:1", make_env()) == ("ab\ncd\n", "")


def test_at_a_column_past_the_end_of_the_line(code: Path) -> None:
    assert split_at(f"{code}:1:3", make_env()) == ("ab", "\ncd\n")
    with pytest.raises(UsageError) as caught:
        split_at(f"{code}:1:4", make_env())
    assert caught.value.message == f"--at {code}:1:4: column 4 is outside line 1 (columns 1 to 3)"
    with pytest.raises(UsageError) as caught:
        split_at(f"{code}:1:0", make_env())
    assert "column 0 is outside line 1" in caught.value.message


def test_at_a_line_outside_the_file(code: Path) -> None:
    with pytest.raises(UsageError) as caught:
        split_at(f"{code}:4", make_env())
    assert caught.value.message == f"--at {code}:4: line 4 is outside {code} (lines 1 to 3)"
    with pytest.raises(UsageError) as caught:
        split_at(f"{code}:0", make_env())
    assert "line 0 is outside" in caught.value.message


def test_at_that_is_not_a_position() -> None:
    with pytest.raises(UsageError) as caught:
        split_at("app.py", make_env())
    assert caught.value.message == "--at takes PATH:LINE[:COL], not 'app.py'"
    assert caught.value.hint == "e.g. --at app.py:42:8"


def test_at_reads_within_the_limit(code: Path) -> None:
    with pytest.raises(UsageError) as caught:
        split_at(f"{code}:1", make_env(), limit=5)
    assert "is 6 bytes, over the 5-byte input limit" in caught.value.message


def test_a_real_pipe_that_is_ready_gives_no_hint() -> None:
    import os

    read_end, write_end = os.pipe()
    os.write(write_end, b"ready")
    os.close(write_end)
    with open(read_end, encoding="utf-8") as stdin:
        env = make_env(stdin)
        assert read_stdin(env, 100).text == "ready"
    assert env.stderr.getvalue() == ""  # type: ignore[attr-defined]


def test_read_upto_works_on_a_stream_without_read1() -> None:
    class Plain:
        def __init__(self) -> None:
            self.data = b"abcdef"

        def read(self, size: int) -> bytes:
            piece, self.data = self.data[:size], self.data[size:]
            return piece

    assert read_upto(Plain(), 4) == b"abcd"  # type: ignore[arg-type]


def test_dash_reads_standard_input_within_the_limit() -> None:
    assert read_file("-", piped(b"abc"), 3) == Source("standard input", "abc")
    with pytest.raises(UsageError):
        read_file("-", piped(b"abcd"), 3)


def test_only_line_ends_are_trimmed_from_a_source() -> None:
    assert join_prompt([Source("a", "fix XX\r\n"), Source("b", "X\n")]) == "fix XX\n\nX"


def test_a_device_is_read_one_byte_past_the_limit_and_no_further(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from outscale_cli import inputs

    asked: list[int] = []
    real = inputs.read_upto

    def recorded(stream: object, most: int) -> bytes:
        asked.append(most)
        return real(stream, most)  # type: ignore[arg-type]

    monkeypatch.setattr(inputs, "read_upto", recorded)
    with pytest.raises(UsageError) as caught:
        read_bytes("/dev/zero", "file /dev/zero", 10)
    assert caught.value.message.startswith("file /dev/zero holds more than 10 bytes")
    assert asked == [11]


def test_at_may_point_into_standard_input() -> None:
    assert split_at("-:2:2", piped(b"ab\ncd\n")) == ("ab\nc", "d\n")


def test_standard_input_is_read_one_byte_past_the_limit_and_no_further() -> None:
    env = piped(b"a" * 100)
    asked: list[int] = []
    real = env.read_stdin_bytes

    def recorded(most: int) -> bytes:
        asked.append(most)
        return real(most)

    env.read_stdin_bytes = recorded  # type: ignore[method-assign]
    with pytest.raises(UsageError):
        read_stdin(env, 10)
    assert asked == [11]


def test_missing_arguments_in_a_list_are_skipped_and_the_rest_checked() -> None:
    with pytest.raises(UsageError) as caught:
        check_arguments(stop=[None, "b\udcff"])  # type: ignore[list-item]
    assert caught.value.message == "stop is not UTF-8 text"
