"""Gaps found by mutation testing in outscale_cli/sse.py: a CR at the end of one chunk swallows
one LF only, the last line's pieces are joined at close, and a bad byte is located."""

from __future__ import annotations

import pytest

from outscale_cli.errors import BadResponse
from outscale_cli.sse import EventDecoder


def test_a_cr_at_a_chunk_end_swallows_one_lf_only() -> None:
    decoder = EventDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\n") == []  # the LF of that CR LF
    assert decoder.feed(b"\n") == ["a"]  # a blank line: the event ends here
    assert decoder.feed(b"data: b\n") == []
    assert decoder.feed(b"\n") == ["b"]


def test_the_last_line_in_pieces_is_joined_at_close() -> None:
    decoder = EventDecoder()
    assert decoder.feed(b"data: ab") == []
    assert decoder.feed(b"c") == []
    assert decoder.feed(b"d") == []
    assert decoder.close() == ["abcd"]


def test_an_invalid_byte_is_located_in_its_line() -> None:
    decoder = EventDecoder()
    with pytest.raises(BadResponse) as caught:
        decoder.feed(b"data: caf\xe9\n")
    assert caught.value.message == (
        "undecodable event in the stream: invalid UTF-8 at byte 9 of a line"
    )
