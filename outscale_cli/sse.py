"""Server-sent events: bytes in, the `data` of each event out. No I/O.

Lines end at CR LF, CR or LF only (never at U+2028 and friends, which str.splitlines would
take). Lines are split on bytes, which is safe in UTF-8 since CR and LF never occur inside a
multi-byte character, so a network chunk may end anywhere, even inside a character. Each whole
line is then decoded strictly: a stream that is not UTF-8 is an error, not silent mojibake.
"""

from __future__ import annotations

import re

from outscale_cli.errors import BadResponse

_NEWLINE = re.compile(rb"\r\n|\r|\n")
# One event of a completion stream is a few hundred bytes; a line or an event larger than this
# is not a Mistral stream, and is refused rather than held in memory without end.
MAX_EVENT_BYTES = 16 * 1024 * 1024


def _too_long() -> BadResponse:
    return BadResponse(
        f"an event in the stream is longer than {MAX_EVENT_BYTES:,} bytes: not read further"
    )


class EventDecoder:
    """Feed it network chunks; it returns the data of every event they complete."""

    def __init__(self) -> None:
        self._tail: list[bytes] = []  # the unfinished line, in pieces
        self._tail_size = 0
        self._skip_lf = False  # the last chunk ended with CR: a leading LF belongs to it
        self._data: list[str] = []  # data lines of the event being read
        self._data_size = 0

    def feed(self, chunk: bytes) -> list[str]:
        if self._skip_lf and chunk:
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
            self._skip_lf = False
        if not chunk:
            return []
        events: list[str] = []
        start = 0
        for match in _NEWLINE.finditer(chunk):
            piece = chunk[start : match.start()]
            if self._tail:
                self._tail.append(piece)
                piece = b"".join(self._tail)
                self._tail = []
                self._tail_size = 0
            if len(piece) > MAX_EVENT_BYTES:
                raise _too_long()
            self._line(piece, events)
            start = match.end()
        if start < len(chunk):
            self._tail.append(chunk[start:])
            self._tail_size += len(chunk) - start
            if self._tail_size > MAX_EVENT_BYTES:
                raise _too_long()
        elif chunk[-1:] == b"\r":
            self._skip_lf = True
        return events

    def close(self) -> list[str]:
        """End of stream: an unterminated last line still counts, and so does its event."""
        events: list[str] = []
        if self._tail:
            line = b"".join(self._tail)
            self._tail = []
            self._tail_size = 0
            self._line(line, events)
        if self._data:
            self._line(b"", events)
        return events

    def _line(self, raw: bytes, events: list[str]) -> None:
        if not raw:
            if self._data:
                events.append("\n".join(self._data))
                self._data = []
                self._data_size = 0
            return
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadResponse(
                f"undecodable event in the stream: invalid UTF-8 at byte {exc.start} of a line"
            ) from None
        if line[0] == ":":
            return  # a comment: keep-alive
        field, _, value = line.partition(":")
        if field == "data":
            self._data.append(value[1:] if value[:1] == " " else value)
            self._data_size += len(raw)
            if self._data_size > MAX_EVENT_BYTES:  # data lines of one event, never ended
                raise _too_long()
        # event:, id:, retry: and unknown fields carry nothing this API uses


def decode_all(chunks: list[bytes]) -> list[str]:
    """Every event's data in a whole stream (for tests and replays)."""
    decoder = EventDecoder()
    events: list[str] = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    events.extend(decoder.close())
    return events
