"""outscale_cli.sse: bytes in, the data of each event out."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from outscale_cli.errors import BadResponse
from outscale_cli.sse import EventDecoder, decode_all

from .conftest import RECORDED

FAST = settings(max_examples=200, deadline=None)


def feed_all(chunks: list[bytes]) -> list[str]:
    """Like decode_all, but through one decoder fed chunk by chunk, close() included."""
    decoder = EventDecoder()
    events: list[str] = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    return events + decoder.close()


def split_bytes(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted(set(cuts))
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in pairwise(bounds)]


# -- line endings ---------------------------------------------------------------------------


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
def test_each_line_ending_separates_events(eol: bytes) -> None:
    stream = b"data: one" + eol + eol + b"data: two" + eol + eol
    assert decode_all([stream]) == ["one", "two"]


def test_mixed_line_endings_in_one_stream() -> None:
    stream = b"data: a\r\n\r\ndata: b\n\ndata: c\r\r"
    assert decode_all([stream]) == ["a", "b", "c"]


def test_crlf_split_across_chunks_is_one_line_end() -> None:
    decoder = EventDecoder()
    assert decoder.feed(b"data: a\r") == []
    # The LF completes the CR: it is not a blank line, so the event goes on with `b`.
    assert decoder.feed(b"\ndata: b\n\n") == ["a\nb"]


def test_crlf_split_across_chunks_then_blank_line_ends_the_event() -> None:
    decoder = EventDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"\r\n") == ["a"]


def test_cr_at_chunk_end_survives_an_empty_chunk() -> None:
    decoder = EventDecoder()
    decoder.feed(b"data: a\r")
    decoder.feed(b"")
    assert decoder.feed(b"\ndata: b\r\n\r\n") == ["a\nb"]


def test_lone_cr_then_cr_is_a_blank_line() -> None:
    decoder = EventDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\r") == ["a"]


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c"])
def test_unicode_line_separators_stay_inside_the_data(separator: str) -> None:
    stream = f"data: left{separator}right\n\n".encode()
    assert decode_all([stream]) == [f"left{separator}right"]


# -- UTF-8 ----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["é", "€", "😀", "日本"])
def test_chunk_ending_inside_a_multibyte_character(text: str) -> None:
    stream = f"data: {text}\n\n".encode()
    start = len(b"data: ")
    for cut in range(start + 1, start + len(text.encode())):
        assert feed_all([stream[:cut], stream[cut:]]) == [text], cut


def test_one_byte_chunks_decode_multibyte_text() -> None:
    stream = "data: Ça coûte 5 €, 😀\n\n".encode()
    assert feed_all([stream[i : i + 1] for i in range(len(stream))]) == ["Ça coûte 5 €, 😀"]


def test_invalid_utf8_raises_bad_response() -> None:
    with pytest.raises(BadResponse):
        decode_all([b"data: caf\xe9\n\n"])


def test_invalid_utf8_in_unterminated_last_line_raises_at_close() -> None:
    decoder = EventDecoder()
    assert decoder.feed(b"data: \xff\xfe") == []
    with pytest.raises(BadResponse):
        decoder.close()


def test_truncated_multibyte_character_at_end_of_stream_raises() -> None:
    with pytest.raises(BadResponse):
        decode_all(["data: €".encode()[:-1]])


# -- fields ---------------------------------------------------------------------------------


def test_data_without_space_after_colon() -> None:
    assert decode_all([b"data:{}\n\n"]) == ["{}"]


def test_only_one_leading_space_is_removed() -> None:
    assert decode_all([b"data:  indented\n\n"]) == [" indented"]


def test_trailing_spaces_in_data_are_kept() -> None:
    assert decode_all([b"data: x  \n\n"]) == ["x  "]


def test_comment_lines_are_ignored() -> None:
    stream = b": keep-alive\n\ndata: x\n\n: keep-alive\n\n"
    assert decode_all([stream]) == ["x"]


def test_comment_between_data_lines_does_not_end_the_event() -> None:
    assert decode_all([b"data: a\n: ping\ndata: b\n\n"]) == ["a\nb"]


def test_multiline_data_joined_with_newline() -> None:
    assert decode_all([b"data: first\ndata: second\ndata:third\n\n"]) == ["first\nsecond\nthird"]


def test_empty_data_line_contributes_an_empty_line() -> None:
    assert decode_all([b"data: a\ndata:\ndata: b\n\n"]) == ["a\n\nb"]


def test_data_field_without_colon_is_an_empty_value() -> None:
    assert decode_all([b"data\n\n"]) == [""]


def test_event_id_retry_and_unknown_fields_are_ignored() -> None:
    stream = b"event: message\nid: 7\nretry: 1000\nfoo: bar\ndata: x\n\n"
    assert decode_all([stream]) == ["x"]


def test_event_without_data_produces_nothing() -> None:
    assert decode_all([b"event: ping\nid: 3\n\n"]) == []


def test_blank_lines_alone_produce_nothing() -> None:
    assert decode_all([b"\n\n\r\n\r\r"]) == []


def test_field_name_is_case_sensitive() -> None:
    assert decode_all([b"Data: x\n\nDATA: y\n\n"]) == []


# -- feeding and closing --------------------------------------------------------------------


def test_feed_returns_events_as_soon_as_they_complete() -> None:
    decoder = EventDecoder()
    assert decoder.feed(b"data: a\n") == []
    assert decoder.feed(b"\ndata: b\n\ndata: c") == ["a", "b"]
    assert decoder.close() == ["c"]


def test_line_split_over_many_chunks() -> None:
    decoder = EventDecoder()
    for piece in (b"da", b"ta", b": hel", b"lo"):
        assert decoder.feed(piece) == []
    assert decoder.feed(b"\n\n") == ["hello"]


def test_unterminated_last_event_is_returned_at_close() -> None:
    decoder = EventDecoder()
    assert decoder.feed(b"data: 42") == []
    assert decoder.close() == ["42"]


def test_last_event_without_blank_line_is_returned_at_close() -> None:
    decoder = EventDecoder()
    assert decoder.feed(b"data: 42\n") == []
    assert decoder.close() == ["42"]


def test_close_after_a_complete_stream_returns_nothing() -> None:
    decoder = EventDecoder()
    assert decoder.feed(b"data: 1\n\n") == ["1"]
    assert decoder.close() == []


def test_unterminated_comment_at_close_is_no_event() -> None:
    decoder = EventDecoder()
    decoder.feed(b": keep-alive")
    assert decoder.close() == []


def test_empty_stream() -> None:
    assert decode_all([]) == []
    assert decode_all([b"", b""]) == []


# -- the recorded stream --------------------------------------------------------------------


def test_recorded_high_stream_decodes_to_json_events_ending_with_done() -> None:
    raw = (RECORDED / "magistral-high-stream.sse").read_bytes()
    events = decode_all([raw])
    assert events[-1] == "[DONE]"
    assert len(events) == raw.count(b"data:")
    assert all(e.startswith("{") for e in events[:-1])


# -- properties -----------------------------------------------------------------------------

HIGH_STREAM = (RECORDED / "magistral-high-stream.sse").read_bytes()
HIGH_EVENTS = decode_all([HIGH_STREAM])


@FAST
@given(st.lists(st.integers(min_value=0, max_value=len(HIGH_STREAM)), max_size=60))
def test_any_split_of_the_recorded_stream_gives_the_same_events(cuts: list[int]) -> None:
    assert feed_all(split_bytes(HIGH_STREAM, cuts)) == HIGH_EVENTS


@FAST
@given(
    st.sampled_from([b"\n", b"\r\n", b"\r"]),
    st.lists(st.integers(min_value=0, max_value=len(HIGH_STREAM)), max_size=30),
)
def test_recorded_stream_with_other_line_endings_gives_the_same_events(
    eol: bytes, cuts: list[int]
) -> None:
    converted = HIGH_STREAM.replace(b"\n", eol)
    assert feed_all(split_bytes(converted, cuts)) == HIGH_EVENTS


# A line of data: no CR or LF inside, anything else (including U+2028 and non-ASCII).
data_text = st.text(
    alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)),
    max_size=20,
)


@st.composite
def streams(draw: st.DrawFn) -> tuple[bytes, list[str]]:
    """A well-formed stream and the events it carries."""
    eol = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    events = draw(st.lists(st.lists(data_text, min_size=1, max_size=3), max_size=6))
    lines: list[str] = []
    for event in events:
        if draw(st.booleans()):
            lines.append(": keep-alive")
        if draw(st.booleans()):
            lines.append("event: message")
        for value in event:
            # `data:` without the space only when the value does not itself start with one.
            bare = draw(st.booleans()) and not value.startswith(" ")
            lines.append(("data:" if bare else "data: ") + value)
        lines.append("")
    text = "".join(line + eol for line in lines)
    return text.encode(), ["\n".join(event) for event in events]


@FAST
@given(streams(), st.data())
def test_generated_streams_decode_whole_and_split_alike(
    stream: tuple[bytes, list[str]], data: st.DataObject
) -> None:
    raw, expected = stream
    cuts = data.draw(st.lists(st.integers(min_value=0, max_value=len(raw)), max_size=20))
    assert decode_all([raw]) == expected
    assert feed_all(split_bytes(raw, cuts)) == expected


@FAST
@given(st.binary(max_size=300), st.lists(st.integers(min_value=0, max_value=300), max_size=10))
def test_arbitrary_bytes_raise_nothing_but_bad_response(raw: bytes, cuts: list[int]) -> None:
    try:
        whole = decode_all([raw])
    except BadResponse:
        whole = None
    try:
        split = feed_all(split_bytes(raw, [c for c in cuts if c <= len(raw)]))
    except BadResponse:
        split = None
    assert whole == split
    if whole is not None:
        assert all(isinstance(event, str) for event in whole)
