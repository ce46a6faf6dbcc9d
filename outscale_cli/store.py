"""The history's database, as far as recording one exchange needs it: its schema and
migrations, how it is opened, and the exchange's transaction. Reading, searching and removing
are in outscale_cli.history.

Every recorded chat and fim imports this module, so it stays small and builds no dataclass
(outscale_cli.startup says why): the goal is a recorded chat at most 10 ms slower than --no-log
(benchmarks/run.py --only history).
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from outscale_cli.errors import ConfigError

if TYPE_CHECKING:
    from typing_extensions import Self

SCHEMA = 2  # PRAGMA user_version of the current schema
BUSY_MS = 5000

# Each migration takes the database from version N-1 to N (index N-1 in this list).
MIGRATIONS: list[tuple[str, ...]] = [
    (  # 1: the first schema
        """CREATE TABLE conversations (
            id TEXT PRIMARY KEY,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL)""",
        """CREATE TABLE exchanges (
            id INTEGER PRIMARY KEY,
            conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            kind TEXT NOT NULL,
            created_at REAL NOT NULL,
            model TEXT, profile TEXT, server_url TEXT, system TEXT,
            messages TEXT NOT NULL,
            prompt TEXT NOT NULL,
            answer TEXT NOT NULL,
            finish_reason TEXT, usage TEXT,
            first_token_ms INTEGER, duration_ms INTEGER,
            options TEXT)""",
        "CREATE INDEX exchanges_by_conversation ON exchanges (conversation_id, id)",
    ),
    (  # 2: named conversations, thinking apart, interrupted answers, full-text search
        "ALTER TABLE conversations ADD COLUMN name TEXT",
        "CREATE UNIQUE INDEX conversations_by_name ON conversations (name)",
        "ALTER TABLE exchanges ADD COLUMN thinking TEXT",
        "ALTER TABLE exchanges ADD COLUMN interrupted INTEGER NOT NULL DEFAULT 0",
        "@fts",  # the full-text index, where SQLite has FTS5 (see _fts)
    ),
]
FTS = (
    """CREATE VIRTUAL TABLE exchanges_fts USING fts5(
        prompt, answer, content='exchanges', content_rowid='id')""",
    """CREATE TRIGGER exchanges_fts_insert AFTER INSERT ON exchanges BEGIN
        INSERT INTO exchanges_fts (rowid, prompt, answer)
        VALUES (new.id, new.prompt, new.answer); END""",
    """CREATE TRIGGER exchanges_fts_delete AFTER DELETE ON exchanges BEGIN
        INSERT INTO exchanges_fts (exchanges_fts, rowid, prompt, answer)
        VALUES ('delete', old.id, old.prompt, old.answer); END""",
    "INSERT INTO exchanges_fts (exchanges_fts) VALUES ('rebuild')",
)


class HistoryError(ConfigError):
    """The history could not be opened, read or written (exit 3, where it matters at all:
    recording never fails a command)."""


def _private(path: Path) -> None:
    """Make the database readable by its owner alone before SQLite opens it: its -wal and
    -shm files are created with the database's mode, and they hold prompts too."""
    if os.name != "posix":
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        if path.is_file() and not path.is_symlink():
            try:
                os.chmod(path, 0o600)
            except OSError:
                pass


def failure(path: Path, exc: sqlite3.Error) -> HistoryError:
    """What a user is told of an SQLite error met in the history at `path`, and what to do."""
    text = str(exc)
    if "locked" in text or "busy" in text:
        hint = "another outscale-cli is writing it: try again in a moment"
    elif "readonly" in text or "read-only" in text:
        hint = f"make {path} and its folder writable, or set OUTSCALE_HISTORY elsewhere"
    elif "full" in text:
        hint = "free some disk space, or set OUTSCALE_HISTORY elsewhere"
    else:
        hint = f"move {path} aside with its -wal and -shm files, and a new history starts"
    return HistoryError(f"the history {path} cannot be used: {text}", hint=hint)


class NameTaken(HistoryError):
    """Another conversation took the name between the check and the recording."""

    def __init__(self, name: str) -> None:
        super().__init__(f"the name {name!r} was taken meanwhile by another conversation")
        self.name = name


def new_conversation_id() -> str:
    """Time-sortable and unique: 20261129-031512-k3f9qa (UTC), the tail random."""
    alphabet = "0123456789abcdefghjkmnpqrstvwxyz"  # 32 letters: 5 bits each
    bits = int.from_bytes(os.urandom(4), "big")
    tail = "".join(alphabet[(bits >> (5 * i)) & 31] for i in range(6))
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + tail


_EXCHANGE_FIELDS = ("kind", "messages", "prompt", "answer", "model", "profile", "server_url",
                    "system", "thinking", "finish_reason", "usage", "first_token_ms",
                    "duration_ms", "options", "interrupted", "conversation_id", "created_at",
                    "id")  # fmt: skip


