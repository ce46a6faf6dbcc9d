from __future__ import annotations

import io

import pytest

from outscale_cli.render import PlainWriter, PrefixStripper, _BlockScanner, usage_line

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
