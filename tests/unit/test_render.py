from __future__ import annotations

import io
import re
import signal
import threading
from typing import Any

import pytest

from outscale_cli.render import (
    MarkdownWriter,
    PlainWriter,
    PrefixStripper,
    _BlockScanner,
    _Markdown,
    usage_line,
)

ANSWER = (
    "# Title\n\nA paragraph\non two lines.\n\n- one\n- two\n\n  still item two\n\n"
    "```python\nx = 1\n\ny = 2\n```\n\nThe end.\n"
)


def blocks_of(pieces: list[str]) -> tuple[list[str], str]:
    scanner = _BlockScanner()
    blocks: list[str] = []
    for piece in pieces:
        blocks.extend(scanner.feed(piece))
    return blocks, scanner.pending


def test_blocks_are_cut_at_blank_lines_outside_fences() -> None:
    blocks, pending = blocks_of([ANSWER])
    assert blocks == [
        "# Title\n\n",
        "A paragraph\non two lines.\n\n",
        "- one\n- two\n\n  still item two\n\n",  # the indented line continues the list
        "```python\nx = 1\n\ny = 2\n```\n\n",  # the blank line inside the fence does not cut
    ]
    assert pending == "The end.\n"  # not finished until the next block starts


@pytest.mark.parametrize("size", [1, 2, 3, 7])
def test_streaming_in_pieces_gives_the_same_blocks(size: int) -> None:
    pieces = [ANSWER[i : i + size] for i in range(0, len(ANSWER), size)]
    assert blocks_of(pieces) == blocks_of([ANSWER])


def test_every_character_is_in_exactly_one_block() -> None:
    blocks, pending = blocks_of([ANSWER])
    assert "".join(blocks) + pending == ANSWER


def test_plain_writer_adds_a_newline_only_when_missing() -> None:
    out = io.StringIO()
    writer = PlainWriter(out, final_newline=True)
    writer.write("a")
    writer.write("b")
    writer.finish()
    assert out.getvalue() == "ab\n"
    out = io.StringIO()
    writer = PlainWriter(out, final_newline=True)
    writer.write("ab\n")
    writer.finish()
    assert out.getvalue() == "ab\n"


def test_plain_writer_for_fim_adds_nothing() -> None:
    out = io.StringIO()
    writer = PlainWriter(out, final_newline=False)
    writer.write("    return x")
    writer.finish()
    assert out.getvalue() == "    return x"


@pytest.mark.parametrize(
    ("pieces", "printed"),
    [
        (["Once upon", " a time, there"], " there"),  # the reply repeats the prefix
        (["Something", " else"], "Something else"),  # it did not: print it all
        (["Once"], ""),  # only part of the prefix came back
    ],
)
def test_prefix_stripper(pieces: list[str], printed: str) -> None:
    out = io.StringIO()
    writer = PrefixStripper(PlainWriter(out, final_newline=False), "Once upon a time,")
    for piece in pieces:
        writer.write(piece)
    writer.finish()
    assert out.getvalue() == printed


def test_usage_line() -> None:
    usage = {"prompt_tokens": 10, "completion_tokens": 21, "total_tokens": 31}
    line = usage_line(usage, first_token_s=0.5, total_s=2.5)
    assert line == (
        "usage: tokens: 10 prompt + 21 completion = 31 total, first token 500 ms (answer), "
        "total 2.50 s, 10.5 tokens/s"
    )
    assert usage_line(None, None, 1.0) == "usage: tokens: not reported by the server, total 1.00 s"


