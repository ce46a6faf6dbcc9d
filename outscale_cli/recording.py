"""Between the commands and the history: whether to record, what a turn becomes, and the
messages that continue a conversation.

Recorded by default, like llm: every chat and fim exchange. Not with --no-log, nor with
OUTSCALE_NO_HISTORY=1, nor when the config file says `history = false` (`history off`), nor
ever with --mock. A recording that fails costs one warning line, never the command.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from outscale_cli.console import Environment

if TYPE_CHECKING:
    from outscale_cli.commands.options import Connection
    from outscale_cli.commands.run import Turn
    from outscale_cli.history import History
    from outscale_cli.settings import Settings
    from outscale_cli.store import Exchange


def history_on(conn: Connection, environ: Mapping[str, str]) -> tuple[bool, str]:
    """(whether exchanges are recorded, and why), --no-log aside."""
    if no_history(environ):
        return False, "OUTSCALE_NO_HISTORY is set"
    from outscale_cli.config import config_path, load_config, read_top

    path = config_path(conn.config, environ)
    wanted = read_top(path).get("history")
    if wanted is False:
        return False, f"history = false in {path}"
    if wanted is not None and wanted is not True:
        load_config(path)  # says where, and what is expected (exit 3)
    return True, "on"


def no_history(environ: Mapping[str, str]) -> bool:
    """Whether OUTSCALE_NO_HISTORY turns recording off: any value but empty, 0, false, no,
    off (as a user means them)."""
    value = environ.get("OUTSCALE_NO_HISTORY", "").strip().lower()
    return value not in ("", "0", "false", "no", "off")


def input_history_path(history: Path) -> Path:
    """Where chat -i keeps the lines typed at its prompt: beside the history, named after it
    (`history rm --all` removes it too)."""
    return history.with_name(history.name + ".input")


def path_of(environ: Mapping[str, str]) -> Path:
    """Where the history is: $OUTSCALE_HISTORY, or history.sqlite in the user's data folder."""
    if environ.get("OUTSCALE_HISTORY"):
        return Path(environ["OUTSCALE_HISTORY"]).expanduser()
    from platformdirs import user_data_path

    return user_data_path("outscale-cli") / "history.sqlite"


class Recorder:
    """Where this command's exchanges go: a conversation (or a new one, maybe named)."""

    def __init__(
        self, env: Environment, path: Path, conversation: str | None = None, name: str | None = None
    ) -> None:
        self.env, self.path, self.conversation, self.name = env, path, conversation, name

    def save(self, exchange: Exchange) -> None:
        import sqlite3

        from outscale_cli.errors import Expired
        from outscale_cli.store import Database, HistoryError, NameTaken

        try:
            # Opened now, in this thread: not in a thread of its own while the request is on
            # its way, which cost more than it hid (README, "What the history costs").
            history = Database(self.path, one=True)
            try:
                self.conversation = history.record(
                    exchange, conversation=self.conversation, name=self.name
                )
            except NameTaken as taken:
                self.conversation = history.record(exchange, conversation=None, name=None)
                self.env.warn(f"{taken.message}: this one is {self.conversation}, unnamed")
            finally:
                history.close_behind()
            self.name = None  # named once, when it starts
        except (HistoryError, sqlite3.Error, OSError) as exc:
            reason = exc.message if isinstance(exc, HistoryError) else str(exc)
            self.env.warn(f"the exchange was not recorded: {reason}")
        except Expired as exc:  # the answer is whole: a busy history does not make it fail
            self.env.warn(
                f"the exchange was not recorded: --max-time {exc.max_time:g} s expired while "
                "the history was busy"
            )


def exchange_of(
    kind: str,
    body: dict[str, Any],
    prompt: str,
    turn: Turn,
    settings: Settings,
    *,
    interrupted: bool,
) -> Exchange:
    """What the history keeps of one turn (never a key nor a header)."""
    from outscale_cli.store import Exchange
    from outscale_cli.wire import SAMPLING_FIELDS

    completion = turn.completion
    system = None
    messages: Any = body
    if kind == "chat":
        messages = body["messages"]
        if messages and messages[0].get("role") == "system":
            system = str(messages[0].get("content"))
    return Exchange(
        kind=kind,
        messages=messages,
        prompt=prompt,
        answer=completion.text if completion is not None else "",
        model=body.get("model"),
        profile=settings.profile,
        server_url=settings.shown_url,
        system=system,
        thinking=(completion.thinking or None) if completion is not None else None,
        finish_reason=completion.finish_reason if completion is not None else None,
        usage=completion.usage if completion is not None else None,
        first_token_ms=None if turn.first_token is None else round(turn.first_token * 1000),
        duration_ms=None if turn.total is None else round(turn.total * 1000),
        options={k: v for k, v in body.items() if k in SAMPLING_FIELDS},
        interrupted=interrupted,
    )


def reply_of(exchange: Exchange) -> dict[str, Any]:
    """The assistant message that answers `exchange`, as Mistral expects it back: a reasoning
    model's answer with its thinking as a closed thinking chunk, then the text."""
    if exchange.thinking:
        return {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": [{"type": "text", "text": exchange.thinking}],
                 "closed": True},
                {"type": "text", "text": exchange.answer},
            ],
        }  # fmt: skip
    return {"role": "assistant", "content": exchange.answer}


class Earlier(NamedTuple):
    """A conversation to continue: its id, its messages so far, its model."""

    conversation: str
    messages: list[dict[str, Any]]
    model: str | None
    profile: str | None = None


def earlier(history: History, conversation: str) -> Earlier:
    """The messages that continue `conversation`: the last chat exchange's messages and its
    answer. FIM exchanges have no messages to continue."""
    exchanges = [e for e in history.exchanges(conversation) if e.kind == "chat"]
    if not exchanges:
        from outscale_cli.errors import UsageError

        raise UsageError(f"the conversation {conversation} has no chat exchange to continue")
    last = exchanges[-1]
    messages = [dict(m) for m in last.messages if isinstance(m, dict)]
    if messages and messages[-1].get("role") == "assistant" and messages[-1].get("prefix"):
        messages.pop()  # a --prefix of that turn: its answer below carries it
    messages.append(reply_of(last))
    return Earlier(conversation, messages, last.model, last.profile)


def with_system(messages: list[dict[str, Any]], system: str | None) -> list[dict[str, Any]]:
    """`messages` with `system` as their system message (given again: it replaces the old)."""
    if system is None:
        return messages
    rest = [m for m in messages if m.get("role") != "system"]
    return [{"role": "system", "content": system}, *rest]


def environ() -> Mapping[str, str]:
    return os.environ
