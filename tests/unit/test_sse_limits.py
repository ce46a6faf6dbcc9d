"""A line, or an event, longer than any completion stream's is refused (exit 7), not held in
memory without end."""

from __future__ import annotations

import pytest

from outscale_cli import sse
from outscale_cli.errors import BadResponse
from outscale_cli.sse import EventDecoder


@pytest.fixture(autouse=True)
def small_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sse, "MAX_EVENT_BYTES", 100)


def test_a_line_that_never_ends_is_refused_as_it_grows() -> None:
    decoder = EventDecoder()
    decoder.feed(b"data: " + b"x" * 60)
    with pytest.raises(BadResponse, match="longer than 100 bytes"):
        decoder.feed(b"y" * 60)  # still no newline: 126 bytes held


def test_a_long_line_in_one_chunk_is_refused() -> None:
    with pytest.raises(BadResponse, match="longer than 100 bytes"):
        EventDecoder().feed(b"data: " + b"x" * 200 + b"\n\n")


def test_an_event_of_many_data_lines_that_never_ends_is_refused() -> None:
    decoder = EventDecoder()
    with pytest.raises(BadResponse, match="longer than 100 bytes"):
        for _ in range(10):
            decoder.feed(b"data: 0123456789abc\n")  # 20 bytes a line, no blank line


def test_events_up_to_the_limit_pass_and_the_count_starts_again() -> None:
    decoder = EventDecoder()
    event = b"data: " + b"x" * 80 + b"\n\n"  # 86 bytes: under the limit
    got = []
    for _ in range(5):  # 430 bytes in all: each event counted on its own
        got += decoder.feed(event[:40])
        got += decoder.feed(event[40:])
    assert got == ["x" * 80] * 5