# -- Markdown on a terminal ------------------------------------------------------------------
class Screen:
    """Enough of a terminal to replay what MarkdownWriter writes: text, line ends, carriage
    returns, cursor up and erase line (styles and hyperlinks are skipped). Rows that scrolled
    off the top are the scrollback: the cursor cannot go back up there (`lost_ups` counts the
    tries, which would leave a copy of a live display behind)."""

    CONTROL = re.compile(r"\x1b\[([0-9;?]*)([A-Za-z])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|[\r\n]")

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.rows = [""]
        self.row = self.col = self.lost_ups = 0
        self.wrap_pending = False

    def feed(self, data: str) -> None:
        position = 0
        for match in self.CONTROL.finditer(data):
            self._text(data[position : match.start()])
            position = match.end()
            code, final = match.group(0), match.group(2)
            if code == "\n":
                self._next_row()
            elif code == "\r":
                self.col, self.wrap_pending = 0, False
            elif final == "A":
                up = int(match.group(1) or 1)
                top = max(0, len(self.rows) - self.height)
                self.lost_ups += max(0, top - (self.row - up))
                self.row, self.wrap_pending = max(top, self.row - up), False
            elif final == "K":
                self.rows[self.row] = ""
        self._text(data[position:])

    def _text(self, text: str) -> None:
        for char in text:
            if self.wrap_pending:
                self._next_row()
            line = self.rows[self.row].ljust(self.col)
            self.rows[self.row] = line[: self.col] + char + line[self.col + 1 :]
            self.col += 1
            self.wrap_pending = self.col >= self.width

    def _next_row(self) -> None:
        self.row, self.col, self.wrap_pending = self.row + 1, 0, False
        if self.row == len(self.rows):
            self.rows.append("")

    def lines(self) -> list[str]:
        """The scrollback and the screen, trailing spaces and empty rows at the end dropped."""
        rows = [row.rstrip() for row in self.rows]
        while rows and not rows[-1]:
            rows.pop()
        return rows


WORDS = " ".join(f"w{i}" for i in range(1500))  # one paragraph of 1,500 words
CODE = "```python\n" + "".join(f"line_{i} = {i}\n" for i in range(80)) + "```\n"


def pieces_of(text: str) -> list[str]:
    """Word-sized pieces, as a model streams them."""
    return re.findall(r"\s*\S+|\s+", text)


