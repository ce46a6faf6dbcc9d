"""outscale_cli.inputs: joining prompt sources, FIM's --at split, strict UTF-8."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from outscale_cli.console import Environment
from outscale_cli.errors import UsageError
from outscale_cli.inputs import Source, decode, join_prompt, read_file, read_stdin, split_at
from outscale_cli.status import ExitStatus

from .conftest import make_env

# -- join_prompt ----------------------------------------------------------------------------


def test_sources_joined_with_a_blank_line_in_order() -> None:
    sources = [
        Source("file a.md", "from file a"),
        Source("file b.md", "from file b"),
        Source("standard input", "from stdin"),
        Source("the PROMPT argument", "Summarise."),
    ]
    assert join_prompt(sources) == "from file a\n\nfrom file b\n\nfrom stdin\n\nSummarise."


def test_trailing_newlines_are_trimmed_before_joining() -> None:
    sources = [Source("file a", "report\n\n\n"), Source("arg", "Summarise.\r\n")]
    assert join_prompt(sources) == "report\n\nSummarise."


def test_single_source_loses_its_trailing_newline() -> None:
    assert join_prompt([Source("standard input", "Hello\n")]) == "Hello"


def test_inner_and_leading_whitespace_is_kept() -> None:
    text = "  indented\n\n\tcode  "
    assert join_prompt([Source("arg", text)]) == text


def test_blank_sources_are_skipped() -> None:
    sources = [Source("standard input", " \n\t\n"), Source("arg", "Hello")]
    assert join_prompt(sources) == "Hello"


@pytest.mark.parametrize(
    "sources",
    [
        [],
        [Source("arg", "")],
        [Source("arg", "   ")],
        [Source("stdin", "\n\n"), Source("arg", "\t")],
    ],
    ids=["none", "empty", "spaces", "only-whitespace"],
)
def test_empty_prompt_is_a_usage_error(sources: list[Source]) -> None:
    with pytest.raises(UsageError) as caught:
        join_prompt(sources)
    assert caught.value.status == ExitStatus.USAGE


# -- decode and reading ---------------------------------------------------------------------


def test_decode_utf8() -> None:
    assert decode("Ça marche €".encode(), "standard input") == "Ça marche €"


@pytest.mark.parametrize("name", ["standard input", "file notes.md", "the PROMPT argument"])
def test_decode_non_utf8_names_the_source(name: str) -> None:
    with pytest.raises(UsageError) as caught:
        decode("café".encode("latin-1"), name)
    assert name in caught.value.message
    assert caught.value.status == ExitStatus.USAGE


def test_read_file_non_utf8_names_the_file(tmp_path: Path, env: Environment) -> None:
    path = tmp_path / "latin.txt"
    path.write_bytes("résumé".encode("latin-1"))
    with pytest.raises(UsageError) as caught:
        read_file(str(path), env)
    assert str(path) in caught.value.message


def test_read_file_keeps_bytes_exactly(tmp_path: Path, env: Environment) -> None:
    path = tmp_path / "q.md"
    path.write_bytes(b"line one\r\nline two\n\n")
    assert read_file(str(path), env).text == "line one\r\nline two\n\n"


def test_read_missing_file_is_a_usage_error(tmp_path: Path, env: Environment) -> None:
    with pytest.raises(UsageError) as caught:
        read_file(str(tmp_path / "absent.md"), env)
    assert "absent.md" in caught.value.message


def test_read_directory_is_a_usage_error(tmp_path: Path, env: Environment) -> None:
    with pytest.raises(UsageError):
        read_file(str(tmp_path), env)


def test_read_stdin_non_utf8_names_standard_input() -> None:
    env = make_env(io.TextIOWrapper(io.BytesIO(b"caf\xe9\n")))
    with pytest.raises(UsageError) as caught:
        read_stdin(env)
    assert "standard input" in caught.value.message


def test_read_stdin_text() -> None:
    env = make_env(io.StringIO("piped report\n"))
    source = read_stdin(env)
    assert (source.name, source.text) == ("standard input", "piped report\n")


def test_dash_file_reads_stdin() -> None:
    env = make_env(io.StringIO("from stdin"))
    assert read_file("-", env).text == "from stdin"


# -- split_at -------------------------------------------------------------------------------

CODE = "import os\n\ndef count_words(path):\n    return n_words\n"


@pytest.fixture
def code_file(tmp_path: Path) -> Path:
    path = tmp_path / "app.py"
    path.write_bytes(CODE.encode())
    return path


def test_split_at_line_start(code_file: Path, env: Environment) -> None:
    prefix, suffix = split_at(f"{code_file}:3", env)
    assert prefix == "import os\n\n"
    assert suffix == "def count_words(path):\n    return n_words\n"


def test_split_at_line_and_column(code_file: Path, env: Environment) -> None:
    prefix, suffix = split_at(f"{code_file}:4:5", env)
    assert prefix == "import os\n\ndef count_words(path):\n    "
    assert suffix == "return n_words\n"


def test_split_at_first_position_gives_everything_as_suffix(
    code_file: Path, env: Environment
) -> None:
    assert split_at(f"{code_file}:1:1", env) == ("", CODE)


def test_split_at_end_of_a_line(code_file: Path, env: Environment) -> None:
    prefix, suffix = split_at(f"{code_file}:1:10", env)
    assert prefix == "import os"
    assert suffix == "\n\ndef count_words(path):\n    return n_words\n"


def test_split_at_after_the_last_newline(code_file: Path, env: Environment) -> None:
    assert split_at(f"{code_file}:5", env) == (CODE, "")


def test_split_at_every_position_rebuilds_the_file(tmp_path: Path, env: Environment) -> None:
    content = "déf f():\r\n\t€ = 1\n\n    return €  \nlast"
    path = tmp_path / "mixed.py"
    path.write_bytes(content.encode())
    lines = content.split("\n")
    for line_no, line in enumerate(lines, start=1):
        for col in range(1, len(line.rstrip("\r")) + 2):
            prefix, suffix = split_at(f"{path}:{line_no}:{col}", env)
            assert prefix + suffix == content
            assert prefix.count("\n") == line_no - 1
            assert len(prefix.rsplit("\n", 1)[-1]) == col - 1


@pytest.mark.parametrize(
    "position",
    ["0", "6", "99", "1:0", "1:11", "2:2", "4:99"],
)
def test_split_at_outside_the_file_is_a_usage_error(
    code_file: Path, env: Environment, position: str
) -> None:
    with pytest.raises(UsageError) as caught:
        split_at(f"{code_file}:{position}", env)
    assert caught.value.status == ExitStatus.USAGE


def test_split_at_crlf_line_cannot_split_between_cr_and_lf(
    tmp_path: Path, env: Environment
) -> None:
    path = tmp_path / "win.py"
    path.write_bytes(b"ab\r\ncd\r\n")
    assert split_at(f"{path}:1:3", env) == ("ab", "\r\ncd\r\n")
    with pytest.raises(UsageError):
        split_at(f"{path}:1:4", env)


@pytest.mark.parametrize("spec", ["app.py", "app.py:", "app.py:x", "app.py:1:y", ":3", "app.py:-1"])
def test_split_at_malformed_spec_is_a_usage_error(spec: str, env: Environment) -> None:
    with pytest.raises(UsageError) as caught:
        split_at(spec, env)
    assert "PATH:LINE" in caught.value.message


def test_split_at_path_containing_a_colon(tmp_path: Path, env: Environment) -> None:
    path = tmp_path / "a:1.py"
    path.write_bytes(b"x = 1\ny = 2\n")
    assert split_at(f"{path}:2", env) == ("x = 1\n", "y = 2\n")


def test_split_at_missing_file_is_a_usage_error(tmp_path: Path, env: Environment) -> None:
    with pytest.raises(UsageError):
        split_at(f"{tmp_path / 'absent.py'}:1", env)


def test_split_at_non_utf8_file_names_it(tmp_path: Path, env: Environment) -> None:
    path = tmp_path / "latin.py"
    path.write_bytes(b"# caf\xe9\n")
    with pytest.raises(UsageError) as caught:
        split_at(f"{path}:1", env)
    assert str(path) in caught.value.message


# -- the bounded reader: every input, whatever the file is ------------------------------------


class _Chunks(io.RawIOBase):
    """A stream that hands out what one system call would: one piece per read, then EOF."""

    def __init__(self, *pieces: bytes) -> None:
        self._pieces = list(pieces)
        self.reads = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        self.reads += 1
        if not self._pieces:
            return 0
        piece = self._pieces.pop(0)
        buffer[: len(piece)] = piece
        return len(piece)


def test_read_upto_stops_at_the_first_end_of_file() -> None:
    from outscale_cli.inputs import read_upto

    # A terminal: "hello\n" then Ctrl-D (an empty read), then more that must never be read.
    stream = _Chunks(b"hello\n", b"", b"after the end\n")
    assert read_upto(io.BufferedReader(stream), 1000) == b"hello\n"


def test_read_upto_never_reads_more_than_asked() -> None:
    from outscale_cli.inputs import read_upto

    assert read_upto(io.BytesIO(b"x" * 100), 10) == b"x" * 10


@pytest.mark.parametrize("size", [99, 100])
def test_a_file_up_to_the_limit_is_read(tmp_path: Path, env: Environment, size: int) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(b"a" * size)
    assert read_file(str(path), env, limit=100).text == "a" * size


def test_a_file_one_byte_over_the_limit_is_refused(tmp_path: Path, env: Environment) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(b"a" * 101)
    with pytest.raises(UsageError) as caught:
        read_file(str(path), env, limit=100)
    assert "is 101 bytes, over the 100-byte input limit" in caught.value.message


def test_dev_zero_is_refused_without_reading_it_whole(env: Environment) -> None:
    with pytest.raises(UsageError) as caught:
        read_file("/dev/zero", env, limit=1000)
    assert "holds more than 1,000 bytes" in caught.value.message
    assert "file /dev/zero" in caught.value.message


def test_an_endless_fifo_is_refused(tmp_path: Path, env: Environment) -> None:
    import os
    import threading

    fifo = tmp_path / "yes"
    os.mkfifo(fifo)
    stop = threading.Event()

    def write_forever() -> None:  # what <(yes) is
        with open(fifo, "wb") as out:
            try:
                while not stop.is_set():
                    out.write(b"y\n" * 4096)
            except BrokenPipeError:
                pass

    writer = threading.Thread(target=write_forever, daemon=True)
    writer.start()
    try:
        with pytest.raises(UsageError) as caught:
            read_file(str(fifo), env, limit=64 * 1024)
    finally:
        stop.set()
    writer.join(timeout=5)
    assert "holds more than 65,536 bytes" in caught.value.message


def test_stdin_of_exactly_the_limit_is_read_and_one_more_byte_is_refused() -> None:
    assert read_stdin(make_env(io.TextIOWrapper(io.BytesIO(b"a" * 50))), 50).text == "a" * 50
    with pytest.raises(UsageError) as caught:
        read_stdin(make_env(io.TextIOWrapper(io.BytesIO(b"a" * 51))), 50)
    assert "holds more than 50 bytes" in caught.value.message


@pytest.mark.parametrize("limit", [0, -1, 2**30 + 1])
def test_the_limit_itself_has_a_range(limit: int) -> None:
    from outscale_cli.inputs import check_limit

    with pytest.raises(UsageError) as caught:
        check_limit(limit)
    assert "--max-input-bytes" in caught.value.message


def test_a_json_schema_from_dev_zero_is_refused() -> None:
    from outscale_cli.wire import response_format

    with pytest.raises(UsageError) as caught:
        response_format(False, Path("/dev/zero"), 1000)
    assert "--json-schema /dev/zero holds more than 1,000 bytes" in caught.value.message
