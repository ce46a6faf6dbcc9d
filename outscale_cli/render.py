"""Rendering: answer text (plain or Markdown), thinking, usage figures, model tables.

Writers take text pieces as they arrive and write them once. Piped output is the answer's
text, flushed piece by piece. On a terminal, Markdown is rendered block by block: a finished
block is printed once and never again; only the block being written is live, repainted at most
a few times a second, and of a block taller than the terminal only the rows that may still
change (the rest is printed for good as it comes). So the cost grows with the answer's length,
not with its square, and a long answer scrolls like any other output. rich is imported only on
a terminal.
"""

from __future__ import annotations

import copy
import re
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TextIO

from outscale_cli.console import DIM, RESET, Environment

if TYPE_CHECKING:
    from markdown_it.token import Token
    from rich.console import Console
    from rich.segment import Segment


class Writer(Protocol):
    def write(self, text: str) -> None: ...

    def finish(self) -> None: ...


class PlainWriter:
    """Text as it comes, flushed piece by piece; optionally a final newline."""

    def __init__(self, stream: TextIO, final_newline: bool) -> None:
        self._stream = stream
        self._final_newline = final_newline
        self._last = ""

    def write(self, text: str) -> None:
        if text:
            self._last = text[-1]  # first: a signal during the write still gets its newline
            self._stream.write(text)
            self._stream.flush()

    def finish(self) -> None:
        if self._final_newline and self._last and self._last != "\n":
            self._stream.write("\n")
        self._stream.flush()


class PrefixStripper:
    """Mistral repeats an assistant prefix at the start of its reply: print only what follows."""

    def __init__(self, inner: Writer, prefix: str) -> None:
        self._inner = inner
        self._prefix = prefix
        self._held: list[str] = []
        self._held_len = 0
        self._decided = not prefix

    def write(self, text: str) -> None:
        if self._decided:
            self._inner.write(text)
            return
        self._held.append(text)
        self._held_len += len(text)
        if self._held_len >= len(self._prefix):
            self._release()

    def _release(self) -> None:
        held = "".join(self._held)
        self._held = []
        self._decided = True
        if held.startswith(self._prefix):
            held = held[len(self._prefix) :]
        elif self._prefix.startswith(held):
            held = ""  # the reply was only (part of) the prefix
        self._inner.write(held)

    def finish(self) -> None:
        if not self._decided:
            self._release()
        self._inner.finish()


class _Scan(NamedTuple):
    """What a block scanner knows. It is replaced whole, in one assignment, so that an
    interrupt (Ctrl-C raises KeyboardInterrupt anywhere) leaves the old state or the new one."""

    text: str  # the text kept: from the start of the first line not wholly taken
    taken: int  # how much of `text` was taken (printed for good)
    scanned: int  # start of the first line not yet looked at
    boundary: int | None  # end of the last blank line outside a fence
    fence: str | None  # the marker of the open code fence
    ends: tuple[int, ...]  # ends of the finished blocks (in `text`) not yet taken


_FENCE = re.compile(r"(`{3,}|~{3,})(.*)", re.DOTALL)


def _opening(stripped: str) -> str | None:
    """The marker of the code fence that the line opens (three or more backquotes or tildes;
    a backquote fence's info string has no backquote), or None."""
    match = _FENCE.fullmatch(stripped)
    if match is None or (match[1][0] == "`" and "`" in match[2]):
        return None
    return match[1]


def _closes(stripped: str, fence: str) -> bool:
    """Whether the line closes the fence opened by `fence`: the same character, at least as
    many of them, and nothing else (CommonMark)."""
    return len(stripped) >= len(fence) and stripped == fence[0] * len(stripped)


def _scanned(state: _Scan, more: str) -> _Scan:
    """`state` with `more` text, its complete lines looked at."""
    text = state.text + more
    scanned, boundary, fence, ends = state.scanned, state.boundary, state.fence, state.ends
    while (end := text.find("\n", scanned)) >= 0:
        line = text[scanned:end]
        stripped = line.strip()
        if fence is not None:
            if _closes(stripped, fence):
                fence = None
        elif not stripped:
            boundary = end + 1
        else:
            if boundary is not None and not line[:1].isspace():
                ends += (boundary,)
            boundary = None
            fence = _opening(stripped)
        scanned = end + 1
    if boundary is not None and fence is None and text[scanned : scanned + 1].strip():
        ends += (boundary,)  # the next block has started: its first line begins unindented
        boundary = None
    return state._replace(text=text, scanned=scanned, boundary=boundary, fence=fence, ends=ends)


