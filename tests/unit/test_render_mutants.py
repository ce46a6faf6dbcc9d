"""What the terminal shows while Markdown streams, in the cases the mutation run of
outscale_cli/render.py found untested: tall code blocks that arrive closed, or with blank lines
in them, text right after a fence, tiny terminals, and the screen at every write."""

from __future__ import annotations

import io
from typing import Any

import pytest

from outscale_cli.render import MarkdownWriter
from tests.unit.test_gaps_render import EveryWrite
from tests.unit.test_render import Screen, once, pieces_of


@pytest.fixture(autouse=True)
def xterm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")  # not a dumb terminal, whatever runs the tests


def shown(
    pieces: list[str], height: int = 10, width: int = 40, clock: Any = None
) -> tuple[list[list[str]], list[str]]:
    """`pieces` written one by one to a MarkdownWriter on a small terminal whose clock lets
    every write repaint (or `clock`): (the screen's lines after each write, the lines once
    finished)."""
    out = io.StringIO()
    writer = MarkdownWriter(
        out, width=width, height=height, force_terminal=True, clock=clock or EveryWrite()
    )
    screen = Screen(width, height)
    steps = []
    for piece in pieces:
        writer.write(piece)
        screen.feed(out.getvalue())
        out.seek(0)
        out.truncate()
        assert screen.lost_ups == 0, "the live display grew taller than the terminal"
        steps.append(screen.lines())
    writer.finish()
    screen.feed(out.getvalue())
    assert screen.lost_ups == 0
    return steps, screen.lines()


CODE = "```python\n" + "".join(f"line_{i} = {i}\n" for i in range(30)) + "```\n"
# Code with a blank line after every third line: a blank line is never lost at a cut.
SPACED = "```python\n" + "".join(
    f"line_{i} = {i}\n" + ("\n" if i % 3 == 2 else "") for i in range(30)
)


@pytest.mark.parametrize("height", [10, 3, 2])
@pytest.mark.parametrize("intro", ["", "Intro.\n\n"])
def test_a_tall_closed_code_block_in_one_piece_then_a_paragraph(height: int, intro: str) -> None:
    pieces = [intro, CODE, "\n", "After."] if intro else [CODE, "\n", "After."]
    _, final = shown(pieces, height)
    assert final == once("".join(pieces))


@pytest.mark.parametrize("height", [10, 3])
def test_text_right_after_a_tall_closed_code_block(height: int) -> None:
    pieces = [CODE, "More", " text."]  # no blank line: one block for the scanner
    _, final = shown(pieces, height)
    assert final == once("".join(pieces))


@pytest.mark.parametrize("height", [10, 3, 2])
@pytest.mark.parametrize("intro", ["", "Intro.\n\n"])
def test_a_tall_code_block_with_blank_lines_keeps_them(height: int, intro: str) -> None:
    text = intro + SPACED
    _, final = shown(pieces_of(text), height)
    assert final == once(text)


@pytest.mark.parametrize("height", [10, 3, 2])
def test_a_tall_code_block_with_blank_lines_given_line_by_line(height: int) -> None:
    lines = ["Intro.\n\n"] + [line + "\n" for line in SPACED.split("\n")[:-1]]
    _, final = shown(lines, height)
    assert final == once("".join(lines))


@pytest.mark.parametrize("height", [10, 3])
def test_a_tall_unclosed_code_block_in_one_piece(height: int) -> None:
    pieces = [CODE.removesuffix("```\n"), "line_30", " = 30\n"]
    steps, final = shown(pieces, height)
    assert final == once("".join(pieces))


@pytest.mark.parametrize("last", ["line_30", "```"])
def test_every_finished_line_of_a_tall_code_block_in_one_piece_is_shown(last: str) -> None:
    # The block arrives at once, its last line unfinished (a line of code, or what may be the
    # closing fence): every finished line is on the screen at once, none twice.
    text = CODE.removesuffix("```\n") + last
    steps, final = shown([text, "\n", "After."])
    assert [line.strip() for line in steps[0]].count("```") == 0
    for i in range(30):
        assert [line.strip() for line in steps[0]].count(f"line_{i} = {i}") == 1, i
    assert final == once(text + "\nAfter.")


@pytest.mark.parametrize("height", [3, 2])
def test_a_code_block_without_info_string_on_a_tiny_terminal(height: int) -> None:
    pieces = ["```\n", "a = 1\n", "b = 2\n", "c = 3\n", "```\n", "\n", "After."]
    _, final = shown(pieces, height)
    assert final == once("".join(pieces))


def paragraph(rows: int, starts: dict[int, str] | None = None, star: int | None = None) -> str:
    """A paragraph of `rows` rows of eight words on a 40-column terminal: four-character words,
    row r beginning with `starts[r]` if given, and a lone `*` (as in 2*3) in row `star`."""
    words = [f"w{i:03}" for i in range(8 * rows)]
    for row, word in (starts or {}).items():
        words[8 * row] = word
    if star is not None:
        words[8 * star + 3] = "2*3"
    return " ".join(words)


def words_shown(lines: list[str]) -> list[str]:
    return " ".join(lines).split()


@pytest.mark.parametrize("marker", ["-", "#", "1.", ">"])
def test_a_tall_paragraph_is_not_cut_before_a_word_that_would_start_a_block(marker: str) -> None:
    # Its last row begins with a list marker, a heading's #...: the text after a cut there
    # would be rendered as a list or a heading; the row before it is cut instead.
    text = paragraph(5, {4: marker})
    steps, final = shown([text, " end"], height=3)
    assert words_shown(steps[0]) == text.split()  # rows 0-2 printed for good, 3-4 live
    assert final == once(text + " end")


