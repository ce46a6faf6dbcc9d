"""Gaps found by mutation testing in outscale_cli/render.py, outside MarkdownWriter: where the
block scanner cuts (code fences of ``` and ~~~, longer closing fences), the thinking text's
final newline, the plain writer, the prefix stripper and the --usage line."""

from __future__ import annotations

import io
from typing import Any

import pytest

from outscale_cli.console import DIM, RESET, Environment
from outscale_cli.render import (
    PlainWriter,
    PrefixStripper,
    ThinkingWriter,
    _BlockScanner,
    usage_line,
)


def blocks_of(text: str, size: int | None = None) -> tuple[list[str], str]:
    """The finished blocks and what is still pending, `text` fed whole or `size` at a time."""
    scanner = _BlockScanner()
    blocks: list[str] = []
    step = size or len(text)
    for i in range(0, len(text), step):
        blocks.extend(scanner.feed(text[i : i + step]))
    return blocks, scanner.pending


# -- code fences: a blank line inside one never cuts ----------------------------------------------


@pytest.mark.parametrize("size", [None, 1, 4])
def test_a_tilde_fence_keeps_its_blank_lines(size: int | None) -> None:
    text = "~~~python\nx = 1\n\ny = 2\n~~~\n\nafter\n"
    assert blocks_of(text, size) == (["~~~python\nx = 1\n\ny = 2\n~~~\n\n"], "after\n")


def test_a_tilde_fence_is_not_closed_by_backticks() -> None:
    text = "~~~\na\n```\n\nstill code\n~~~\n\nafter\n"
    assert blocks_of(text) == (["~~~\na\n```\n\nstill code\n~~~\n\n"], "after\n")


def test_a_backtick_fence_is_not_closed_by_tildes() -> None:
    text = "```\na\n~~~\n\nstill code\n```\n\nafter\n"
    assert blocks_of(text) == (["```\na\n~~~\n\nstill code\n```\n\n"], "after\n")


def test_a_fence_may_be_closed_by_a_longer_one() -> None:
    text = "```\na\n\nb\n`````\n\nafter\n"
    assert blocks_of(text) == (["```\na\n\nb\n`````\n\n"], "after\n")


def test_an_indented_fence_opens_and_closes() -> None:
    text = "  ```\na\n\nb\n  ```\n\nafter\n"
    assert blocks_of(text) == (["  ```\na\n\nb\n  ```\n\n"], "after\n")


def test_text_after_a_closed_fence_is_cut_again() -> None:
    text = "```\na\n```\n\nmiddle\n\nlast\n"
    assert blocks_of(text) == (["```\na\n```\n\n", "middle\n\n"], "last\n")


def test_a_four_backtick_fence_is_closed_only_by_four_or_more() -> None:
    text = "````markdown\n```python\n\nx = 1\n```\n````\n\nafter\n"
    assert blocks_of(text) == (["````markdown\n```python\n\nx = 1\n```\n````\n\n"], "after\n")


# -- blocks, blank lines, indentation -------------------------------------------------------------


def test_a_block_is_finished_only_when_the_next_one_starts() -> None:
    scanner = _BlockScanner()
    assert scanner.feed("one\n\n") == []
    assert scanner.feed("  indented: still the same block\n\n") == []
    assert scanner.feed("two\n") == ["one\n\n  indented: still the same block\n\n"]
    assert scanner.pending == "two\n"


def test_several_blank_lines_stay_with_the_block_before() -> None:
    assert blocks_of("one\n\n \n\t\ntwo\n") == (["one\n\n \n\t\n"], "two\n")


def test_lines_without_a_blank_line_between_are_one_block() -> None:
    assert blocks_of("one\ntwo\nthree\n") == ([], "one\ntwo\nthree\n")


def test_an_unfinished_unindented_line_already_starts_the_next_block() -> None:
    scanner = _BlockScanner()
    assert scanner.feed("one\n\ntw") == ["one\n\n"]
    assert scanner.pending == "tw"
    assert scanner.feed("o\n") == []
    assert scanner.pending == "two\n"


def test_an_unfinished_indented_line_keeps_the_block_open() -> None:
    scanner = _BlockScanner()
    assert scanner.feed("- one\n\n ") == []
    assert scanner.pending == "- one\n\n "
    assert scanner.feed(" two\n\nthree\n") == ["- one\n\n  two\n\n"]
    assert scanner.pending == "three\n"