class _BlockScanner:
    """Cuts Markdown into top-level blocks at blank lines outside code fences, incrementally.

    A block counts as finished once the next one has started: a non-blank, non-indented line
    after a blank line (an indented one may continue a list item). The scanner keeps the text
    not taken yet (`pending`); `ends()` tells where finished blocks end in it.
    """

    def __init__(self) -> None:
        self._pieces: list[str] = []  # received after the text `state` has
        self.state = _Scan("", 0, 0, None, None, ())

    def add(self, text: str) -> None:
        self._pieces.append(text)  # first: once add() is called, the text is kept
        if "\n" in text:
            self.absorb()

    def absorb(self) -> None:
        """Look at the pieces received (lines are looked at once complete)."""
        if self._pieces:
            state = _scanned(self.state, "".join(self._pieces))
            self.state, self._pieces = state, []

    @property
    def pending(self) -> str:
        """The text not taken yet."""
        return self.state.text[self.state.taken :] + "".join(self._pieces)

    def ends(self) -> list[int]:
        """Where the finished blocks end in `pending`."""
        return [end - self.state.taken for end in self.state.ends]

    def taking(self, count: int) -> _Scan:
        """The state once the first `count` characters of `pending` (absorbed) are taken: to
        assign to `state` once they are printed."""
        state = self.state
        taken = state.taken + count
        assert taken <= len(state.text), "absorb() first"
        cut = min(taken, state.scanned)  # the lines wholly taken and looked at can go
        boundary = state.boundary
        return _Scan(
            text=state.text[cut:],
            taken=taken - cut,
            scanned=state.scanned - cut,
            boundary=None if boundary is None else max(boundary, taken) - cut,
            fence=state.fence,
            ends=tuple(end - cut for end in state.ends if end > taken),
        )

    def feed(self, text: str) -> list[str]:
        """Add `text`; take and return the blocks it finished."""
        self.add(text)
        ends = self.ends()
        pending = self.pending
        blocks = [pending[start:end] for start, end in zip([0, *ends], ends, strict=False)]
        if ends:
            self.state = self.taking(ends[-1])
        return blocks


class _Shown(NamedTuple):
    """What the terminal shows of the text not printed for good; replaced whole, as _Scan."""

    head: str = ""  # source put before that text: the opening line of a code block printed in part
    joined: bool = False  # the text continues the rows printed last: no blank line between
    started: bool = False  # rows were printed (blocks are separated by one blank line)
    live: int = 0  # rows of the live display, the cursor on the row below them


_ERASE_ROW = "\r\x1b[2K"  # to the start of the row and clear it
_ERASE_ROW_ABOVE = "\x1b[1A\x1b[2K"
# Text that an inline construct begun before a cut could still change: a code span, emphasis,
# a link or an HTML tag whose end has not come yet. A paragraph is not cut after one.
_OPEN_INLINE = re.compile(r"[`*]|\[[^\]]*$|~~|(?<!\w)_|<[A-Za-z/!?]")
# What would start another block if a paragraph's next row began a line of its own.
_BLOCK_START = re.compile(r"[-+*>#|=_`~<\[!\\:]|\d+[.)]")


# The signals that stop a command: Ctrl-C, SIGTERM and --max-time's alarm raise an exception
# wherever the main thread is. Raised in the middle of a write to the terminal (a write that
# waits for a slow terminal is interrupted), it would leave the writer not knowing what the
# terminal shows: finish() would print again what was printed, or not print what was not.
_STOPPING = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGALRM") if hasattr(signal, name)
)


