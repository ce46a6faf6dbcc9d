"""The history: every chat and fim exchange, kept in SQLite (the standard library's sqlite3).

Where: the platform's user data folder (`$XDG_DATA_HOME/outscale-cli/history.sqlite`), or
OUTSCALE_HISTORY. WAL mode, one transaction per exchange, a busy timeout with retries (twenty
concurrent chats all land), the schema version in PRAGMA user_version with migrations, and
FTS5 over prompts and answers (LIKE, with a note, where SQLite lacks FTS5).

Kept per exchange: its conversation (a time-sortable id, and an optional name), the model,
profile and server URL (its password hidden), the system prompt, the messages sent, the answer
(text, and the thinking apart), finish reason, usage, time to first token, duration, the
sampling options. Never the API key nor any header.

Recording never fails a command: a database that cannot be opened or written (read-only disk,
locked, corrupt) costs one warning line, and the answer stands. Nothing here is imported by a
command that does not record or read the history.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from outscale_cli.errors import ConfigError, UsageError

SCHEMA = 2  # PRAGMA user_version of the current schema
BUSY_MS = 5000
SEARCH_WINDOW = 2000  # `history search` ranks the latest this many matches
MIN_PREFIX = 4  # an id prefix shorter than this names no conversation (`rm 2` removes nothing)

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
        hint = f"move it aside (mv {path} {path}.broken) and a new history starts"
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


@dataclass
class Exchange:
    """One question and its answer, as recorded."""

    kind: str  # chat | fim
    messages: list[dict[str, Any]] | dict[str, Any]  # what was sent (fim: the body)
    prompt: str  # this turn's text (chat: the user's message; fim: the code before the gap)
    answer: str
    model: str | None = None
    profile: str | None = None
    server_url: str | None = None
    system: str | None = None
    thinking: str | None = None
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    first_token_ms: int | None = None
    duration_ms: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    interrupted: bool = False
    conversation_id: str | None = None  # set when recorded
    created_at: float = field(default_factory=time.time)
    id: int | None = None

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


@dataclass
class Conversation:
    id: str
    name: str | None
    turns: int
    model: str | None
    created_at: float
    updated_at: float


class History:
    """The database, open. Use as a context manager."""

    def __init__(self, path: Path, *, create: bool = True, any_thread: bool = False) -> None:
        """`any_thread`: opened in one thread, used in another (one at a time)."""
        self.path = path
        self.fts = True
        if not create and not path.exists():
            raise HistoryError(f"no history yet at {path}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            _private(path)
            self.db = sqlite3.connect(
                path, timeout=BUSY_MS / 1000, isolation_level=None, check_same_thread=not any_thread
            )
        except (OSError, sqlite3.Error) as exc:
            raise HistoryError(f"cannot open the history {path}: {exc}") from None
        try:
            if sys.version_info >= (3, 12):
                # Closing leaves the write-ahead log for SQLite's own checkpoint (every 1000
                # pages) instead of copying it into the database then and there: that copy
                # costs two fsyncs (16 ms on a cloud VM's disk) on every recorded chat. The
                # log is as safe as the database (synchronous = NORMAL, WAL's guarantee).
                self.db.setconfig(sqlite3.SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, True)
            self.db.execute(f"PRAGMA busy_timeout = {BUSY_MS}")
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = NORMAL")
            self.db.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except sqlite3.Error as exc:
            self.db.close()
            raise HistoryError(f"cannot use the history {path}: {exc}") from None

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.db.close()

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
        self.fts = self._has_table("exchanges_fts")

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
        self.db.execute("BEGIN IMMEDIATE")
        try:
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

    # -- reading ----------------------------------------------------------------------------------
    def find(self, wanted: str) -> str:
        """The id of the conversation `wanted` names (an id, a name, or a unique prefix of an
        id of at least 4 characters)."""
        if not wanted.strip():
            raise UsageError(
                "a conversation id or name is not empty",
                hint="list them with 'outscale-cli history conversations'",
            )
        row = self.db.execute(
            "SELECT id FROM conversations WHERE id = ? OR name = ?", (wanted, wanted)
        ).fetchone()
        if row:
            return str(row[0])
        rows = []
        if len(wanted) >= MIN_PREFIX:
            rows = self.db.execute(
                "SELECT id FROM conversations WHERE id LIKE ? ESCAPE '\\' LIMIT 2",
                (_like_prefix(wanted),),
            ).fetchall()
        if len(rows) == 1:
            return str(rows[0][0])
        if rows:
            raise UsageError(
                f"{wanted!r} begins the ids of several conversations",
                hint="give more of the id (see 'outscale-cli history conversations')",
            )
        raise UsageError(
            f"no conversation {wanted!r} in the history",
            hint="give its name, its id, or the first {MIN_PREFIX} or more characters of its id "
            "(see 'outscale-cli history conversations')".replace("{MIN_PREFIX}", str(MIN_PREFIX)),
        )

    def named(self, name: str) -> str | None:
        row = self.db.execute("SELECT id FROM conversations WHERE name = ?", (name,)).fetchone()
        return str(row[0]) if row else None

    def last_conversation(self) -> str | None:
        """The last conversation with a chat exchange in it (a fim exchange continues nothing)."""
        row = self.db.execute(
            "SELECT conversation_id FROM exchanges WHERE kind = 'chat' ORDER BY id DESC LIMIT 1"
        ).fetchone()
        return str(row[0]) if row else None

    def exchanges(self, conversation: str) -> list[Exchange]:
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM exchanges WHERE conversation_id = ? ORDER BY id",
            (conversation,),
        ).fetchall()
        return [_exchange(row) for row in rows]

    def recent(self, limit: int) -> list[Exchange]:
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM exchanges ORDER BY id DESC LIMIT ?", (limit,)
        ).fetchall()
        return [_exchange(row) for row in reversed(rows)]

    def counts(self) -> tuple[int, int]:
        """(conversations, exchanges)."""
        conversations = self.db.execute("SELECT COUNT(*) FROM conversations").fetchone()[0]
        exchanges = self.db.execute("SELECT COUNT(*) FROM exchanges").fetchone()[0]
        return int(conversations), int(exchanges)

    def every(self) -> Iterator[Exchange]:
        for row in self.db.execute(f"SELECT {_COLUMNS} FROM exchanges ORDER BY id"):
            yield _exchange(row)

    def conversations(self, limit: int | None = None) -> list[Conversation]:
        rows = self.db.execute(
            """SELECT c.id, c.name, COUNT(e.id),
                      (SELECT model FROM exchanges WHERE conversation_id = c.id
                       ORDER BY id DESC LIMIT 1),
                      c.created_at, c.updated_at
               FROM conversations c LEFT JOIN exchanges e ON e.conversation_id = c.id
               GROUP BY c.id ORDER BY c.updated_at DESC, c.id DESC LIMIT ?""",
            (-1 if limit is None else limit,),
        ).fetchall()
        return [Conversation(*row) for row in rows]

    def search(self, query: str, limit: int) -> list[Exchange]:
        """Exchanges matching `query`, best match first (FTS5's bm25; else LIKE, newest
        first). Ranked among the latest SEARCH_WINDOW matches: ranking every match of a word
        found in most exchanges takes 250 ms over 100,000 of them, the latest 2,000 12 ms."""
        if self.fts:
            try:
                rows = self.db.execute(
                    f"""SELECT {_COLUMNS_OF_E} FROM exchanges_fts f JOIN exchanges e
                        ON e.id = f.rowid WHERE exchanges_fts MATCH :query
                        AND f.rowid >= coalesce((SELECT rowid FROM exchanges_fts
                            WHERE exchanges_fts MATCH :query ORDER BY rowid DESC
                            LIMIT 1 OFFSET :window), 0)
                        ORDER BY bm25(exchanges_fts), e.id DESC LIMIT :limit""",
                    {"query": _fts_query(query), "window": SEARCH_WINDOW - 1, "limit": limit},
                ).fetchall()
                return [_exchange(row) for row in rows]
            except sqlite3.OperationalError:
                pass  # a query FTS5 cannot parse: LIKE below
        pattern = _like_anywhere(query)
        rows = self.db.execute(
            f"""SELECT {_COLUMNS} FROM exchanges WHERE prompt LIKE ? ESCAPE '\\'
                OR answer LIKE ? ESCAPE '\\' ORDER BY id DESC LIMIT ?""",
            (pattern, pattern, limit),
        ).fetchall()
        return [_exchange(row) for row in rows]

    # -- removing ---------------------------------------------------------------------------------
    def remove_conversation(self, conversation: str) -> int:
        return self._remove("DELETE FROM exchanges WHERE conversation_id = ?", (conversation,),
                            "DELETE FROM conversations WHERE id = ?")  # fmt: skip

    def remove_older_than(self, seconds: float) -> int:
        """Remove the conversations last used more than `seconds` ago, whole: a later exchange
        holds the messages of the earlier ones (they were sent with it), so removing exchanges
        one by one would keep what they said."""
        cutoff = time.time() - seconds
        return self._remove(
            "DELETE FROM exchanges WHERE conversation_id IN "
            "(SELECT id FROM conversations WHERE updated_at < ?)", (cutoff,),
            "DELETE FROM conversations WHERE updated_at < ?",
        )  # fmt: skip

    def remove_all(self) -> int:
        return self._remove("DELETE FROM exchanges", (), "DELETE FROM conversations")

    def _remove(self, exchanges: str, args: tuple[Any, ...], conversations: str) -> int:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            removed = self.db.execute(exchanges, args).rowcount
            self.db.execute(conversations, args if "?" in conversations else ())
            self.db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        return removed


_FIELDS = ("id, conversation_id, kind, created_at, model, profile, server_url, system, messages, "
           "prompt, answer, thinking, finish_reason, usage, first_token_ms, duration_ms, options, "
           "interrupted")  # fmt: skip
_COLUMNS = _FIELDS
_COLUMNS_OF_E = ", ".join(f"e.{name.strip()}" for name in _FIELDS.split(","))


def _exchange(row: tuple[Any, ...]) -> Exchange:
    (ident, conversation, kind, created, model, profile, server, system, messages, prompt,
     answer, thinking, finish, usage, first_ms, duration_ms, options,
     interrupted) = row  # fmt: skip
    return Exchange(
        kind=kind, messages=json.loads(messages), prompt=prompt, answer=answer, model=model,
        profile=profile, server_url=server, system=system, thinking=thinking,
        finish_reason=finish, usage=json.loads(usage) if usage else None,
        first_token_ms=first_ms, duration_ms=duration_ms,
        options=json.loads(options) if options else {}, interrupted=bool(interrupted),
        conversation_id=conversation, created_at=created, id=ident,
    )  # fmt: skip


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def _fts_query(text: str) -> str:
    """Every word of `text` as a quoted FTS5 term: a user's words, never FTS5 syntax."""
    words = [w for w in text.replace('"', " ").split() if w]
    return " ".join(f'"{w}"' for w in words) or '""'


def _like_anywhere(text: str) -> str:
    return "%" + _escape_like(text) + "%"


def _like_prefix(text: str) -> str:
    return _escape_like(text) + "%"


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
