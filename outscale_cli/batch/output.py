"""The records a batch writes, and --resume.

One JSON line per request, in Mistral's batch output format, so tools written for Mistral's
batch results read ours:

    {"id", "custom_id", "response": {"status_code", "body"} | null, "error": null | {"type",
     "message", "status", "exit_code"}, "outscale": {"profile", "attempts"}}

or with --answers the short form {"custom_id", "answer", "finish_reason", "usage"} (plus
"error" when it failed). Each record is one write(2) of a whole line to a file opened for
appending: killed at any moment, the file holds whole lines but for, at most, a torn last one,
which --resume cuts off.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from outscale_cli.batch.reader import IdStore
from outscale_cli.errors import CliError, ConfigError, UsageError


@dataclass
class Outcome:
    """What one request came to."""

    custom_id: str
    status: int | None  # the last answer's HTTP status; None: no answer at all
    body: Any  # the answer's JSON (the error body on failure, when it was JSON)
    error: CliError | None
    profile: str
    attempts: int
    text: str | None = None  # --answers: the answer's text
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    origin: dict[str, Any] | None = None  # our key instead of profile and attempts (a job's)
    record_id: str | None = None  # the id the record already has (a job's output)
    request: str | None = None  # the request's fingerprint (reader.Request.fingerprint)
    model: str | None = None  # the model it was sent to

    @property
    def ok(self) -> bool:
        return self.error is None


def mistral_record(outcome: Outcome, record_id: str) -> dict[str, Any]:
    response = None
    if outcome.status is not None:
        response = {"status_code": outcome.status, "body": outcome.body}
    return {
        "id": outcome.record_id or record_id,
        "custom_id": outcome.custom_id,
        "response": response,
        "error": _error(outcome.error),
        "outscale": outcome.origin or _ours(outcome),
    }


def _ours(outcome: Outcome) -> dict[str, Any]:
    ours: dict[str, Any] = {"profile": outcome.profile, "attempts": outcome.attempts}
    if outcome.model is not None:
        ours["model"] = outcome.model
    if outcome.request is not None:
        ours["request"] = outcome.request
    return ours


def answer_record(outcome: Outcome) -> dict[str, Any]:
    record = {
        "custom_id": outcome.custom_id,
        "answer": outcome.text,
        "finish_reason": outcome.finish_reason,
        "usage": outcome.usage,
    }
    if outcome.error is not None:
        record["error"] = _error(outcome.error)
    return record


def _error(error: CliError | None) -> dict[str, Any] | None:
    if error is None:
        return None
    return {
        "type": error.kind,
        "message": error.message,
        "status": error.http_status,
        "exit_code": int(error.status),
    }


def record_succeeded(record: Any) -> bool:
    """Whether a line already written holds a finished request (either format); Mistral's
    reader counts a line failed when `error` is set or `response.status_code` >= 400."""
    if not isinstance(record, dict) or not isinstance(record.get("custom_id"), str):
        return False
    if record.get("error") not in (None, {}):
        return False
    if "response" in record:
        response = record["response"]
        return (
            isinstance(response, dict)
            and isinstance(response.get("status_code"), int)
            and (response["status_code"] < 400)
        )
    return "answer" in record


class Writer:
    """Records to a file (appended, one write a record) or to standard output."""

    def __init__(self, path: Path | None, *, answers: bool, run_id: str) -> None:
        self._answers = answers
        self._run_id = run_id
        self._count = 0
        if path is None:
            self._fd = 1
            self._owned = False
        else:
            try:
                self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            except OSError as exc:
                raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
            self._owned = True

    def write(self, outcome: Outcome) -> None:
        self._count += 1
        if self._answers:
            record = answer_record(outcome)
        else:
            record = mistral_record(outcome, f"batch-{self._run_id}-{self._count}")
        self.write_raw(
            (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        )

    def write_raw(self, line: bytes) -> None:
        """One whole line, in one write(2) (looped only if the kernel takes part of it)."""
        view = memoryview(line)
        while view:
            try:
                written = os.write(self._fd, view)
            except BrokenPipeError:
                raise
            except OSError as exc:
                from outscale_cli.errors import OutputFailed

                raise OutputFailed(f"cannot write the records: {exc.strerror or exc}") from None
            view = view[written:]

    def close(self) -> None:
        if self._owned:
            os.close(self._fd)


def hold(path: Path) -> int:
    """An open descriptor of `path` holding an exclusive lock (flock) on it, so that two runs
    never write the same file; UsageError when another run holds it. Where the file system has
    no locks, the run goes on without."""
    import errno
    import fcntl

    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            os.close(fd)
            raise UsageError(
                f"another batch run is writing {path}",
                hint="wait for it to end, or write to another -o file",
            ) from None
    return fd


# -- --resume ----------------------------------------------------------------------------------
@dataclass
class Resumed:
    kept: int  # finished records kept
    dropped: int  # failed records dropped (their requests are sent again)
    torn: bool  # a torn last line was cut off


def resume(path: Path, ids: IdStore, *, answers: bool = False, model: str | None = None) -> Resumed:
    """Keep the finished records of `path`, drop the failed ones and a torn last line (the file
    is rewritten atomically, as it is read: memory stays flat), and mark the kept ones done in
    `ids`. Exit 2, the file untouched, when it was made from another input: a custom_id the
    input does not have, or a finished record whose request is not the one the input and
    flags make now (its fingerprint), or that went to another model than this run's `model`;
    or when it is in the other format (--answers or not). (--answers records carry neither:
    only their ids are checked.)"""
    if not path.exists():
        return Resumed(0, 0, False)
    kept = dropped = 0
    torn = False
    done: list[str] = []
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise ConfigError(f"cannot resume {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as copy:
            for number, raw, complete in _records(path):
                if not complete:
                    torn = True  # the last line, cut by a kill: its request is sent again
                    continue
                custom_id, succeeded = _read_record(path, number, raw, ids, answers, model)
                if succeeded:
                    copy.write(raw)
                    kept += 1
                    done.append(custom_id)
                    if len(done) >= 10_000:
                        ids.mark_done(done)
                        done = []
                else:
                    dropped += 1
            copy.flush()
            os.fsync(copy.fileno())
        ids.mark_done(done)
        if dropped or torn:
            os.replace(tmp, path)
    except OSError as exc:
        raise ConfigError(f"cannot rewrite {path} to resume it: {exc.strerror or exc}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return Resumed(kept, dropped, torn)


def _read_record(
    path: Path, number: int, raw: bytes, ids: IdStore, answers: bool, model: str | None
) -> tuple[str, bool]:
    try:
        record = json.loads(raw)
    except (ValueError, RecursionError):
        raise UsageError(
            f"cannot resume {path}: line {number} is not a record (not JSON)",
            hint="is it the output of a batch run? give another -o, or fix the file",
        ) from None
    custom_id = record.get("custom_id") if isinstance(record, dict) else None
    if not isinstance(custom_id, str):
        raise UsageError(f"cannot resume {path}: line {number} has no custom_id")
    other_input = "resume with the input and options that made it, or write to another -o file"
    found = ids.request_of(custom_id)
    if found is None:
        raise UsageError(
            f"cannot resume {path}: its line {number} is for custom_id {custom_id!r}, which "
            "this input does not have: it was made from another input",
            hint=other_input,
        )
    line, fingerprint, own_model = found
    if answers != ("response" not in record):
        made = "without --answers" if answers else "with --answers"
        raise UsageError(
            f"cannot resume {path}: its line {number} was written {made}, and one file holds "
            "one format",
            hint=f"resume it {made}, or write to another -o file",
        )
    succeeded = record_succeeded(record)
    ours = record.get("outscale")
    if succeeded and isinstance(ours, dict):  # a failed record is dropped and sent again
        made_by = ours.get("request", fingerprint)
        if fingerprint is not None and made_by != fingerprint:
            raise UsageError(
                f"cannot resume {path}: its line {number} (custom_id {custom_id!r}) answers "
                f"another request than the input's line {line} makes now: the input or the "
                "sampling options changed since",
                hint=other_input,
            )
        sent_to, wanted = ours.get("model"), own_model or model
        if isinstance(sent_to, str) and wanted is not None and sent_to != wanted:
            raise UsageError(
                f"cannot resume {path}: its line {number} (custom_id {custom_id!r}) was "
                f"answered by {sent_to}, and this run sends to {wanted}",
                hint=f"resume with -m {sent_to}, or write to another -o file",
            )
    return custom_id, succeeded


def _records(path: Path) -> Iterator[tuple[int, bytes, bool]]:
    """(line number, bytes, whether the line is whole) of each line of `path`."""
    try:
        with open(path, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if raw.strip():
                    yield number, raw, raw.endswith(b"\n")
    except OSError as exc:
        raise UsageError(f"cannot resume {path}: {exc.strerror or exc}") from None