class Clock:
    """A monotonic clock a tenth of a second further at each call: repaints every few writes."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 0.1
        return self.now


@pytest.fixture(autouse=True)
def xterm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")  # not a dumb terminal, whatever runs the tests


def streamed(
    text: str, *, width: int = 40, height: int = 10, interrupt_at: int | None = None
) -> Screen:
    """`text` written piece by piece to a MarkdownWriter on a small terminal, then finished;
    with `interrupt_at`, a KeyboardInterrupt stops the stream at that write (as Ctrl-C does)."""
    out = io.StringIO()
    writer = MarkdownWriter(out, width=width, height=height, force_terminal=True, clock=Clock())
    screen = Screen(width, height)
    try:
        for number, piece in enumerate(pieces_of(text)):
            if number == interrupt_at:
                raise KeyboardInterrupt
            writer.write(piece)
            screen.feed(out.getvalue())
            out.seek(0)
            out.truncate()
            assert screen.lost_ups == 0, "the live display grew taller than the terminal"
    except KeyboardInterrupt:
        screen.feed("^C")  # the terminal echoes Ctrl-C where the cursor is
    finally:
        writer.finish()
    screen.feed(out.getvalue())
    return screen


def once(text: str, width: int = 40) -> list[str]:
    """The lines of `text` written in one piece, then finished: its blocks printed one by one,
    as before a block could be taller than the terminal."""
    out = io.StringIO()
    writer = MarkdownWriter(out, width=width, height=10_000, force_terminal=True, clock=Clock())
    writer.write(text)
    writer.finish()
    screen = Screen(width, 10_000)
    screen.feed(out.getvalue())
    return screen.lines()


def test_a_paragraph_taller_than_the_terminal_scrolls_and_is_printed_once() -> None:
    text = f"Before.\n\n{WORDS}\n\nAfter.\n"
    screen = streamed(text)
    lines = screen.lines()
    words = " ".join(lines).split()
    assert words == ["Before.", *WORDS.split(), "After."]  # each word once, in order
    assert not any(line.strip() == "..." for line in lines)
    assert lines == once(text)  # the same rows and spacing as printed whole


def test_a_tall_paragraph_is_printed_for_good_while_it_streams() -> None:
    out = io.StringIO()
    writer = MarkdownWriter(out, width=40, height=10, force_terminal=True, clock=Clock())
    half = WORDS.split()[:750]
    for piece in pieces_of(" ".join(half)):
        writer.write(piece)
    screen = Screen(40, 10)
    screen.feed(out.getvalue())
    # Before the paragraph ends, its rows but the last few are printed for good: in the
    # scrollback, above the screen, in order; the screen shows the rows that follow.
    assert len(screen.rows) > 60
    assert " ".join(screen.lines()).split() == half
    assert screen.lost_ups == 0


MARKED = " ".join(
    f"w{i}" if i % 9 else f"**bold w{i} words** `code {i}` [a link {i}](https://example.com/{i})"
    for i in range(400)
)


@pytest.mark.parametrize("size", [None, 3])
def test_a_tall_paragraph_with_inline_markup_looks_as_printed_whole(size: int | None) -> None:
    # Emphasis, code spans and links across rows: a cut is never made inside one.
    text = f"{MARKED}\n\nAfter.\n"
    if size is None:
        screen = streamed(text)
    else:
        out = io.StringIO()
        writer = MarkdownWriter(out, width=40, height=10, force_terminal=True, clock=Clock())
        for i in range(0, len(text), size):
            writer.write(text[i : i + size])
        writer.finish()
        screen = Screen(40, 10)
        screen.feed(out.getvalue())
    assert screen.lines() == once(text)
    assert "**" not in "".join(screen.lines())


def test_a_code_block_taller_than_the_terminal_scrolls_and_is_printed_once() -> None:
    text = f"Some code:\n\n{CODE}\nThe end.\n"
    screen = streamed(text)
    lines = screen.lines()
    for i in range(80):
        assert [line.strip() for line in lines].count(f"line_{i} = {i}") == 1
    assert not any(line.strip() == "..." for line in lines)
    assert lines == once(text)  # one padding row above the code and one below, as whole


@pytest.mark.parametrize("where", ["code", "paragraph"])
@pytest.mark.parametrize("share", [0.3, 0.6, 0.9])
def test_ctrl_c_during_a_tall_block_leaves_each_line_once(where: str, share: float) -> None:
    text = f"Intro.\n\n{CODE if where == 'code' else WORDS}"
    stop = int(len(pieces_of(text)) * share)
    screen = streamed(text, interrupt_at=stop)
    received = "".join(pieces_of(text)[:stop])
    assert screen.lines() == once(received)
    assert screen.lost_ups == 0


def interrupted(text: str, out: io.StringIO) -> tuple[str, int]:
    """Write `text` piece by piece to a MarkdownWriter on `out` until KeyboardInterrupt, then
    finish: (what was handed to write(), how many pieces)."""
    writer = MarkdownWriter(out, width=40, height=10, force_terminal=True, clock=Clock())
    received = ""
    try:
        for piece in pieces_of(text):
            received += piece  # handed to write(): kept even if it raises
            writer.write(piece)
    except KeyboardInterrupt:
        pass
    writer.finish()
    return received, len(pieces_of(received))


@pytest.mark.parametrize("at", [3, 10, 25, 50, 80])
def test_ctrl_c_while_rendering_leaves_each_line_once(
    at: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows, calls = _Markdown.rows, []

    def rows_or_interrupt(self: _Markdown, *args: Any) -> Any:
        calls.append(None)
        if len(calls) == at:
            raise KeyboardInterrupt  # Ctrl-C while rich renders, before anything is written
        return rows(self, *args)

    monkeypatch.setattr(_Markdown, "rows", rows_or_interrupt)
    out = io.StringIO()
    try:
        received, count = interrupted(f"Intro.\n\n{CODE}\n{WORDS}", out)
    except KeyboardInterrupt:  # a test failure, not the end of the test session
        pytest.fail("the interrupt came in finish(), not while the text was streaming")
    monkeypatch.undo()
    assert len(calls) > at and count < len(pieces_of(f"Intro.\n\n{CODE}\n{WORDS}"))
    screen = Screen(40, 10)
    screen.feed(out.getvalue())
    assert screen.lines() == once(received)
    assert screen.lost_ups == 0


class SlowTerminal(io.StringIO):
    """A terminal that Ctrl-C reaches while it is written to, at one write (a real SIGINT)."""

    def __init__(self, signal_at: int) -> None:
        super().__init__()
        self.calls = 0
        self.signal_at = signal_at

    def write(self, text: str) -> int:
        self.calls += 1
        if self.calls == self.signal_at:
            signal.pthread_kill(threading.get_ident(), signal.SIGINT)
        return super().write(text)


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="POSIX signals")
@pytest.mark.parametrize("at", [5, 20, 40, 60])
def test_ctrl_c_while_writing_to_the_terminal_leaves_each_line_once(at: int) -> None:
    # Python's own SIGINT handling, whatever the process running the tests set (a harness may
    # ignore SIGINT); a KeyboardInterrupt out of finish() fails the test, not the session.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    out = SlowTerminal(at)
    try:
        received, count = interrupted(f"Intro.\n\n{CODE}\n{WORDS}", out)
    except KeyboardInterrupt:
        pytest.fail("the interrupt escaped finish()")
    finally:
        signal.signal(signal.SIGINT, previous)
    assert out.calls > at and count < len(pieces_of(f"Intro.\n\n{CODE}\n{WORDS}"))
    screen = Screen(40, 10)
    screen.feed(out.getvalue())
    assert screen.lines() == once(received)
    assert screen.lost_ups == 0


def test_a_tall_table_stays_live_and_is_printed_once_finished() -> None:
    # Its columns' widths change as rows arrive: it is not cut, its last rows are shown.
    rows = "".join(f"| {i} | {'x' * (i % 23)} |\n" for i in range(40))
    text = f"| n | x |\n|---|---|\n{rows}\nAfter.\n"
    screen = streamed(text)
    lines = screen.lines()
    assert lines == once(text)
    assert [line.split()[0] for line in lines if line.split() and line.split()[0].isdigit()] == [
        str(i) for i in range(40)
    ]


def test_a_tall_list_is_printed_item_by_item_numbers_aligned() -> None:
    # rich sizes the numbers for the last one: 1 to 9 are printed once the tenth has come.
    items = "".join(f"{i}. item {i} " + "x " * (i % 17) + "\n" for i in range(1, 31))
    text = f"Steps:\n\n{items}\nAfter.\n"
    screen = streamed(text)
    assert screen.lines() == once(text)
    numbered = [line.split()[0] for line in screen.lines() if "item" in line]
    assert numbered == [str(i) for i in range(1, 31)]


REALISTIC = """## Streaming

