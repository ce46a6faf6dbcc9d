"""outscale-cli history: what was asked and answered, kept in SQLite (see outscale_cli.history).

A table or rendered Markdown on a terminal, plain text when piped, one JSON object a line with
--json. Nothing here imports pydantic or httpx: these commands read a local file.
"""

import functools
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Optional, TypeVar

import typer

app = typer.Typer(
    help="The history of exchanges: list, show, search, remove, export; on or off.",
    add_completion=False,
    invoke_without_command=True,
)

Json = Annotated[bool, typer.Option("--json", help="One JSON object a line")]
Limit = Annotated[int, typer.Option("--limit", "-n", metavar="N", help="At most N")]
ConfigFlag = Annotated[
    Optional[str],  # noqa: UP045 - typer reads these annotations at run time
    typer.Option("--config", metavar="PATH", help="The config file [env: OUTSCALE_CONFIG]"),
]


F = TypeVar("F", bound=Callable[..., Any])


def _sqlite_errors(command: F) -> F:
    """An SQLite error met while reading or changing the history (a corrupt page, a lock held
    too long, a read-only or full disk) is a one-line message with a hint, exit 3."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import sqlite3

        try:
            return command(*args, **kwargs)
        except sqlite3.Error as exc:
            import os

            from outscale_cli.history import failure
            from outscale_cli.recording import path_of

            raise failure(path_of(os.environ), exc) from None

    return wrapper  # type: ignore[return-value]


def _env() -> Any:
    from outscale_cli.console import Environment

    return Environment.from_process()


def _open(create: bool = False) -> Any:
    import os

    from outscale_cli.history import History
    from outscale_cli.recording import path_of

    path = path_of(os.environ)
    if not create and not path.exists():
        return None
    return History(path)


def _check_limit(limit: int) -> None:
    from outscale_cli.errors import UsageError

    if not 1 <= limit <= 1_000_000:
        raise UsageError(f"--limit takes 1 to 1,000,000 (got {limit})")


@app.callback()
@_sqlite_errors
def recent(ctx: typer.Context, limit: Limit = 20, json_output: Json = False) -> None:
    """The recent exchanges (the default when no subcommand is given)."""
    if ctx.invoked_subcommand is not None:
        return
    _check_limit(limit)
    history = _open()
    exchanges = [] if history is None else history.recent(limit)
    if history is not None:
        history.db.close()
    _print_exchanges(_env(), exchanges, json_output)


@app.command("conversations")
@_sqlite_errors
def conversations(limit: Limit = 50, json_output: Json = False) -> None:
    """The conversations, newest first: id, name, turns, model, last used."""
    import json

    _check_limit(limit)
    env = _env()
    history = _open()
    found = [] if history is None else history.conversations(limit)
    if history is not None:
        history.db.close()
    if json_output:
        env.out("".join(json.dumps({"id": c.id, "name": c.name, "turns": c.turns,
                                    "model": c.model, "created_at": c.created_at,
                                    "updated_at": c.updated_at}) + "\n"
                        for c in found))  # fmt: skip
        return
    rows = [(c.id, c.name or "", str(c.turns), c.model or "", _when(c.updated_at)) for c in found]
    _table(env, ("id", "name", "turns", "model", "last used"), rows)


@app.command("show")
@_sqlite_errors
def show(
    conversation: Annotated[str, typer.Argument(metavar="ID|NAME", help="The conversation")],
    json_output: Json = False,
) -> None:
    """A whole conversation (rendered as Markdown on a terminal)."""
    from outscale_cli.errors import UsageError

    history = _open()
    if history is None:
        raise UsageError("the history is empty", hint="chat first: outscale-cli chat 'Hello'")
    with history:
        exchanges = history.exchanges(history.find(conversation))
    env = _env()
    if json_output:
        _print_exchanges(env, exchanges, True)
        return
    parts = []
    for exchange in exchanges:
        mark = " (interrupted)" if exchange.interrupted else ""
        if exchange.system and exchange is exchanges[0]:
            parts.append(f"*System:* {exchange.system}")
        parts.append(f"**You** ({_when(exchange.created_at)}):\n\n{exchange.prompt}")
        parts.append(f"**{exchange.model or 'model'}**{mark}:\n\n{exchange.answer}")
    text = "\n\n".join(parts) + "\n"
    if env.stdout_isatty:
        from rich.console import Console
        from rich.markdown import Markdown

        Console(file=env.stdout).print(Markdown(text))
    else:
        env.out(text)


@app.command("search")
@_sqlite_errors
def search(
    query: Annotated[str, typer.Argument(metavar="TEXT", help="Words to find")],
    limit: Limit = 20,
    json_output: Json = False,
) -> None:
    """Full-text search over prompts and answers, best match first."""
    _check_limit(limit)
    env = _env()
    history = _open()
    if history is None:
        _print_exchanges(env, [], json_output)
        return
    with history:
        if not history.fts:
            env.info("note: this SQLite has no FTS5: a plain substring search, newest first")
        found = history.search(query, limit)
    _print_exchanges(env, found, json_output)


@app.command("rm")
@_sqlite_errors
def remove(
    conversation: Annotated[
        Optional[str],  # noqa: UP045
        typer.Argument(metavar="ID|NAME", help="The conversation to remove"),
    ] = None,
    older_than: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--older-than",
            metavar="AGE",
            help="Conversations last used more than AGE ago: 30d, 12h, 2w",
        ),
    ] = None,
    everything: Annotated[bool, typer.Option("--all", help="The whole history")] = False,
) -> None:
    """Remove a conversation, the conversations unused for an age, or everything."""
    from outscale_cli.errors import UsageError

    chosen = sum(x is not None and x is not False for x in (conversation, older_than, everything))
    if chosen != 1:
        raise UsageError("give one of ID|NAME, --older-than AGE, --all")
    history = _open()
    env = _env()
    if history is None:
        if everything:
            import os

            from outscale_cli.recording import path_of

            _remove_input_history(path_of(os.environ))
        env.info("removed nothing: the history is empty")
        return
    with history:
        if conversation is not None:
            removed = history.remove_conversation(history.find(conversation))
        elif older_than is not None:
            removed = history.remove_older_than(_age(older_than))
        else:
            removed = history.remove_all()
            _remove_input_history(history.path)
    env.info(f"removed {removed} exchange{'s' * (removed != 1)}")


@app.command("export")
@_sqlite_errors
def export(json_output: Json = True) -> None:
    """Every exchange, one JSON object a line (a backup: history export --json > b.jsonl)."""
    import json

    env = _env()
    history = _open()
    if history is None:
        return
    with history:
        for exchange in history.every():
            env.out(json.dumps(exchange.as_json(), ensure_ascii=False) + "\n")


@app.command("path")
def path() -> None:
    """Where the history is kept (OUTSCALE_HISTORY moves it)."""
    import os

    from outscale_cli.recording import path_of

    _env().out(f"{path_of(os.environ)}\n")


@app.command("off")
def off(config: ConfigFlag = None) -> None:
    """Stop recording exchanges (history = false in the config file)."""
    _switch(False, config)


@app.command("on")
def on(config: ConfigFlag = None) -> None:
    """Record exchanges again."""
    _switch(True, config)


@app.command("status")
@_sqlite_errors
def status(config: ConfigFlag = None, json_output: Json = False) -> None:
    """Whether exchanges are recorded, why, and what the history holds."""
    import json
    import os

    from outscale_cli.commands.options import Connection
    from outscale_cli.recording import history_on, path_of

    recording, why = history_on(Connection(config=config), os.environ)
    where = path_of(os.environ)
    history = _open()
    counts = (0, 0)
    if history is not None:
        with history:
            counts = history.counts()
    env = _env()
    if json_output:
        found = {"recording": recording, "why": why, "path": str(where),
                 "conversations": counts[0], "exchanges": counts[1]}  # fmt: skip
        env.out(json.dumps(found) + "\n")
        return
    state = "on" if recording else f"off ({why})"
    env.out(f"recording  {state}\npath       {where}\n"
            f"holds      {counts[1]} exchanges in {counts[0]} conversations\n")  # fmt: skip


def _switch(recording: bool, config: Optional[str]) -> None:  # noqa: UP045
    import os

    from outscale_cli.config import config_path
    from outscale_cli.config_edit import set_history

    where = config_path(config, os.environ)
    set_history(where, recording)
    env = _env()
    env.info(f"history {'on' if recording else 'off'} ({where})")
    from outscale_cli.recording import no_history

    if recording and no_history(os.environ):
        env.warn("OUTSCALE_NO_HISTORY is set in this environment: it still turns recording off")


def _remove_input_history(history: Any) -> None:
    """chat -i's typed lines go with the rest."""
    from outscale_cli.recording import input_history_path

    try:
        input_history_path(history).unlink(missing_ok=True)
    except OSError:
        pass