def test_three_blocks_in_one_piece() -> None:
    assert blocks_of("a\n\nb\n\nc\n\nd\n") == (["a\n\n", "b\n\n", "c\n\n"], "d\n")


# -- the thinking text: dimmed, on stderr, ended on a line of its own -----------------------------


def make_env(colour: bool) -> Environment:
    return Environment(
        stdin=io.StringIO(),
        stdout=io.StringIO(),
        stderr=io.StringIO(),
        stdin_isatty=False,
        stdout_isatty=colour,
        stderr_isatty=colour,
        colour=colour,
        secrets=[],
    )


def stderr_of(env: Environment) -> str:
    return env.stderr.getvalue()  # type: ignore[attr-defined]


def test_thinking_is_ended_by_a_newline_when_it_has_none() -> None:
    env = make_env(colour=False)
    writer = ThinkingWriter(env)
    writer.write("Let me think")
    writer.write("")
    writer.close()
    assert stderr_of(env) == "Let me think\n"
    assert env.stdout.getvalue() == ""  # type: ignore[attr-defined]


def test_thinking_that_ends_its_line_gets_no_second_newline() -> None:
    env = make_env(colour=False)
    writer = ThinkingWriter(env)
    writer.write("Let me think.\n")
    writer.close()
    assert stderr_of(env) == "Let me think.\n"


def test_closing_twice_or_without_thinking_writes_nothing_more() -> None:
    env = make_env(colour=False)
    writer = ThinkingWriter(env)
    writer.close()
    assert stderr_of(env) == ""
    writer.write("a")
    writer.close()
    writer.close()
    assert stderr_of(env) == "a\n"


def test_thinking_after_a_close_is_ended_again() -> None:
    env = make_env(colour=False)
    writer = ThinkingWriter(env)
    writer.write("a")
    writer.close()
    writer.write("b")
    writer.close()
    assert stderr_of(env) == "a\nb\n"


def test_thinking_is_dimmed_on_a_terminal() -> None:
    env = make_env(colour=True)
    writer = ThinkingWriter(env)
    writer.write("hmm")
    writer.close()
    assert stderr_of(env) == f"{DIM}hmm{RESET}\n"


def test_dimmed_thinking_that_ends_its_line_gets_no_second_newline() -> None:
    env = make_env(colour=True)
    writer = ThinkingWriter(env)
    writer.write("hmm\n")
    writer.close()
    assert stderr_of(env) == f"{DIM}hmm\n{RESET}"


# -- the plain writer -----------------------------------------------------------------------------


