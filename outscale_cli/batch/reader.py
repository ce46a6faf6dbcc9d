"""The batch input: one request a line, read as it goes.

Accepted on one reader, for `--endpoint chat` (the default) or `fim`:

    {"custom_id": "a", "body": {...}}                           Mistral's batch format
    {"custom_id": "a", "method": "POST", "url": "/v1/...", "body": {...}}   OpenAI's (url checked)
    {"prompt": "...", "system": "...", "id": "a", "temperature": 0}   the short form (chat)
    {"prompt": "...", "suffix": "...", "id": "a"}                    the short form (fim)
    --lines: every non-empty line of a text file is one prompt

A missing id is the line number. The whole input is checked before the first request is sent
(`check`): JSON, the form, the body's fields and ranges (wire.body_problems), duplicate ids; up
to 20 problems are listed with their line numbers (exit 2). The ids are kept in a SQLite file on
disk, not in memory, so a file of millions of lines is checked in flat memory. Standard input is
copied to a temporary file as it is checked, so it can be read again to send.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import stat
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from outscale_cli.errors import UsageError
from outscale_cli.wire import SAMPLING_FIELDS, body_problems

ENDPOINTS = {"chat": "/v1/chat/completions", "fim": "/v1/fim/completions"}
ROUTES = {"chat": "chat/completions", "fim": "fim/completions"}
MAX_PROBLEMS = 20
MAX_LINE_BYTES = 16 * 1024 * 1024  # one request; Mistral's whole file may be 512 MB
SHORT_KEYS = {"chat": {"prompt", "system", "id"}, "fim": {"prompt", "suffix", "id"}}


class LineProblem(ValueError):
    """Why one line cannot be a request."""


@dataclass(frozen=True)
class Request:
    number: int  # the line number, from 1
    custom_id: str
    body: dict[str, Any]  # with the command line's defaults; "model" only if the line set it

    def fingerprint(self) -> str:
        """A short digest of the body as the line and the flags make it (the model only if
        the line sets it: the run's model is recorded apart): a record carries it, so that
        --resume can tell that the request behind a custom_id has changed (an edited input
        whose ids are line numbers, or other sampling flags)."""
        canonical = json.dumps(self.body, sort_keys=True, separators=(",", ":"))
        return hashlib.blake2b(canonical.encode(), digest_size=8).hexdigest()


@dataclass
class Defaults:
    """What the command line gives every line that does not set it itself."""

    sampling: dict[str, Any] = field(default_factory=dict)  # API field -> value
    system: str | None = None  # for --lines and short-form chat lines without one


def parse(
    text: str,
    number: int,
    endpoint: str,
    *,
    plain: bool,
    defaults: Defaults | None = None,
    checked: bool = False,
) -> Request | None:
    """The request of one line (None for a blank line), or LineProblem. `checked`: the line
    was checked before (the second reading skips the body's checks)."""
    defaults = defaults or Defaults()
    if plain:
        prompt = text.rstrip("\r\n")
        if not prompt.strip():
            return None
        return Request(number, str(number), _short_body(endpoint, {"prompt": prompt}, defaults))
    if not text.strip():
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LineProblem(f"not JSON ({exc.msg}, column {exc.colno})") from None
    except RecursionError:
        raise LineProblem("not JSON that can be read: nested too deeply") from None
    except ValueError as exc:  # an integer of more than 4,300 digits
        raise LineProblem(f"not JSON that can be read: {exc}") from None
    if not isinstance(data, dict):
        raise LineProblem(f"a JSON {type(data).__name__}, not an object")
    if "body" in data:
        custom_id, body = _full_form(data, endpoint)
    elif "prompt" in data:
        custom_id, body = _short_form(data, endpoint, defaults)
    else:
        raise LineProblem(
            'neither {"custom_id", "body"} (Mistral\'s batch format) nor {"prompt", ...} '
            "(the short form)"
        )
    body = {**{k: v for k, v in defaults.sampling.items() if k not in body}, **body}
    if not checked and ("\\ud" in text or "\\uD" in text) and _lone_surrogate(body):
        raise LineProblem("a lone UTF-16 surrogate (\\ud800-\\udfff alone) cannot be sent")
    problems = [] if checked else body_problems(endpoint, body)
    if problems:
        raise LineProblem("; ".join(problems[:3]))
    return Request(number, str(number) if custom_id is None else custom_id, body)


def _lone_surrogate(body: dict[str, Any]) -> bool:
    """Whether the body holds a lone surrogate, which JSON allows but UTF-8 cannot encode."""
    try:
        json.dumps(body, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return True
    return False


def _full_form(data: dict[str, Any], endpoint: str) -> tuple[str | None, dict[str, Any]]:
    extra = set(data) - {"custom_id", "body", "method", "url"}
    if extra:
        raise LineProblem(f"unknown key {sorted(extra)[0]!r} beside custom_id and body")
    if "url" in data or "method" in data:  # OpenAI's form: checked, then ignored
        if str(data.get("method", "POST")).upper() != "POST":
            raise LineProblem(f"method {data.get('method')!r}: batch requests are POST")
        url = str(data.get("url", ""))
        if url.rstrip("/") != ENDPOINTS[endpoint]:
            raise LineProblem(
                f"url {url!r} is not this batch's endpoint {ENDPOINTS[endpoint]} "
                "(choose it with --endpoint)"
            )
    body = data["body"]
    if not isinstance(body, dict):
        raise LineProblem("'body' must be an object: the request body of the endpoint")
    return _custom_id(data.get("custom_id")), dict(body)


def _short_form(
    data: dict[str, Any], endpoint: str, defaults: Defaults
) -> tuple[str | None, dict[str, Any]]:
    extra = set(data) - SHORT_KEYS[endpoint] - SAMPLING_FIELDS - {"model"}
    if extra:
        raise LineProblem(
            f"unknown key {sorted(extra)[0]!r} in a short-form line "
            f"(it takes {', '.join(sorted(SHORT_KEYS[endpoint]))}, model and sampling fields)"
        )
    for key in ("prompt", "system", "suffix"):
        if key in data and not isinstance(data[key], str):
            raise LineProblem(f"{key!r} must be a string")
    return _custom_id(data.get("id")), _short_body(endpoint, data, defaults)


def _short_body(endpoint: str, data: dict[str, Any], defaults: Defaults) -> dict[str, Any]:
    body = {k: v for k, v in data.items() if k in SAMPLING_FIELDS or k == "model"}
    if endpoint == "fim":
        body["prompt"] = data["prompt"]
        if "suffix" in data:
            body["suffix"] = data["suffix"]
        return {**{k: v for k, v in defaults.sampling.items() if k not in body}, **body}
    system = data.get("system", defaults.system)
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": data["prompt"]})
    body["messages"] = messages
    return {**{k: v for k, v in defaults.sampling.items() if k not in body}, **body}


def _custom_id(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise LineProblem("custom_id must be a string")
    text = str(value)
    if not text:
        raise LineProblem("custom_id must not be empty")
    return text


# -- the whole input --------------------------------------------------------------------------
@dataclass
class Checked:
    """The input, checked whole: where to read it again, how many requests, their ids."""

    path: Path  # the file to read (a copy of standard input, when it was)
    requests: int
    first: Request | None
    ids: IdStore
    spooled: bool = False  # path is our temporary copy of standard input

    def close(self) -> None:
        self.ids.close()
        if self.spooled:
            try:
                os.unlink(self.path)
            except OSError:
                pass


def check(
    source: str,
    endpoint: str,
    *,
    plain: bool,
    defaults: Defaults,
    stdin: IO[bytes] | None = None,
    fingerprints: bool = False,
) -> Checked:
    """Read the whole input once, checking every line; raise UsageError (exit 2) listing up to
    20 problems with their line numbers, before anything is sent. With `fingerprints` (to
    resume), each request's fingerprint is kept with its id."""
    spool: IO[bytes] | None = None
    if source == "-":
        if stdin is None:
            raise UsageError("no standard input to read the batch from")
        spool = tempfile.NamedTemporaryFile(prefix="outscale-batch-", suffix=".jsonl", delete=False)
        handle: IO[bytes] = stdin
        path = Path(spool.name)
        name = "standard input"
    else:
        path = Path(source)
        name = source
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed below
        except IsADirectoryError:
            raise UsageError(f"cannot read the batch {name}: it is a directory") from None
        except OSError as exc:
            raise UsageError(f"cannot read the batch {name}: {exc.strerror or exc}") from None
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            # a pipe, <(...), /dev/stdin: it can be read once, and is read again to send
            spool = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed below
                prefix="outscale-batch-", suffix=".jsonl", delete=False
            )
            path = Path(spool.name)
    ids = IdStore()
    problems: list[str] = []  # the first MAX_PROBLEMS
    found = 0  # all of them
    count = 0
    first: Request | None = None

    def problem(text: str) -> None:
        nonlocal found
        found += 1
        if len(problems) < MAX_PROBLEMS:
            problems.append(text)

    try:
        for number, raw in enumerate(_lines(handle, name), start=1):
            if spool is not None:
                spool.write(raw)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                problem(f"line {number}: not UTF-8 text")
                continue
            try:
                request = parse(text, number, endpoint, plain=plain, defaults=defaults)
            except LineProblem as exc:
                problem(f"line {number}: {exc}")
                continue
            if request is None:
                continue
            fingerprint = own_model = None
            if fingerprints:
                fingerprint = request.fingerprint()
                named = request.body.get("model")
                own_model = named if isinstance(named, str) else None
            earlier = ids.add(request.custom_id, number, fingerprint, own_model)
            if earlier is not None:
                again = f"custom_id {request.custom_id!r} again (first on line {earlier})"
                problem(f"line {number}: {again}")
                continue
            count += 1
            if first is None:
                first = request
    except BaseException:
        ids.close()
        if spool is not None:
            spool.close()
            os.unlink(spool.name)
        raise
    finally:
        if handle is not stdin:
            handle.close()
    if spool is not None:
        spool.close()
    checked = Checked(path, count, first, ids, spooled=spool is not None)
    if found:
        checked.close()
        more = f" (the first {MAX_PROBLEMS} below)" if found > MAX_PROBLEMS else ""
        raise UsageError(
            f"the batch {name} has {found} problem{'s' * (found > 1)}{more}; nothing was sent:"
            "\n  " + "\n  ".join(problems),
            hint="fix those lines and run again (--dry-run checks without sending)",
        )
    if count == 0:
        checked.close()
        raise UsageError(f"the batch {name} holds no request")
    ids.commit()
    return checked


def requests(
    checked: Checked, endpoint: str, *, plain: bool, defaults: Defaults
) -> Iterator[Request]:
    """The checked input's requests, in order, read again as they are needed. A file that
    changed since it was checked (a line no longer valid, or fewer requests) stops the run
    with exit 2; the records written stay, for --resume once it is whole again."""
    given = 0
    with open(checked.path, "rb") as handle:
        for number, raw in enumerate(_lines(handle, str(checked.path)), start=1):
            try:
                text = raw.decode("utf-8")
                request = parse(
                    text, number, endpoint, plain=plain, defaults=defaults, checked=True
                )
            except (UnicodeDecodeError, LineProblem) as exc:
                raise _changed(checked, f"line {number}: {exc}") from None
            if request is not None:
                given += 1
                yield request
    if given < checked.requests:
        raise _changed(checked, f"{given:,} requests left of the {checked.requests:,} checked")


def _changed(checked: Checked, what: str) -> UsageError:
    return UsageError(
        f"the batch {checked.path} changed while it ran ({what})",
        hint="restore it, then send what is missing with the same command and --resume",
    )


def _lines(handle: IO[bytes], name: str) -> Iterator[bytes]:
    """The lines of `handle` (LF-terminated; the last may not be), each at most
    MAX_LINE_BYTES: a file with no newline at all is never read whole. A UTF-8 byte order
    mark (editors on Windows write one) is not part of the first line."""
    number = 0
    while True:
        line = handle.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            raise UsageError(
                f"the batch {name} has a line longer than {MAX_LINE_BYTES:,} bytes (line {number})"
            )
        if number == 1 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        yield line


class IdStore:
    """The custom_ids seen, on disk (SQLite in a temporary file): flat memory for millions."""

    def __init__(self) -> None:
        folder = tempfile.mkdtemp(prefix="outscale-batch-ids-")
        self._folder = folder
        self._db = sqlite3.connect(os.path.join(folder, "ids.sqlite"), isolation_level=None)
        self._db.execute("PRAGMA journal_mode = OFF")
        self._db.execute("PRAGMA synchronous = OFF")
        self._db.execute(
            "CREATE TABLE ids (id TEXT PRIMARY KEY, line INTEGER, print TEXT, model TEXT) "
            "WITHOUT ROWID"
        )
        self._db.execute("CREATE TABLE done (id TEXT PRIMARY KEY) WITHOUT ROWID")
        self._db.execute("BEGIN")

    def add(
        self, custom_id: str, line: int, fingerprint: str | None = None, model: str | None = None
    ) -> int | None:
        """Record `custom_id` (and its request's fingerprint and own model); the line it was
        first seen on when it was seen before."""
        try:
            self._db.execute(
                "INSERT INTO ids VALUES (?, ?, ?, ?)", (custom_id, line, fingerprint, model)
            )
        except sqlite3.IntegrityError:
            row = self._db.execute("SELECT line FROM ids WHERE id = ?", (custom_id,)).fetchone()
            return int(row[0])
        return None

    def commit(self) -> None:
        self._db.execute("COMMIT")

    def request_of(self, custom_id: str) -> tuple[int, str | None, str | None] | None:
        """The line, the request's fingerprint and the model the line names of `custom_id`
        (None: not in the input)."""
        row = self._db.execute(
            "SELECT line, print, model FROM ids WHERE id = ?", (custom_id,)
        ).fetchone()
        return None if row is None else (int(row[0]), row[1], row[2])

    def mark_done(self, custom_ids: Mapping[str, Any] | list[str]) -> None:
        self._db.executemany("INSERT OR IGNORE INTO done VALUES (?)", [(i,) for i in custom_ids])

    def is_done(self, custom_id: str) -> bool:
        row = self._db.execute("SELECT 1 FROM done WHERE id = ?", (custom_id,)).fetchone()
        return row is not None

    def close(self) -> None:
        try:
            self._db.close()
        finally:
            shutil.rmtree(self._folder, ignore_errors=True)
