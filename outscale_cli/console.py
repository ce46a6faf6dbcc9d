"""The terminal edge: standard streams, TTY detection, colour policy, diagnostics on stderr.

The only module that touches sys.std*: commands receive an `Environment` (built once from the
process, or by tests with the streams and TTY flags they want) and write through it.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

PROG = "outscale-cli"
STARTED = time.monotonic()  # --max-time counts from here
DIM = "\x1b[2m"
RED = "\x1b[31m"
YELLOW = "\x1b[33m"
RESET = "\x1b[0m"

# Secrets read by this process (API keys), scrubbed from every diagnostic line. Shared by all
# environments, so the final error report hides what the client was given.
_SECRETS: list[str] = []


@dataclass
class Environment:
    stdin: TextIO
    stdout: TextIO
    stderr: TextIO
    stdin_isatty: bool
    stdout_isatty: bool
    stderr_isatty: bool
    colour: bool  # ANSI on stderr
    debug: bool = False
    json_errors: bool = False  # --json: a failure is one JSON object on stderr
    secrets: list[str] = field(default_factory=lambda: _SECRETS)

    @classmethod
    def from_process(cls, debug: bool = False) -> Environment:
        no_colour = bool(os.environ.get("NO_COLOR")) or os.environ.get("TERM") == "dumb"
        stderr_tty = _isatty(sys.stderr)
        return cls(
            stdin=sys.stdin,
            stdout=sys.stdout,
            stderr=sys.stderr,
            stdin_isatty=_isatty(sys.stdin),
            stdout_isatty=_isatty(sys.stdout),
            stderr_isatty=stderr_tty,
            colour=stderr_tty and not no_colour,
            debug=debug,
        )

    # -- diagnostics: stderr only, one line each ------------------------------------------
    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, "********")
        return text

    def _diag(self, label: str, text: str, colour: str) -> None:
        line = self.scrub(text)
        if self.colour:
            self.stderr.write(f"{colour}{PROG}: {label}:{RESET} {line}\n")
        else:
            self.stderr.write(f"{PROG}: {label}: {line}\n")
        self.stderr.flush()

    def error(self, message: str, hint: str | None = None, error: Any = None) -> None:
        """One failure: `outscale-cli: error: ...` and a hint, or its JSON object."""
        if self.json_errors and error is not None:
            import json

            self.stderr.write(self.scrub(json.dumps(error.as_json())) + "\n")
            self.stderr.flush()
            return
        self._diag("error", message, RED)
        if hint:
            self.stderr.write(f"hint: {self.scrub(hint)}\n")
            self.stderr.flush()

    def warn(self, message: str) -> None:
        self._diag("warning", message, YELLOW)

    def debug_line(self, message: str) -> None:
        if self.debug:
            self._diag("debug", message, DIM)

    def info(self, message: str) -> None:
        """A plain line on stderr (usage figures, notices)."""
        self.stderr.write(self.scrub(message) + "\n")
        self.stderr.flush()

    # -- the answer: stdout ---------------------------------------------------------------
    def out(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()

    def read_stdin_bytes(self, most: int) -> bytes:
        """Standard input up to `most` bytes."""
        buffer = getattr(self.stdin, "buffer", None)
        if buffer is None:
            return self.stdin.read(most).encode("utf-8")
        parts: list[bytes] = []
        got = 0
        while got < most:  # a pipe gives what it has: read until EOF or enough
            part: bytes = buffer.read(most - got)
            if not part:
                break
            parts.append(part)
            got += len(part)
        return b"".join(parts)


def _isatty(stream: TextIO | None) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (ValueError, OSError):
        return False