class Exchange:
    """One question and its answer, as recorded."""

    __slots__ = _EXCHANGE_FIELDS

    def __init__(
        self,
        kind: str,  # chat | fim
        messages: list[dict[str, Any]] | dict[str, Any],  # what was sent (fim: the body)
        prompt: str,  # this turn's text (chat: the user's message; fim: the code before the gap)
        answer: str,
        model: str | None = None,
        profile: str | None = None,
        server_url: str | None = None,
        system: str | None = None,
        thinking: str | None = None,
        finish_reason: str | None = None,
        usage: dict[str, Any] | None = None,
        first_token_ms: int | None = None,
        duration_ms: int | None = None,
        options: dict[str, Any] | None = None,
        interrupted: bool = False,
        conversation_id: str | None = None,  # set when recorded
        created_at: float | None = None,
        id: int | None = None,  # noqa: A002 - the column's name
    ) -> None:
        self.kind, self.messages, self.prompt, self.answer = kind, messages, prompt, answer
        self.model, self.profile, self.server_url, self.system = model, profile, server_url, system
        self.thinking, self.finish_reason, self.usage = thinking, finish_reason, usage
        self.first_token_ms, self.duration_ms = first_token_ms, duration_ms
        self.options: dict[str, Any] = {} if options is None else options
        self.interrupted, self.conversation_id, self.id = interrupted, conversation_id, id
        self.created_at: float = time.time() if created_at is None else created_at

    def __repr__(self) -> str:
        return f"Exchange(id={self.id!r}, kind={self.kind!r}, prompt={self.prompt!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Exchange):
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f) for f in _EXCHANGE_FIELDS)

    __hash__ = None  # type: ignore[assignment]  # equal by value, and changed when recorded

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "conversation": self.conversation_id,
            "kind": self.kind,
            "created_at": self.created_at,
            "model": self.model,
            "profile": self.profile,
            "server_url": self.server_url,
            "system": self.system,
            "messages": self.messages,
            "prompt": self.prompt,
            "answer": self.answer,
            "thinking": self.thinking,
            "finish_reason": self.finish_reason,
            "usage": self.usage,
            "first_token_ms": self.first_token_ms,
            "duration_ms": self.duration_ms,
            "options": self.options,
            "interrupted": self.interrupted,
        }