The client reads the **event stream** and hands each `delta` to the writer, which prints
finished blocks once. See [the docs](https://example.com/docs) for *details*.

1. Open the stream.
2. Read events:
   - text deltas
   - the usage
3. Close.

- **Fast**: one render a block.
- **Safe**: a table is never cut.

| Setting | Default | Meaning |
|---|---|---|
| `retries` | 2 | how many times a request is tried again |
| `max_time` | none | the whole command's deadline |

```python
def render(block: str) -> list[str]:
    \"\"\"Rows of a block.\"\"\"
    return block.splitlines()
```

> A quote
> on two lines.

---

The end, with `code` and a last word.
"""


@pytest.mark.parametrize("height", [6, 10, 40])
def test_streamed_answers_look_as_printed_whole(height: int) -> None:
    text = REALISTIC * 3
    screen = streamed(text, height=height)
    assert screen.lines() == once(text)


def test_not_a_terminal_gets_the_blocks_and_no_cursor_moves() -> None:
    out = io.StringIO()
    writer = MarkdownWriter(out, clock=Clock())
    for piece in pieces_of(f"Intro.\n\n{WORDS}"):
        writer.write(piece)
    writer.finish()
    assert "\x1b[" not in out.getvalue()
    assert out.getvalue().split() == ["Intro.", *WORDS.split()]


@pytest.mark.parametrize(
    ("opening", "inner", "closing"),
    [
        ("~~~", "```", "~~~"),  # a tilde fence is not closed by backquotes
        ("````markdown", "```", "````"),  # nor a longer fence by a shorter one
        ("```", "```python", "```"),  # a closing fence has nothing after its marker
        ("~~~~", "~~~", "~~~~~"),  # a closing fence may be longer than its opening
    ],
)
def test_a_fence_is_closed_only_by_its_own_marker(opening: str, inner: str, closing: str) -> None:
    code = f"{opening}\na = 1\n\n{inner}\n\nb = 2\n{closing}\n\n"
    blocks, pending = blocks_of(["Intro.\n\n" + code + "After.\n"])
    assert blocks == ["Intro.\n\n", code]  # the blank lines inside did not cut the code block
    assert pending == "After.\n"


def test_backquotes_in_the_info_string_do_not_open_a_fence() -> None:
    text = "```not a fence```\n\nNext.\n\nLast.\n"  # inline code: the blank lines do cut
    blocks, pending = blocks_of([text])
    assert blocks == ["```not a fence```\n\n", "Next.\n\n"]
    assert pending == "Last.\n"