class Flushes(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.flushed: list[str] = []

    def flush(self) -> None:
        self.flushed.append(self.getvalue())


def test_each_piece_is_flushed_as_it_comes() -> None:
    stream = Flushes()
    writer = PlainWriter(stream, final_newline=True)
    writer.write("a")
    writer.write("")
    writer.write("b")
    assert stream.flushed == ["a", "ab"]
    writer.finish()
    assert stream.flushed[-1] == "ab\n"


def test_an_empty_answer_gets_no_newline() -> None:
    stream = Flushes()
    writer = PlainWriter(stream, final_newline=True)
    writer.write("")
    writer.finish()
    assert stream.getvalue() == ""
    assert stream.flushed == [""]


def test_an_empty_last_piece_does_not_hide_the_missing_newline() -> None:
    stream = io.StringIO()
    writer = PlainWriter(stream, final_newline=True)
    writer.write("a\nb")
    writer.write("")
    writer.finish()
    assert stream.getvalue() == "a\nb\n"


# -- the prefix stripper --------------------------------------------------------------------------


def stripped(prefix: str, *pieces: str) -> str:
    out = io.StringIO()
    writer = PrefixStripper(PlainWriter(out, final_newline=False), prefix)
    for piece in pieces:
        writer.write(piece)
    writer.finish()
    return out.getvalue()


def test_the_prefix_is_held_until_it_can_be_decided() -> None:
    out = io.StringIO()
    writer = PrefixStripper(PlainWriter(out, final_newline=False), "Once")
    writer.write("On")
    assert out.getvalue() == ""
    writer.write("ce upon")
    assert out.getvalue() == " upon"
    writer.write(" a time")
    assert out.getvalue() == " upon a time"


def test_a_reply_exactly_the_prefix_prints_nothing() -> None:
    assert stripped("Once", "Once") == ""
    assert stripped("Once", "On", "ce") == ""


def test_without_a_prefix_everything_passes() -> None:
    assert stripped("", "a", "b") == "ab"


def test_a_reply_not_repeating_the_prefix_is_printed_whole() -> None:
    assert stripped("Once", "Twice") == "Twice"
    assert stripped("Once upon", "Onc", "e") == ""  # ended early: only part of the prefix
    assert stripped("Once upon", "No") == "No"


def test_the_final_newline_comes_after_the_released_text() -> None:
    out = io.StringIO()
    writer = PrefixStripper(PlainWriter(out, final_newline=True), "Once")
    writer.write("Once upon")
    writer.finish()
    assert out.getvalue() == " upon\n"


# -- --usage --------------------------------------------------------------------------------------


def test_usage_counts_the_speed_from_the_first_token() -> None:
    usage = {"prompt_tokens": 3, "completion_tokens": 11, "total_tokens": 14}
    assert usage_line(usage, 1.0, 3.0, "thinking") == (
        "usage: tokens: 3 prompt + 11 completion = 14 total, first token 1000 ms (thinking), "
        "total 3.00 s, 5.5 tokens/s"
    )


def test_usage_of_one_token_counts_the_whole_time() -> None:
    usage = {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
    assert usage_line(usage, 1.5, 2.0) == (
        "usage: tokens: 3 prompt + 1 completion = 4 total, first token 1500 ms (answer), "
        "total 2.00 s, 0.5 tokens/s"
    )


def test_usage_when_everything_came_at_the_first_token() -> None:
    usage = {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    assert usage_line(usage, 2.0, 2.0).endswith("total 2.00 s, 2.0 tokens/s")


def test_usage_without_a_first_token_time_counts_the_whole_time() -> None:
    usage = {"prompt_tokens": 3, "completion_tokens": 8, "total_tokens": 11}
    assert usage_line(usage, None, 4.0) == (
        "usage: tokens: 3 prompt + 8 completion = 11 total, total 4.00 s, 2.0 tokens/s"
    )


def test_usage_without_time_gives_no_speed() -> None:
    usage = {"prompt_tokens": 3, "completion_tokens": 8, "total_tokens": 11}
    assert usage_line(usage, None, 0.0) == (
        "usage: tokens: 3 prompt + 8 completion = 11 total, total 0.00 s"
    )


def test_usage_with_counts_that_are_not_numbers() -> None:
    usage = {"prompt_tokens": 3, "completion_tokens": "8", "total_tokens": "11"}
    assert usage_line(usage, 0.25, 1.0) == (
        "usage: tokens: not reported by the server, first token 250 ms (answer), total 1.00 s"
    )


def test_an_answer_starting_with_a_blank_line_is_still_cut() -> None:
    blocks, pending = blocks_of("\nA\n\nB\n")
    assert "".join(blocks) == "\nA\n\n"
    assert pending == "B\n"


def test_a_line_indented_by_one_space_continues_the_block() -> None:
    assert blocks_of("- one\n\n two\n\nthree\n") == (["- one\n\n two\n\n"], "three\n")


class Recorder:
    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.finished = False

    def write(self, text: str) -> None:
        assert isinstance(text, str)
        self.pieces.append(text)

    def finish(self) -> None:
        self.finished = True


def test_the_prefix_is_decided_once_as_long_as_it() -> None:
    assert stripped("Once", "Onc", "e upon") == " upon"


def test_after_the_prefix_every_piece_passes_as_it_is() -> None:
    assert stripped("Once", "Once upon", "O", "nce") == " uponOnce"


def test_a_reply_that_is_only_the_prefix_writes_text_only() -> None:
    inner = Recorder()
    writer = PrefixStripper(inner, "Once")
    writer.write("On")
    writer.finish()
    assert "".join(inner.pieces) == "" and inner.finished


def test_usage_speed_over_a_short_generation() -> None:
    usage = {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}
    assert usage_line(usage, 0.5, 1.0).endswith(", 10.0 tokens/s")
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    assert usage_line(usage, 1.0, 2.0).endswith(", 2.0 tokens/s")


# -- `models` on a terminal: one row a model ------------------------------------------------------


def test_a_model_card_gives_its_id_context_capabilities_and_aliases() -> None:
    from outscale_cli.render import model_row

    card = {
        "id": "small-2409",
        "max_context_length": 32768,
        "capabilities": {
            "completion_chat": True,
            "completion_fim": True,
            "function_calling": True,
            "vision": True,
            "other": True,
        },  # fmt: skip
        "aliases": ["mistral-small-latest", "ms"],
    }
    assert model_row(card) == (
        "small-2409", "32,768", "chat, fim, tools, vision", "mistral-small-latest, ms"
    )  # fmt: skip
    some = {"id": "m", "capabilities": {"completion_chat": False, "vision": True}}
    assert model_row(some) == ("m", "", "vision", "")


@pytest.mark.parametrize(
    ("card", "row"),
    [
        ({}, ("?", "", "", "")),
        ({"id": 7, "capabilities": None, "aliases": None}, ("7", "", "", "")),
        ({"id": "m", "max_context_length": "32768"}, ("m", "", "", "")),
        ({"id": "m", "capabilities": ["completion_chat"]}, ("m", "", "", "")),
        ({"id": "m", "aliases": "alias"}, ("m", "", "", "")),
        ({"id": "m", "aliases": [1, "b"]}, ("m", "", "", "1, b")),
    ],
)
def test_a_model_card_of_odd_shapes_gives_what_it_can(card: dict, row: tuple) -> None:
    from outscale_cli.render import model_row

    assert model_row(card) == row


CARDS = [
    {"id": "small-2409", "max_context_length": 32768, "aliases": ["mistral-small-latest"],
     "capabilities": {"completion_chat": True, "function_calling": True}},
    {"id": "codestral-2405", "max_context_length": 256000,
     "capabilities": {"completion_fim": True}},
]  # fmt: skip


def test_the_models_table_aligns_the_context_right() -> None:
    from outscale_cli.render import print_models_table

    out = io.StringIO()
    print_models_table(out, CARDS)
    assert out.getvalue() == (
        "id              context  capabilities  aliases             \n"
        "small-2409       32,768  chat, tools   mistral-small-latest\n"
        "codestral-2405  256,000  fim                               \n"
    )


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_models_table_header_is_bold_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    from outscale_cli.render import print_models_table

    for name in ("NO_COLOR", "FORCE_COLOR", "COLORTERM", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    out = Terminal()
    print_models_table(out, CARDS)
    bold = "\x1b[1m{}\x1b[0m".format
    header = (bold(" ") * 2).join(
        bold(title) for title in ("id            ", "context", "capabilities", "aliases" + " " * 13)
    )
    assert out.getvalue() == (
        f"{header}\n"
        "small-2409       32,768  chat, tools   mistral-small-latest\n"
        "codestral-2405  256,000  fim                               \n"
    )


# -- a block taller than the terminal: printed for good while it streams --------------------------


@pytest.fixture
def xterm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")  # not a dumb terminal, whatever runs the tests


class EveryWrite:
    """A clock for MarkdownWriter that lets every write repaint: it moves a second before each
    paint, and not at all while painting (a paint that takes no time)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.calls = 0

    def __call__(self) -> float:
        self.calls += 1
        if self.calls % 2:
            self.now += 1.0
        return self.now


def stream_unfinished(text: str, width: int = 40, height: int = 10) -> tuple[Any, Any, Any]:
    """`text` written piece by piece to a MarkdownWriter on a small terminal: (the screen
    before finish(), the writer, the output stream), every write replayed on the screen."""
    from outscale_cli.render import MarkdownWriter
    from tests.unit.test_render import Screen, pieces_of

    out = io.StringIO()
    writer = MarkdownWriter(
        out, width=width, height=height, force_terminal=True, clock=EveryWrite()
    )
    screen = Screen(width, height)
    for piece in pieces_of(text):
        writer.write(piece)
        screen.feed(out.getvalue())
        out.seek(0)
        out.truncate()
        assert screen.lost_ups == 0, "the live display grew taller than the terminal"
    return screen, writer, out


def finished(screen: Any, writer: Any, out: io.StringIO) -> list[str]:
    writer.finish()
    screen.feed(out.getvalue())
    assert screen.lost_ups == 0
    return list(screen.lines())


CODE_LINES = [f"line_{i} = {i}" for i in range(60)]


def test_a_tall_code_block_is_printed_for_good_while_it_streams(xterm: None) -> None:
    from tests.unit.test_render import once

    text = "Some code:\n\n```python\n" + "".join(f"{line}\n" for line in CODE_LINES)
    screen, writer, out = stream_unfinished(text)
    shown = [line.strip() for line in screen.lines()]
    assert len(screen.rows) > 50  # most of it scrolled up, printed for good
    for line in CODE_LINES:  # every line received is on the screen or above it, once
        assert shown.count(line) == 1, line
    assert finished(screen, writer, out) == once(text)


def test_a_closed_code_block_in_a_tall_block_is_printed_whole(xterm: None) -> None:
    from tests.unit.test_render import once

    code = "```\n" + "".join(f"{line}\n" for line in CODE_LINES[:15]) + "```\n"
    text = f"{code}Then a paragraph right after it, with words {WORDS_40}\n"
    screen, writer, out = stream_unfinished(text)
    shown = [line.strip() for line in screen.lines()]
    for line in CODE_LINES[:15]:
        assert shown.count(line) == 1, line
    assert finished(screen, writer, out) == once(text)


WORDS_40 = " ".join(f"v{i}" for i in range(200))


def test_a_tall_paragraph_after_a_heading_is_printed_for_good(xterm: None) -> None:
    from tests.unit.test_render import once

    text = f"## A heading\n{WORDS_40}"
    screen, writer, out = stream_unfinished(text)
    assert " ".join(screen.lines()).split() == ["A", "heading", *WORDS_40.split()]
    assert finished(screen, writer, out) == once(text)


@pytest.mark.parametrize("numbered", [False, True])
def test_a_tall_list_is_printed_for_good_while_it_streams(xterm: None, numbered: bool) -> None:
    from tests.unit.test_render import once

    items = [f"item {i} " + "x " * (i % 7) for i in range(1, 31)]
    text = "".join(f"{f'{i}.' if numbered else '-'} {item}\n" for i, item in enumerate(items, 1))
    screen, writer, out = stream_unfinished(text)
    shown = " ".join(screen.lines())
    for i in range(1, 31):
        assert shown.count(f"item {i} ") == 1, i
    assert finished(screen, writer, out) == once(text)


def test_a_tall_paragraph_shows_every_word_received_whatever_the_markup(xterm: None) -> None:
    from tests.unit.test_render import once

    words = [f"w{i}" if i % 25 else f"`c{i}`" for i in range(400)]
    text = " ".join(words)
    screen, writer, out = stream_unfinished(text)
    assert " ".join(screen.lines()).split() == [w.strip("`") for w in words]
    assert finished(screen, writer, out) == once(text)


def test_a_tall_list_numbered_by_the_renderer_keeps_its_numbers(xterm: None) -> None:
    from tests.unit.test_render import once

    items = [f"item {i} " + "x " * (i % 7) for i in range(1, 31)]
    text = "".join(f"1. {item}\n" for item in items)
    screen, writer, out = stream_unfinished(text)
    assert finished(screen, writer, out) == once(text)


def test_text_after_a_prefix_given_in_small_pieces_is_printed_at_once() -> None:
    out = io.StringIO()
    writer = PrefixStripper(PlainWriter(out, final_newline=False), "Once")
    for piece in ("O", "n", "c", "e"):
        writer.write(piece)
    writer.write(" a")
    assert out.getvalue() == " a"  # decided once the prefix's length came, not held further


def test_a_rows_plain_text_joins_its_segments_without_the_controls() -> None:
    from rich.control import Control
    from rich.segment import Segment

    from outscale_cli.render import _plain

    row = [Segment("a"), Segment("b", None), Control.move(1, 0).segment, Segment(" c")]
    assert _plain(row) == "ab c"


def test_blocks_on_a_terminal_are_one_blank_row_apart(xterm: None) -> None:
    from outscale_cli.render import MarkdownWriter
    from tests.unit.test_render import Clock, Screen

    out = io.StringIO()
    writer = MarkdownWriter(out, width=40, height=10, force_terminal=True, clock=Clock())
    for piece in ("A paragraph.\n\n", "- one\n- two\n\n", "End."):
        writer.write(piece)
    writer.finish()
    screen = Screen(40, 10)
    screen.feed(out.getvalue())
    assert screen.lines() == ["A paragraph.", "", " • one", " • two", "", "End."]


def test_a_block_started_by_a_piece_without_a_line_end_is_not_split(xterm: None) -> None:
    from tests.unit.test_render import once

    text = "Intro.\n\nbcd efg\n"
    pieces = ["Intro.\n\n", "b", "cd", " efg\n"]
    from outscale_cli.render import MarkdownWriter
    from tests.unit.test_render import Screen

    out = io.StringIO()
    writer = MarkdownWriter(out, width=40, height=10, force_terminal=True, clock=EveryWrite())
    for piece in pieces:
        writer.write(piece)
    writer.finish()
    screen = Screen(40, 10)
    screen.feed(out.getvalue())
    assert screen.lines() == once(text) == ["Intro.", "", "bcd efg"]


def test_what_the_terminal_echoed_after_the_last_block_is_cleared(xterm: None) -> None:
    from outscale_cli.render import MarkdownWriter
    from tests.unit.test_render import Screen

    out = io.StringIO()
    never = lambda: -1.0  # noqa: E731 - a clock before the first repaint: nothing live
    writer = MarkdownWriter(out, width=40, height=10, force_terminal=True, clock=never)
    writer.write("Intro.\n\n")
    writer.write("Next\n")  # the next block has begun: Intro. is printed for good
    screen = Screen(40, 10)
    screen.feed(out.getvalue())
    screen.feed("^C")  # the terminal echoes Ctrl-C where the cursor is
    out.seek(0)
    out.truncate()
    writer.finish()
    screen.feed(out.getvalue())
    assert screen.lines() == ["Intro.", "", "Next"]


def test_a_one_row_terminal_keeps_one_live_row(xterm: None) -> None:
    screen, writer, out = stream_unfinished(" ".join(f"w{i}" for i in range(60)), height=2)
    assert screen.lost_ups == 0
    finished(screen, writer, out)


def test_the_scanner_sees_an_indented_line_before_it_is_complete() -> None:
    scanner = _BlockScanner()
    assert scanner.feed("- one\n\n t") == []
    assert scanner.feed("wo\n\nthree\n") == ["- one\n\n two\n\n"]


def test_the_scanner_keeps_every_block_a_piece_finishes() -> None:
    scanner = _BlockScanner()
    assert scanner.feed("a\n\nb\n\nc") == ["a\n\n", "b\n\n"]
    assert scanner.pending == "c"


def test_the_scanner_remembers_a_blank_line_across_pieces() -> None:
    scanner = _BlockScanner()
    assert scanner.feed("a\n\nb\n\n") == ["a\n\n"]
    assert scanner.feed("c\n") == ["b\n\n"]
    assert scanner.pending == "c\n"


@pytest.mark.parametrize(("start", "count"), [(1, 12), (0, 12)])
def test_a_tall_numbered_list_keeps_its_numbers_aligned(
    xterm: None, start: int, count: int
) -> None:
    from tests.unit.test_render import once

    text = "".join(f"{i}. item {i} " + "y " * 20 + "\n" for i in range(start, start + count))
    screen, writer, out = stream_unfinished(text)
    assert finished(screen, writer, out) == once(text)


def test_a_few_tall_bullets_are_printed_for_good_while_they_stream(xterm: None) -> None:
    items = [f"item {i} " + "z " * 50 for i in range(1, 7)]  # 6 items, 3 rows each
    screen, writer, out = stream_unfinished("".join(f"- {item}\n" for item in items))
    shown = " ".join(screen.lines())
    for i in range(1, 7):
        assert shown.count(f"item {i} ") == 1, i
    finished(screen, writer, out)


def test_text_as_long_as_the_prefix_is_decided_at_once() -> None:
    out = io.StringIO()
    writer = PrefixStripper(PlainWriter(out, final_newline=False), "Once")
    writer.write("Twic")  # as long as the prefix, and not it: printed, not held
    assert out.getvalue() == "Twic"
