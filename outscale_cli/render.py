"""Rendering: answer text (plain or Markdown), thinking, usage figures, model tables.

Writers take text pieces as they arrive and write them once. Piped output is the answer's
text, flushed piece by piece. On a terminal, Markdown is rendered block by block: a finished
block is printed once and never again; only the block being written is live, repainted at most
a few times a second. So the cost grows with the answer's length, not with its square, and a
long answer scrolls like any other output. rich is imported only on a terminal.
"""

from __future__ import annotations

import time
from typing import Any, Protocol, TextIO

from outscale_cli.console import DIM, RESET, Environment


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


class _BlockScanner:
    """Cuts Markdown into top-level blocks at blank lines outside code fences, incrementally.

    A block counts as finished once the next one has started: a non-blank, non-indented line
    after a blank line (an indented one may continue a list item).
    """

    def __init__(self) -> None:
        self.pending = ""
        self._scanned = 0  # start of the first line not yet looked at
        self._boundary: int | None = None  # end of the last blank line outside a fence
        self._fence: str | None = None

    def feed(self, text: str) -> list[str]:
        self.pending += text
        blocks: list[str] = []
        while True:
            end = self.pending.find("\n", self._scanned)
            if end < 0:
                return blocks
            line = self.pending[self._scanned : end]
            stripped = line.strip()
            if self._fence is not None:
                if stripped.startswith(self._fence):
                    self._fence = None
            elif not stripped:
                self._boundary = end + 1
            else:
                if self._boundary is not None and not line[:1].isspace():
                    blocks.append(self.pending[: self._boundary])
                    self.pending = self.pending[self._boundary :]
                    end -= self._boundary
                self._boundary = None
                if stripped.startswith(("```", "~~~")):
                    self._fence = stripped[:3]
            self._scanned = end + 1


class MarkdownWriter:
    """Markdown on a terminal, streamed: finished blocks printed once, the last one live."""

    REPAINTS_PER_SECOND = 8

    def __init__(self, stream: TextIO) -> None:
        from rich.console import Console

        self._console = Console(file=stream)
        self._scanner = _BlockScanner()
        self._live: Any = None
        self._last_paint = 0.0
        self._printed = False

    def write(self, text: str) -> None:
        for block in self._scanner.feed(text):
            self._print_block(block)
        now = time.monotonic()
        if now - self._last_paint >= 1 / self.REPAINTS_PER_SECOND:
            self._last_paint = now
            self._paint()

    def finish(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
        if self._scanner.pending.strip():
            self._print_block(self._scanner.pending)

    def _markdown(self, text: str) -> Any:
        from rich.markdown import Markdown

        return Markdown(text)

    def _print_block(self, block: str) -> None:
        from rich.segment import Segment, Segments

        lines = self._console.render_lines(self._markdown(block.strip("\n")), pad=False)
        # Rich pads some elements (lists, quotes, tables) with empty lines of their own; the
        # blocks are printed one at a time, so the spacing between them is decided here.
        while lines and not any(seg.text for seg in lines[0]):
            lines.pop(0)
        while lines and not any(seg.text for seg in lines[-1]):
            lines.pop()
        if not lines:
            return
        segments: list[Segment] = []
        if self._printed:
            segments.append(Segment.line())
        for line in lines:
            segments.extend(line)
            segments.append(Segment.line())
        self._console.print(Segments(segments), end="")
        self._printed = True

    def _paint(self) -> None:
        if not self._scanner.pending.strip():
            return
        if self._live is None:
            from rich.live import Live

            self._live = Live(
                console=self._console,
                auto_refresh=False,
                transient=True,
                vertical_overflow="ellipsis",
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._live.start()
        self._live.update(self._markdown(self._scanner.pending), refresh=True)


class ThinkingWriter:
    """The model's reasoning, on stderr: dimmed on a terminal, never on stdout."""

    def __init__(self, env: Environment) -> None:
        self._env = env
        self._open = False
        self._last = ""

    def write(self, text: str) -> None:
        if not text:
            return
        if self._env.colour:
            text = f"{DIM}{text}{RESET}"
        self._env.stderr.write(text)
        self._env.stderr.flush()
        self._open = True
        self._last = text[-1]

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