def test_a_tall_paragraph_whose_last_two_rows_start_blocks_is_cut_before_them() -> None:
    text = paragraph(5, {3: "-abc", 4: "#abc"})  # four characters: the rows keep 8 words
    steps, _ = shown([text, " end"], height=3)
    assert words_shown(steps[0])[:16] == text.split()[:16]  # the first two rows: for good


@pytest.mark.parametrize("star", [1, 5, 6])
def test_a_tall_paragraph_is_cut_before_the_row_of_an_unpaired_delimiter(star: int) -> None:
    # Text to come could pair the `*` (emphasis): no cut after it. The rows before it can no
    # longer change: they are printed for good, whatever the text to come.
    text = paragraph(10, star=star)
    steps, final = shown([text, " end"], height=3)
    assert words_shown(steps[0])[: 8 * star] == text.split()[: 8 * star]
    assert final == once(text + " end")


def test_a_paragraph_on_a_two_row_terminal_prints_its_first_row() -> None:
    long = "x" * 38  # a row of its own
    text = f"{long} w1 w2 w3 w4"
    steps, final = shown([text, " end"], height=2)
    assert words_shown(steps[0]) == text.split()
    assert final == once(text + " end")


def test_a_tall_list_ending_in_a_nested_list_is_rendered_as_a_whole() -> None:
    items = "".join(f"- item {i} " + "x " * 12 + "\n" for i in range(8))
    nested = "".join(f"  - sub {i} " + "z " * 12 + "\n" for i in range(6))
    pieces = pieces_of(items + nested)
    _, final = shown(pieces)
    assert final == once("".join(pieces))


def test_the_first_of_two_tall_bullets_is_printed_once_the_second_begins() -> None:
    first, second = "- first " + "a " * 25 + "\n", "- second " + "b " * 25
    steps, final = shown([first, second, " end"], height=3)
    assert "first" in " ".join(steps[1])  # printed for good: it can no longer change
    assert final == once(first + second + " end")


# -- what is shown, when ------------------------------------------------------------------------


class Steps:
    """A clock that reads the times given, one per call, then stays at the last one."""

    def __init__(self, *times: float) -> None:
        self.times = list(times)

    def __call__(self) -> float:
        return self.times.pop(0) if len(self.times) > 1 else self.times[0]


def painted(clock: Steps, pieces: list[str]) -> list[list[str]]:
    """The screen's lines after each of `pieces`, written to a writer with `clock`."""
    return shown(pieces, clock=clock)[0]


def test_the_first_piece_is_shown_at_once_whatever_the_clock_reads() -> None:
    assert painted(Steps(0.5), ["Hello"]) == [["Hello"]]


def test_pieces_are_shown_at_most_eight_times_a_second() -> None:
    # Each paint takes no time; the next one may come 1/8 s after it, not before.
    clock = Steps(10.0, 10.0, 10.1, 10.2, 10.2)
    assert painted(clock, ["one", " two", " three"]) == [["one"], ["one"], ["one two three"]]


def test_a_slow_paint_is_followed_by_a_longer_pause() -> None:
    # A paint that took 0.1 s: the next one waits until 0.4 s later (a quarter of the time
    # spent painting), not 1/8 s.
    clock = Steps(10.0, 10.1, 10.3, 10.45, 10.45)
    assert painted(clock, ["one", " two", " three"]) == [["one"], ["one"], ["one two three"]]


def test_a_tall_table_shows_as_many_of_its_last_rows_as_the_terminal_holds() -> None:
    # A table is not cut (its columns' widths change as rows come): its last rows are shown,
    # as many as the terminal has rows but the one the cursor waits on.
    rows = "".join(f"| {i} | {'x' * (i % 23)} |\n" for i in range(40))
    steps, _ = shown([f"| n | x |\n|---|---|\n{rows}", "| 40 |"], height=10)
    # Nine rows on a ten-row terminal: the table's rows 32 to 39 and the blank row below them.
    assert [line.split()[0] for line in steps[0]] == [str(i) for i in range(32, 40)]


def test_the_writer_looks_at_its_own_stream_not_at_stdout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdout", Terminal())
    out = io.StringIO()  # not a terminal: the text is written as it is, no escape codes
    writer = MarkdownWriter(out, width=40, height=10, clock=Steps(0.0))
    writer.write("# Title\n\nSome *text*.")
    writer.finish()
    assert "\x1b" not in out.getvalue()
    assert "Title" in out.getvalue()


def test_every_line_of_a_tall_closed_code_block_in_one_piece_is_shown_once() -> None:
    steps, final = shown([CODE, "\n", "After."])
    lines = [line.strip() for line in steps[0]]
    for i in range(30):
        assert lines.count(f"line_{i} = {i}") == 1, i
    assert final == once(CODE + "\nAfter.")


@pytest.mark.parametrize("height", [10, 3])
def test_a_paragraph_that_fits_stays_live_its_next_line_may_make_it_a_heading(
    height: int,
) -> None:
    # Two rows, on a terminal with room for them: nothing is printed for good yet, so the
    # "===" line that turns the paragraph into a heading is rendered as such.
    text = "a" * 30 + " " + "b" * 20  # a heading is centred: its rows move
    pieces = [text, "\n", "===", "\n\nAfter."]
    _, final = shown(pieces, height)
    assert final == once("".join(pieces))
