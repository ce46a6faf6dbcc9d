"""The terminal edge: standard streams, TTY detection, colour policy, diagnostics on stderr.

The only module that touches sys.std*: commands receive an `Environment` (built once from the
process, or by tests with the streams and TTY flags they want) and write through it.

`guard_streams()` runs first in every process: standard streams that are closed or fail get one
policy, whoever writes (our code, rich, Click's help): stdout that cannot be written is
OutputFailed (exit 10) naming the reason, a reader gone away (EPIPE) stays BrokenPipeError (a
quiet exit 0), a closed or failing stderr is silently dropped (it never changes the exit code),
and a closed stdin reads as empty.
"""

from __future__ import annotations

import errno
import os
import sys
import time
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


class Environment:
    """The streams a command uses and what they are."""

    def __init__(
        self,
        stdin: TextIO,
        stdout: TextIO,
        stderr: TextIO,
        stdin_isatty: bool,
        stdout_isatty: bool,
        stderr_isatty: bool,
        colour: bool,  # ANSI on stderr
        debug: bool = False,
        json_errors: bool = False,  # --json: a failure is one JSON object on stderr
        secrets: list[str] | None = None,
    ) -> None:
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr
        self.stdin_isatty, self.stdout_isatty = stdin_isatty, stdout_isatty
        self.stderr_isatty, self.colour = stderr_isatty, colour
        self.debug, self.json_errors = debug, json_errors
        self.secrets = _SECRETS if secrets is None else secrets

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
        """Standard input up to `most` bytes (inputs.read_upto: one Ctrl-D ends it)."""
        from outscale_cli.inputs import read_upto

        buffer = getattr(self.stdin, "buffer", None)
        if buffer is None:
            return self.stdin.read(most).encode("utf-8")
        return read_upto(buffer, most)


class _GuardedStream:
    """A text stream standing for sys.stdout or sys.stderr (see guard_streams)."""

    def __init__(self, inner: TextIO | None, fd: int, *, answer: bool) -> None:
        self._inner = inner
        self._fd = fd
        self._answer = answer  # stdout: failures are raised; stderr: they are dropped
        self._failed = False
        self._failure = OSError(errno.EIO, "Input/output error")

    @property
    def encoding(self) -> str:
        return getattr(self._inner, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str:
        return getattr(self._inner, "errors", None) or "strict"

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError("write() argument must be str")
        if not text:
            return 0
        if self._failed:  # every later write of the answer fails too, however it was caught
            self._fail(self._failure)
        try:
            if self._inner is None:
                raise OSError(errno.EBADF, "standard output is closed")
            self._inner.write(text)
        except OSError as exc:
            self._fail(exc)
        return len(text)

    def flush(self) -> None:
        try:
            if self._inner is not None:
                self._inner.flush()  # after a failure, into /dev/null: harmless at exit
        except OSError as exc:
            if not self._failed:
                self._fail(exc)

    def _fail(self, exc: OSError) -> None:
        if self._answer and (isinstance(exc, BrokenPipeError) or exc.errno == errno.EPIPE):
            raise BrokenPipeError(errno.EPIPE, "the reader of stdout went away")
        if not self._failed:
            self._failed, self._failure = True, exc
            to_devnull(self._fd)  # what is still buffered goes nowhere, quietly, at exit
        if self._answer:
            from outscale_cli.errors import OutputFailed

            raise OutputFailed(f"cannot write the answer: {exc.strerror or exc}")

    def isatty(self) -> bool:
        return _isatty(self._inner)

    def fileno(self) -> int:
        if self._inner is None:
            raise OSError(errno.EBADF, "closed")
        return self._inner.fileno()

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    @property
    def closed(self) -> bool:
        return False


def guard_streams() -> None:
    """Put the standard streams under one policy (see the module's docstring); idempotent."""
    if not isinstance(sys.stdout, _GuardedStream):
        sys.stdout = _GuardedStream(sys.stdout, 1, answer=True)
    if not isinstance(sys.stderr, _GuardedStream):
        sys.stderr = _GuardedStream(sys.stderr, 2, answer=False)
    if sys.stdin is None:
        sys.stdin = open(os.devnull, encoding="utf-8")  # noqa: SIM115 - for the whole run


def to_devnull(fd: int) -> None:
    """Point `fd` at /dev/null (a stream that failed or whose reader left)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
    except OSError:
        pass


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (ValueError, OSError):
        return False
