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
command that does not record or read the history; recording needs only outscale_cli.store.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from outscale_cli.errors import UsageError
from outscale_cli.store import (
    BUSY_MS,
    MIGRATIONS,
    SCHEMA,
    Database,
    Exchange,
    HistoryError,
    NameTaken,
    failure,
    new_conversation_id,
)

__all__ = ["BUSY_MS", "MIGRATIONS", "SCHEMA", "Conversation", "Exchange", "History", "HistoryError",
           "NameTaken", "failure", "new_conversation_id"]  # fmt: skip

SEARCH_WINDOW = 2000  # `history search` ranks the latest this many matches
MIN_PREFIX = 4  # an id prefix shorter than this names no conversation (`rm 2` removes nothing)


@dataclass
class Conversation:
    id: str
    name: str | None
    turns: int
    model: str | None
    created_at: float
    updated_at: float


class History(Database):
    """The database, open for reading, searching and removing too. A context manager."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        super().__init__(path, create=create)
        try:
            self.fts = self._has_table("exchanges_fts")  # else search uses LIKE
        except sqlite3.Error as exc:
            self.db.close()
            raise HistoryError(f"cannot use the history {path}: {exc}") from None

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