@contextmanager
def _signals_held() -> Iterator[None]:
    """The stopping signals wait (they are delivered at the end, once the state is right)."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPPING)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class _Markdown:
    """rich's Markdown rendering of blocks, with one Markdown parser for them all (rich builds a
    new parser for every document, which costs more than parsing a block)."""

    def __init__(self, console: Console) -> None:
        from markdown_it import MarkdownIt
        from rich.markdown import Markdown

        self._console = console
        self._parser = MarkdownIt().enable("strikethrough").enable("table")  # as rich's
        self._template = Markdown("")

    def parse(self, source: str) -> list[Token]:
        return self._parser.parse(source)

    def rows(self, tokens: list[Token], shown: _Shown) -> list[list[Segment]]:
        """The rows of a text shown as `shown` says: rich pads some elements (lists, quotes,
        tables) with empty rows of their own; blocks are printed one at a time, so the spacing
        between them is decided here."""
        markdown = copy.copy(self._template)
        markdown.parsed = tokens
        rows = self._console.render_lines(markdown, pad=False)
        while rows and _blank(rows[-1]):
            rows.pop()
        start = 0
        while start < len(rows) and _blank(rows[start]):
            start += 1
        if shown.head:
            start += 1  # the code block's top padding, printed with its first lines
        rows = rows[start:]
        if rows and shown.started and not shown.joined:
            rows.insert(0, [])
        return rows


def _blank(row: list[Segment]) -> bool:
    return not any(segment.text for segment in row)


def _plain(row: list[Segment]) -> str:
    return "".join(segment.text for segment in row if not segment.control)


def _same(rows: list[list[Segment]], others: list[list[Segment]]) -> bool:
    from rich.segment import Segment

    return len(rows) == len(others) and all(
        list(Segment.simplify(a)) == list(Segment.simplify(b))
        for a, b in zip(rows, others, strict=True)
    )


def _open_inline(tokens: list[Token]) -> bool:
    """Whether the text has literal delimiters that text still to come could pair."""
    return any(
        child.type == "text" and _OPEN_INLINE.search(child.content)
        for token in tokens
        if token.type == "inline"
        for child in token.children or ()
    )


class MarkdownWriter:
    """Markdown on a terminal, streamed: finished blocks printed once, the last one live.

    The live display holds only the rows that may still change, and never more rows than the
    terminal has: once the block being written would not fit, its rows that can no longer
    change are printed for good (a paragraph's rows above its last one, a code block's finished
    lines, a list's finished items, the elements before the last one) and only the rest stays
    live. A cut is made in the source, where the rows printed are the rows of the text before
    it rendered on its own and match the rows of the whole; the text after it is rendered later,
    so every character is printed once. A table is not cut (its columns' widths change as rows
    arrive): a block with nothing to print for good shows its last rows until it is finished.
    """

    REPAINTS_PER_SECOND = 8
    PAINT_SHARE = 0.25  # at most this share of the time repainting, however large the block

    def __init__(
        self,
        stream: TextIO,
        *,
        width: int | None = None,
        height: int | None = None,
        force_terminal: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        from rich.console import Console

        self._stream = stream
        self._console = Console(
            file=stream, width=width, height=height, force_terminal=force_terminal
        )
        self._live = self._console.is_terminal and not self._console.is_dumb_terminal
        self._markdown = _Markdown(self._console)
        self._scanner = _BlockScanner()
        self._shown = _Shown()
        self._clock = clock
        self._next_paint = 0.0

    def write(self, text: str) -> None:
        self._scanner.add(text)
        if self._scanner.state.ends:
            self._print_blocks(final=False)
        if not self._live:
            return
        now = self._clock()
        if now >= self._next_paint:
            self._paint()
            spent = self._clock() - now
            self._next_paint = now + max(1 / self.REPAINTS_PER_SECOND, spent / self.PAINT_SHARE)

    def finish(self) -> None:
        self._print_blocks(final=True)

    def _emit(self, data: str, scan: _Scan, shown: _Shown) -> None:
        """Write to the terminal and record what it then shows, a signal held meanwhile."""
        with _signals_held():
            self._scanner.state, self._shown = scan, shown
            self._stream.write(data)
            self._stream.flush()

    def _ansi(self, rows: list[list[Segment]]) -> str:
        """The rows for the terminal, a line end after each."""
        from rich.segment import Segment, Segments

        segments: list[Segment] = []
        for row in rows:
            segments.extend(row)
            segments.append(Segment.line())
        with self._console.capture() as captured:
            self._console.print(Segments(segments), end="", crop=False)  # rows: cropped
        return captured.get()

    @staticmethod
    def _erase(shown: _Shown) -> str:
        """Back to the live display's first row, clearing it all. The cursor waits on the row
        below the display, so that what the terminal echoes there (^C) is cleared too."""
        if not shown.live:
            return ""
        return _ERASE_ROW + _ERASE_ROW_ABOVE * shown.live

    def _print_blocks(self, final: bool) -> None:
        """Print the finished blocks for good (and the rest as the last one, if `final`)."""
        scanner = self._scanner
        scanner.absorb()
        pending, shown = scanner.pending, self._shown
        ends = scanner.ends()
        if final:
            ends.append(len(pending))
        out = [self._erase(shown)]
        if final and self._live and shown.started and not shown.live:
            out.append(_ERASE_ROW)  # the row after ours: what the terminal echoed there (^C)
        shown = shown._replace(live=0)
        start = 0
        for end in ends:
            if end <= start:
                continue  # a cut made while the block's last line was not finished passed it
            tokens = self._markdown.parse(shown.head + pending[start:end])
            rows = self._markdown.rows(tokens, shown)
            out.append(self._ansi(rows))
            shown = _Shown(started=shown.started or bool(rows))
            start = end
        self._emit("".join(out), scanner.taking(start), shown)

    def _paint(self) -> None:
        """Show the block being written: print for good what would not fit and can no longer
        change, keep the rest live."""
        self._scanner.absorb()
        if self._scanner.state.ends:
            self._print_blocks(final=False)
        limit = max(1, self._console.size.height - 1)  # with the cursor row, on the screen
        commits = 0
        while True:
            scanner, shown = self._scanner, self._shown
            pending = scanner.pending
            rows: list[list[Segment]] = []
            if pending.strip():
                source = shown.head + pending
                tokens = self._markdown.parse(source)
                rows = self._markdown.rows(tokens, shown)
                if len(rows) > limit and commits < 4:
                    cut = self._cut(source, tokens, rows, shown)
                    if cut is not None:
                        printed, at, after = cut
                        data = self._erase(shown) + self._ansi(printed)
                        self._emit(data, scanner.taking(at - len(shown.head)), after)
                        commits += 1
                        continue
                rows = rows[-limit:]  # what cannot be printed yet shows its last rows
            if rows or shown.live:
                data = self._erase(shown) + self._ansi(rows)
                self._emit(data, scanner.state, shown._replace(live=len(rows)))
            return

    def _cut(
        self, source: str, tokens: list[Token], rows: list[list[Segment]], shown: _Shown
    ) -> tuple[list[list[Segment]], int, _Shown] | None:
        """Where the block being written can be cut: the rows to print for good, where in
        `source` the rest starts and how it is shown; None if nowhere yet."""
        tops = [t for t in tokens if t.level == 0 and t.nesting >= 0 and t.map]
        if not tops:
            return None
        last = tops[-1]
        lines = source.split("\n")
        starts = [0]
        for line in lines:
            starts.append(starts[-1] + len(line) + 1)
        # Where the rest would start, its head, and whether it continues the rows printed (a
        # list's next item does; a new element gets the blank row the whole has before it).
        candidates: list[tuple[int, str, bool]] = []
        if len(tops) > 1:  # the elements before the last one are finished
            candidates.append((starts[_first_line(last)], "", False))
        elif last.type == "fence":
            candidates.extend(_fence_cuts(last, lines, starts))
        elif last.type in ("bullet_list_open", "ordered_list_open"):
            items = [t for t in tokens if t.type == "list_item_open" and t.level == 1 and t.map]
            numbered = last.type == "ordered_list_open"
            first = int(last.attrs.get("start", 1))
            # rich sizes a numbered list's numbers for its last one: cut once they have two
            # digits (a list is seldom a hundred items long), or its rows would not align. The
            # rest is numbered from its first item's marker: cut only at an item whose marker is
            # its number (not at one written "1." that the renderer numbers).
            if not numbered or first + len(items) > 9:
                candidates.extend(
                    (starts[_first_line(item)], "", True)
                    for number, item in list(enumerate(items, first))[:0:-1][:2]
                    if not numbered or (item.info.isdigit() and int(item.info) == number)
                )
        elif last.type == "paragraph_open":
            candidates.extend(_paragraph_cuts(source, rows, shown))
        for at, head, continued in candidates:
            if not len(shown.head) < at <= len(source):
                continue
            chunk = self._markdown.parse(source[:at])
            if last.type == "paragraph_open" and _open_inline(chunk):
                continue
            printed = self._markdown.rows(chunk, shown)
            if head:
                printed = printed[:-1]  # the code block's bottom padding: its code goes on
            count = len(printed)
            if not any(printed) or count > len(rows) or not _same(rows[:count], printed):
                continue
            joined = continued or (count < len(rows) and not _blank(rows[count]))
            return printed, at, _Shown(head=head, joined=joined, started=True)
        return None


def _first_line(token: Token) -> int:
    assert token.map is not None
    return token.map[0]


def _fence_cuts(fence: Token, lines: list[str], starts: list[int]) -> list[tuple[int, str, bool]]:
    """A code block is cut after a finished line: after its last finished non-blank line but
    one (rich drops a code block's trailing blank lines, and the rest keeps some code)."""
    assert fence.map is not None
    first, end = fence.map
    closing = lines[end - 1].strip() if end - 1 > first else ""
    if end < len(lines) and closing.startswith(fence.markup) and not closing.strip("`~"):
        return [(starts[end], "", False)]  # closed: printed whole
    complete = [i for i in range(first + 1, len(lines) - 1) if lines[i].strip()]
    if not complete:
        return []
    for i in range(complete[-1], first + 1, -1):
        if lines[i - 1].strip():
            return [(starts[i], lines[first] + "\n", True)]
    return []


def _paragraph_cuts(
    source: str, rows: list[list[Segment]], shown: _Shown
) -> list[tuple[int, str, bool]]:
    """A paragraph is cut at the first word of a row: of its last row (or of one of the two
    before), or of the first one showing a delimiter that text to come could pair (`*`, a
    backquote...). Not before a word that would begin another block at the start of a line."""
    body = rows[1:] if shown.started and not shown.joined else rows
    plain = [_plain(row) for row in body]
    last = len(plain) - 1
    keep = [count for count in (last, last - 1, last - 2) if count > 0]
    opened = next((i for i, text in enumerate(plain) if _OPEN_INLINE.search(text)), None)
    if opened is not None and 0 < opened < last - 2:
        keep.append(opened)
    words = [m.start() for m in re.finditer(r"\S+", source)]
    cuts = []
    for count in keep:
        word = sum(len(text.split()) for text in plain[:count])
        if 0 < word < len(words) and not _BLOCK_START.match(source, words[word]):
            cuts.append((words[word], "", True))
    return cuts


class ThinkingWriter:
    """The model's reasoning, on stderr: dimmed on a terminal, never on stdout."""

    def __init__(self, env: Environment) -> None:
        self._env = env
        self._open = False
        self._last = ""

    def write(self, text: str) -> None:
        if not text:
            return
        last = text[-1]  # the thinking's own, not the colour code's
        if self._env.colour:
            text = f"{DIM}{text}{RESET}"
        self._env.stderr.write(text)
        self._env.stderr.flush()
        self._open = True
        self._last = last

    def close(self) -> None:
        """The answer begins: end the reasoning on a line of its own."""
        if self._open and self._last != "\n":
            self._env.stderr.write("\n")
            self._env.stderr.flush()
        self._open = False


def usage_line(
    usage: dict[str, Any] | None,
    first_token_s: float | None,
    total_s: float,
    first_kind: str = "answer",
) -> str:
    """One line of figures for --usage. The speed counts from the first token of any kind
    (`first_kind`: "answer" or "thinking"), since completion_tokens counts the thinking too."""
    parts = []
    usage = usage or {}
    prompt, completion, total = (
        usage.get("prompt_tokens"),
        usage.get("completion_tokens"),
        usage.get("total_tokens"),
    )
    if isinstance(total, int):
        parts.append(f"tokens: {prompt} prompt + {completion} completion = {total} total")
    else:
        parts.append("tokens: not reported by the server")
    if first_token_s is not None:
        parts.append(f"first token {first_token_s * 1000:.0f} ms ({first_kind})")
    parts.append(f"total {total_s:.2f} s")
    if isinstance(completion, int) and total_s > 0:
        generating = total_s - (first_token_s or 0.0)
        span = generating if generating > 0 and completion > 1 else total_s
        parts.append(f"{completion / span:.1f} tokens/s")
    return "usage: " + ", ".join(parts)


CAPABILITIES = (
    ("completion_chat", "chat"),
    ("completion_fim", "fim"),
    ("function_calling", "tools"),
    ("vision", "vision"),
)


def model_row(card: dict[str, Any]) -> tuple[str, str, str, str]:
    caps = card.get("capabilities") or {}
    names = [label for key, label in CAPABILITIES if isinstance(caps, dict) and caps.get(key)]
    context = card.get("max_context_length")
    aliases = card.get("aliases") or []
    return (
        str(card.get("id", "?")),
        f"{context:,}" if isinstance(context, int) else "",
        ", ".join(names),
        ", ".join(str(a) for a in aliases) if isinstance(aliases, list) else "",
    )


def print_models_table(stream: TextIO, cards: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, header_style="bold", pad_edge=False)
    for title in ("id", "context", "capabilities", "aliases"):
        table.add_column(title, justify="right" if title == "context" else "left")
    for card in cards:
        table.add_row(*model_row(card))
    Console(file=stream).print(table)