class Database:
    """The database, open for recording (History adds reading). Use as a context manager."""

    def __init__(self, path: Path, *, create: bool = True, one: bool = False) -> None:
        """`one`: opened to record one exchange, then closed in another thread (close_behind);
        _record says what else it changes."""
        self.one = one
        self.path = path
        if not create and not path.exists():
            raise HistoryError(f"no history yet at {path}")
        if path.exists() and not path.is_file():  # /dev/null: SQLite would write beside it
            raise HistoryError(
                f"the history {path} is not a file", hint="set OUTSCALE_HISTORY to a file's path"
            )
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            _private(path)
            self.db = sqlite3.connect(
                path, timeout=BUSY_MS / 1000, isolation_level=None, check_same_thread=not one
            )
        except (OSError, sqlite3.Error) as exc:
            raise HistoryError(f"cannot open the history {path}: {exc}") from None
        try:
            self.db.execute(f"PRAGMA busy_timeout = {BUSY_MS}")
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = NORMAL")
            self.db.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except sqlite3.Error as exc:
            self.db.close()
            raise HistoryError(f"cannot use the history {path}: {exc}") from None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close; the last connection's close copies the write-ahead log into the database
        file (a checkpoint), so that the file alone holds the whole history again."""
        if self.one:  # (cut short by a signal, _record may not have said NORMAL again)
            self._rollback()
            self._normal()
        self.db.close()

    def _normal(self) -> None:
        try:
            self.db.execute("PRAGMA synchronous = NORMAL")
            self.db.execute("PRAGMA wal_autocheckpoint = 1000")
        except sqlite3.Error:
            pass  # closed already, or broken: the close says no more

    def close_behind(self) -> None:
        """Close in a thread while the command finishes; the process waits for it before it
        ends (startup.finish). Closing copies the write-ahead log into the database file, with
        fsyncs of the log, its folder and the file, then removes the log (2-16 ms on a cloud
        VM's disk): the exchange is committed already, and the file alone holds the whole
        history again once the command is over (a copy of it, or one moved aside, is whole).
        Cut short by a signal, the copy is safe as after a crash: the log is kept, and the
        next close copies it. Opened with `one` only."""
        from outscale_cli.startup import behind

        behind(self.close, "close-history")

    # -- schema ---------------------------------------------------------------------------------
    def _migrate(self) -> None:
        version = int(self.db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA:
            raise HistoryError(
                f"the history {self.path} is of a newer outscale-cli (schema {version}): "
                "upgrade outscale-cli"
            )
        for number in range(version + 1, SCHEMA + 1):
            self.db.execute("BEGIN IMMEDIATE")
            try:
                if int(self.db.execute("PRAGMA user_version").fetchone()[0]) >= number:
                    self.db.execute("ROLLBACK")  # another process migrated it meanwhile
                    continue
                for statement in MIGRATIONS[number - 1]:
                    if statement == "@fts":
                        self._create_fts()
                    else:
                        self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {number}")
                self.db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise

    def _create_fts(self) -> None:
        try:
            for statement in FTS:
                self.db.execute(statement)
        except sqlite3.OperationalError as exc:
            if "fts5" not in str(exc).lower():
                raise
            # no FTS5 in this SQLite: search falls back to LIKE

    def _has_table(self, name: str) -> bool:
        row = self.db.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (name,)).fetchone()
        return row is not None

    # -- writing ----------------------------------------------------------------------------------
    def record(self, exchange: Exchange, *, conversation: str | None, name: str | None) -> str:
        """Record one exchange in `conversation` (or a new one, named `name`); its id."""
        # SQLite's busy handler waits up to BUSY_MS for a lock; what it does not cover (a
        # "locked" answered at once) is tried again within the same time, never past it.
        deadline = time.monotonic() + BUSY_MS / 1000
        for attempt in range(5):
            try:
                return self._record(exchange, conversation, name)
            except sqlite3.OperationalError as exc:
                busy = "locked" in str(exc) or "busy" in str(exc)
                if not busy or attempt == 4 or time.monotonic() >= deadline:
                    raise
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    def _record(self, exchange: Exchange, conversation: str | None, name: str | None) -> str:
        now = exchange.created_at
        # A database opened for `one` exchange commits it with synchronous = OFF when it starts
        # a new write-ahead log (the usual case: the last close removed it, and opening made
        # an empty one). Under NORMAL, a new log's header is synced with its folder, two fsyncs
        # (about 2 ms here) on the command's way, for nothing NORMAL keeps. No checkpoint runs
        # meanwhile (none automatic), and NORMAL is back right after: the close's checkpoint
        # syncs the log before it copies it, and the file after. A power loss can still cost
        # the last exchange at most, as under NORMAL, never the database. Into a log in use
        # (another connection has the history open), nothing changes: NORMAL, and automatic
        # checkpoints, which keep that log from growing.
        fresh = self.one and _empty(f"{self.path}-wal")
        try:
            if fresh:
                self.db.execute("PRAGMA synchronous = OFF")
                self.db.execute("PRAGMA wal_autocheckpoint = 0")
            self.db.execute("BEGIN IMMEDIATE")
            if conversation is None:
                conversation = new_conversation_id()
                while self._conversation_exists(conversation):
                    conversation = new_conversation_id()
                if name is not None and self.named(name) is not None:
                    raise NameTaken(name)  # by another chat since this one checked
                self.db.execute(
                    "INSERT INTO conversations (id, name, created_at, updated_at) VALUES (?,?,?,?)",
                    (conversation, name, now, now),
                )
            else:  # (removed meanwhile by `history rm`: it starts again under its id)
                self.db.execute(
                    "INSERT INTO conversations (id, created_at, updated_at) VALUES (?,?,?) "
                    "ON CONFLICT (id) DO UPDATE SET updated_at = excluded.updated_at",
                    (conversation, now, now),
                )
            cursor = self.db.execute(
                """INSERT INTO exchanges (conversation_id, kind, created_at, model, profile,
                   server_url, system, messages, prompt, answer, thinking, finish_reason, usage,
                   first_token_ms, duration_ms, options, interrupted)
                   VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
                (conversation, exchange.kind, now, exchange.model, exchange.profile,
                 exchange.server_url, exchange.system, _dump(exchange.messages), exchange.prompt,
                 exchange.answer, exchange.thinking, exchange.finish_reason,
                 _dump(exchange.usage), exchange.first_token_ms, exchange.duration_ms,
                 _dump(exchange.options), int(exchange.interrupted)),
            )  # fmt: skip
            self.db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        finally:
            if fresh:
                self._normal()
        exchange.id, exchange.conversation_id = cursor.lastrowid, conversation
        return conversation

    def _rollback(self) -> None:
        """Undo the open transaction, if SQLite has not already: the error that got us here
        is the one to tell, not "no transaction is active"."""
        if self.db.in_transaction:
            try:
                self.db.execute("ROLLBACK")
            except sqlite3.Error:
                pass

    def _conversation_exists(self, conversation: str) -> bool:
        row = self.db.execute("SELECT 1 FROM conversations WHERE id = ?", (conversation,))
        return row.fetchone() is not None

    def named(self, name: str) -> str | None:
        row = self.db.execute("SELECT id FROM conversations WHERE name = ?", (name,)).fetchone()
        return str(row[0]) if row else None


def _empty(path: str) -> bool:
    try:
        return os.path.getsize(path) == 0
    except OSError:
        return False


def _dump(value: Any) -> str | None:
    if value is None:
        return None
    import json

    return json.dumps(value, ensure_ascii=False)
