"""Where prompts come from: arguments, files, standard input; and FIM's --at splitting.

Everything is read as bytes, through one bounded reader (`read_upto`: never more than the
limit plus one byte, whatever the file is: /dev/zero, a FIFO, `<(yes)`), and decoded strictly:
input over --max-input-bytes or not UTF-8 is refused (exit 2) naming its source, before any
request is sent.
"""

from __future__ import annotations

import os
import re
import select
import stat
from typing import BinaryIO, NamedTuple

from outscale_cli.console import PROG, Environment
from outscale_cli.errors import UsageError

MAX_INPUT_BYTES = 4 * 1024 * 1024
LARGEST_LIMIT = 1024 * 1024 * 1024  # --max-input-bytes at most: 1 GiB
STDIN_HINT_AFTER = 5.0
CHUNK = 64 * 1024


class Source(NamedTuple):
    name: str  # for messages: "standard input", "file notes.md", "the PROMPT argument"
    text: str


def decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{name} is not UTF-8 text (invalid byte at offset {exc.start})",
            hint="convert it first, e.g. iconv -f latin1 -t utf-8",
        ) from None


def check_arguments(**named: str | list[str] | None) -> None:
    """Command-line text that is not UTF-8 reaches Python as lone surrogates: refuse it
    (exit 2) naming the option, before it could break a request."""
    for name, value in named.items():
        for text in value if isinstance(value, list) else [value]:
            if text is None:
                continue
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise UsageError(
                    f"{name} is not UTF-8 text",
                    hint="check the shell's locale, or pass the text with -f FILE",
                ) from None


def check_size(size: int, name: str, limit: int, exact: bool = True) -> None:
    if size > limit:
        how = f"is {size:,} bytes" if exact else f"holds more than {limit:,} bytes"
        raise UsageError(
            f"{name} {how}, over the {limit:,}-byte input limit (--max-input-bytes)",
            hint="no model's context holds that much: send a smaller part, "
            "or raise --max-input-bytes",
        )


def check_limit(limit: int) -> None:
    if not 1 <= limit <= LARGEST_LIMIT:
        raise UsageError(
            f"--max-input-bytes must be from 1 to {LARGEST_LIMIT:,} (got {limit:,})",
            hint="it bounds what is read from files and standard input",
        )


def read_upto(stream: BinaryIO, most: int) -> bytes:
    """At most `most` bytes, until end of file. Each read returns what one system call gives,
    so a terminal's Ctrl-D ends the input at once (a full read would wait for a second one)."""
    read = getattr(stream, "read1", None) or stream.read
    parts: list[bytes] = []
    got = 0
    while got < most:
        part = read(min(CHUNK, most - got))
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def read_bytes(path: str, name: str, limit: int) -> bytes:
    """A file's bytes, refused (exit 2) when over `limit`: a regular file by its size before
    reading, anything else (a FIFO, a device) by reading one byte more than the limit."""
    try:
        with open(path, "rb") as handle:
            if stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                check_size(os.fstat(handle.fileno()).st_size, name, limit)
            data = read_upto(handle, limit + 1)
    except IsADirectoryError:
        raise UsageError(f"cannot read {name}: it is a directory") from None
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror or exc}") from None
    check_size(len(data), name, limit, exact=False)
    return data


def read_file(path: str, env: Environment, limit: int = MAX_INPUT_BYTES) -> Source:
    if path == "-":
        return read_stdin(env, limit)
    name = f"file {path}"
    return Source(name, decode(read_bytes(path, name, limit), name))


def read_stdin(env: Environment, limit: int = MAX_INPUT_BYTES) -> Source:
    name = "standard input"
    if env.stdin_isatty:
        env.info(f"{PROG}: reading the prompt from the terminal; end it with Ctrl-D")
    else:
        _hint_if_silent(env)
    data = env.read_stdin_bytes(limit + 1)  # never hold more than the limit in memory
    check_size(len(data), name, limit, exact=False)
    return Source(name, decode(data, name))


def stdin_available(env: Environment, no_stdin: bool) -> bool:
    """Standard input is read only when it is not a terminal, and never with --no-stdin or
    OUTSCALE_NO_STDIN=1."""
    import os

    if no_stdin or os.environ.get("OUTSCALE_NO_STDIN", "") not in ("", "0"):
        return False
    return not env.stdin_isatty and env.stdin is not None


def _hint_if_silent(env: Environment) -> None:
    try:
        fd = env.stdin.fileno()
    except (AttributeError, OSError, ValueError):
        return
    try:
        ready, _, _ = select.select([fd], [], [], STDIN_HINT_AFTER)
    except (OSError, ValueError):
        return
    if not ready:
        env.info(
            f"{PROG} is still waiting for standard input; "
            "pass --no-stdin (or OUTSCALE_NO_STDIN=1) if none is coming"
        )


def join_prompt(sources: list[Source]) -> str:
    """Chat: every non-blank source, trailing newlines dropped, joined with a blank line."""
    parts = [s.text.rstrip("\r\n") for s in sources if s.text.strip()]
    prompt = "\n\n".join(parts)
    if not prompt.strip():
        raise UsageError(
            "the prompt is empty: give a PROMPT argument, -f FILE or standard input",
            hint='e.g. outscale-cli chat "Hello"',
        )
    return prompt


_AT = re.compile(r"^(?P<path>.+?):(?P<line>\d+)(?::(?P<col>\d+))?$")


def split_at(spec: str, env: Environment, limit: int = MAX_INPUT_BYTES) -> tuple[str, str]:
    """--at PATH:LINE[:COL] (1-based): (everything before, everything after) that point."""
    match = _AT.match(spec)
    if not match:
        raise UsageError(f"--at takes PATH:LINE[:COL], not {spec!r}", hint="e.g. --at app.py:42:8")
    source = read_file(match["path"], env, limit)
    line_no = int(match["line"])
    col = int(match["col"] or 1)
    lines = source.text.split("\n")  # only LF separates lines; a CR stays with its line
    if line_no < 1 or line_no > len(lines):
        raise UsageError(
            f"--at {spec}: line {line_no} is outside {match['path']} (lines 1 to {len(lines)})"
        )
    line = lines[line_no - 1]
    width = len(line.rstrip("\r"))
    if col < 1 or col > width + 1:
        raise UsageError(
            f"--at {spec}: column {col} is outside line {line_no} (columns 1 to {width + 1})"
        )
    offset = sum(len(text) + 1 for text in lines[: line_no - 1]) + col - 1
    return source.text[:offset], source.text[offset:]