# -- output ---------------------------------------------------------------------------------
def _print_exchanges(env: Any, exchanges: list[Any], json_output: bool) -> None:
    import json

    if json_output:
        env.out("".join(json.dumps(e.as_json(), ensure_ascii=False) + "\n" for e in exchanges))
        return
    rows = [
        (_when(e.created_at), e.conversation_id or "", e.model or "", _short(e.prompt),
         _short(e.answer) + (" (interrupted)" if e.interrupted else ""))
        for e in exchanges
    ]  # fmt: skip
    _table(env, ("when", "conversation", "model", "prompt", "answer"), rows)


def _table(env: Any, columns: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    if env.stdout_isatty:
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        table = Table(box=None, header_style="bold", pad_edge=False)
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*(Text(cell) for cell in row))  # said text, never rich markup
        Console(file=env.stdout).print(table)
    else:
        env.out("".join("\t".join(row) + "\n" for row in rows))


def _short(text: str, limit: int = 80) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _when(stamp: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp))


def _age(text: str) -> float:
    """Seconds in an age such as 30d, 12h, 2w, 90m, 45s."""
    import re

    from outscale_cli.errors import UsageError

    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if not match:
        raise UsageError(f"--older-than takes an age such as 30d, 12h, 2w, not {text!r}")
    unit = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[match.group(2)]
    return float(match.group(1)) * unit
