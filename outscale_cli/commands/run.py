"""What every command does around its request: settings, the stand-in, the client, the model,
and (for chat and fim) the completion itself from request to rendered answer.

The heavy modules (httpx through client.py, rich, the stand-in server) are imported here, when
a command runs, never when the CLI starts.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any, NamedTuple

from outscale_cli import startup
from outscale_cli.commands.options import Connection
from outscale_cli.console import STARTED, Environment
from outscale_cli.errors import CliError, ConfigError, Expired, ServerError

if TYPE_CHECKING:
    from outscale_cli.client import Client
    from outscale_cli.render import Writer
    from outscale_cli.settings import Settings
    from outscale_cli.stream import Delta

MOCK_DEFAULT_MODEL = {"fim": "codestral-2405"}
MOCK_FALLBACK_MODEL = "small-2409"
MOCK_PACE = 0.01  # seconds a token: --mock shows streaming, briefly


class Session:
    """What a command talks through: its environment, settings and client."""

    def __init__(self, env: Environment, settings: Settings, client: Client) -> None:
        self.env, self.settings, self.client = env, settings, client

    def list_models(self) -> Any:
        return self.client.get_json("models")

    def model(self) -> str:
        """The configured model or, when none is, the one model the server serves."""
        if self.settings.model:
            return self.settings.model
        try:
            listing = self.list_models()
        except ServerError as exc:
            if exc.http_status in (404, 405):
                raise no_model(None) from None
            raise
        cards = model_cards(listing)
        only = single_model(cards)
        if only is not None:
            self.env.debug_line(f"no model set; the server serves only {only}")
            return only
        raise no_model([str(c["id"]) for c in cards])


def no_model(served: list[str] | None) -> ConfigError:
    """No model is set and none can be inferred; `served` None: the server lists none."""
    if served is None:
        why = " (the server does not list its models)"
    else:
        why = f"; the server serves: {', '.join(served) or 'nothing'}"
    return ConfigError(
        f"no model set: set OUTSCALE_MODEL_NAME or pass -m{why}",
        hint=f"e.g. -m {served[0]}" if served else "e.g. -m small-2409",
    )


def model_cards(listing: Any) -> list[dict[str, Any]]:
    """The model cards of a /v1/models answer ({"object": "list", "data": [...]} or a list)."""
    data = listing.get("data") if isinstance(listing, dict) else listing
    if not isinstance(data, list):
        from outscale_cli.errors import BadResponse

        raise BadResponse("the model list is not a list")
    return [c for c in data if isinstance(c, dict) and isinstance(c.get("id"), str)]


def single_model(cards: list[dict[str, Any]]) -> str | None:
    """The one model served, counting entries that are another entry's alias as that entry."""
    aliases = {a for c in cards for a in (c.get("aliases") or []) if isinstance(a, str)}
    primary = [c["id"] for c in cards if c["id"] not in aliases] or [c["id"] for c in cards]
    distinct = list(dict.fromkeys(primary))
    return distinct[0] if len(distinct) == 1 else None


def find_model(cards: list[dict[str, Any]], wanted: str) -> str | None:
    """The id of the card whose id or alias is `wanted`."""
    for card in cards:
        if card["id"] == wanted or wanted in (card.get("aliases") or []):
            return str(card["id"])
    return None


def settings_of(conn: Connection, environ: Mapping[str, str] | None = None) -> Settings:
    """The command's settings: its flags > environment > its profile > defaults."""
    from outscale_cli.settings import resolve_settings

    return resolve_settings(
        conn.flags(),
        os.environ if environ is None else environ,
        profile=conn.profile,
        config=conn.config,
    )


@contextmanager
def session(
    env: Environment, conn: Connection, *, command: str, default_retries: int = 2
) -> Iterator[Session]:
    """Settings resolved, the stand-in started if asked, the client open; closed after."""
    settings = settings_of(conn)
    with open_session(
        env, settings, mock=conn.mock, command=command, default_retries=default_retries
    ) as s:
        yield s


def concurrently(tasks: list[Callable[[], None]], workers: int = 8) -> None:
    """Run the tasks, `workers` at a time, in daemon threads: Ctrl-C (or SIGTERM) reaches the
    caller at once, and no request still in flight holds the process at exit."""
    import threading

    queue = list(reversed(tasks))
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                if not queue:
                    return
                task = queue.pop()
            task()

    threads = [threading.Thread(target=work, daemon=True) for _ in range(min(workers, len(tasks)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(0.1)  # short joins: a signal is handled between them


def fleet_failure(failures: list[tuple[str, CliError]], total: int, what: str) -> CliError:
    """The one error of a fleet command (--all): which profiles failed, with the exit status
    and type of the first in file order; each profile's own error is shown once, with it."""
    names = ", ".join(name for name, _ in failures)
    first = failures[0][1]
    summary = CliError(f"{len(failures)} of {total} profiles {what}: {names}")
    summary.status, summary.kind = first.status, first.kind
    summary.http_status, summary.request_id = first.http_status, first.request_id
    return summary


def every_profile(conn: Connection) -> list[tuple[str, Settings | CliError]]:
    """For --all: each profile of the config file with its settings, or why it has none."""
    from outscale_cli.settings import every_profile_settings

    return every_profile_settings(conn.flags(), os.environ, config=conn.config)


@contextmanager
def open_session(
    env: Environment,
    settings: Settings,
    *,
    mock: bool = False,
    command: str,
    default_retries: int = 2,
) -> Iterator[Session]:
    """The stand-in started if asked, the client open; both closed after."""
    with ExitStack() as stack:
        if mock:
            from outscale_cli.mock.server import MockConfig, MockServer

            # The same stand-in as `mock-server`: its models, refusing others as a deployment.
            model = settings.model or MOCK_DEFAULT_MODEL.get(command, MOCK_FALLBACK_MODEL)
            server = stack.enter_context(MockServer(MockConfig(pace=MOCK_PACE, keep_records=False)))
            settings = settings.model_copy(update={"server_url": server.url, "model": model})
            env.debug_line(f"stand-in deployment serving {model} at {server.url}")
        settings.api_base  # noqa: B018 - raises the "no server URL" error before any work
        from outscale_cli.client import Client

        deadline = None
        if settings.max_time is not None:
            deadline = STARTED + settings.max_time
            stack.enter_context(alarm(deadline, settings.max_time))
        retries = settings.retries if settings.retries is not None else default_retries
        client = stack.enter_context(Client(settings, env, retries, deadline))
        startup.loaded()  # the work begins
        yield Session(env, settings, client)


@contextmanager
def alarm(deadline: float, max_time: float) -> Iterator[None]:
    """Raise Expired at the deadline wherever the command is, even in a blocking read (the
    client also cuts each timeout short; this covers a stream that trickles, then stalls).
    Signals reach only the main thread: elsewhere the client's own checks must do."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise Expired(max_time)

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, max(0.001, deadline - time.monotonic()))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class Output(NamedTuple):
    stream: bool = True
    json: bool = False
    usage: bool = False
    show_thinking: bool = False
    plain: bool = False
    markdown: bool = True  # chat answers are Markdown; FIM completions are code
    prefix: str | None = None


def make_writer(env: Environment, out: Output) -> Writer:
    from outscale_cli.render import MarkdownWriter, PlainWriter, PrefixStripper

    writer: Writer
    if env.stdout_isatty and out.markdown and not out.plain:
        writer = MarkdownWriter(env.stdout)
    else:
        # Piped FIM output is spliced into files: exactly what the model produced.
        writer = PlainWriter(env.stdout, final_newline=out.markdown or env.stdout_isatty)
    if out.prefix:
        writer = PrefixStripper(writer, out.prefix)
    return writer


class Turn:
    """One answer as it arrives: what the history records, even when it is interrupted."""

    def __init__(self) -> None:
        self.completion: Any = None  # stream.Completion, filled as the answer arrives
        self.started = 0.0  # time.perf_counter() when the request was sent
        self.first_token: float | None = None  # seconds to the first token of any kind...
        self.first_kind = "answer"  # ...and which: reasoning models think before they answer
        self.total: float | None = None  # seconds, once the answer has ended


def complete(
    s: Session,
    route: str,
    body: dict[str, Any],
    out: Output,
    turn: Turn | None = None,
    *,
    keep_text: bool = True,
) -> None:
    """Send one completion request and render its answer as it arrives (kept in `turn` when
    given; its text too, with `keep_text`, for the history or the conversation)."""
    from outscale_cli.errors import BadResponse
    from outscale_cli.render import ThinkingWriter, usage_line
    from outscale_cli.stream import (
        Completion,
        check_error_object,
        iter_deltas,
        parse_json_object,
    )

    env = s.env
    # The text is kept to print it whole (--json), or to record it: otherwise memory stays
    # flat however long the answer.
    keep_text = out.json or (turn is not None and keep_text)
    turn = turn or Turn()
    completion = turn.completion = Completion(keep_text=keep_text)
    writer = None if out.json else make_writer(env, out)
    thinking = ThinkingWriter(env) if out.show_thinking else None
    raw: dict[str, Any] | None = None
    started = turn.started = time.perf_counter()

    def emit(delta: Delta) -> None:
        if turn.first_token is None:
            turn.first_token = time.perf_counter() - started
            turn.first_kind = "answer" if delta.text else "thinking"
        if delta.thinking and thinking is not None:
            thinking.write(delta.thinking)
        if delta.text:
            if thinking is not None:
                thinking.close()
            if writer is not None:
                writer.write(delta.text)

    def whole(obj: dict[str, Any]) -> dict[str, Any]:
        check_error_object(obj)
        emit(completion.add_response(obj))
        return obj

    try:
        # One path for both: the answer's content type, not the request, decides how to
        # read it (some servers and proxies stream when not asked, or answer whole when asked).
        with s.client.post_stream(route, body, events=out.stream) as answer:
            if answer.content_type == "application/json":
                raw = whole(parse_json_object(answer.read(), "response"))
            elif answer.content_type in ("text/event-stream", ""):
                for delta in iter_deltas(answer.chunks(), completion):
                    emit(delta)
            else:
                raise BadResponse(
                    f"unexpected content type {answer.content_type!r} in the answer",
                    hint="check that the server URL points at a Mistral API",
                )
    finally:
        # What was received stays on stdout, ended properly, even when the stream broke or a
        # signal stopped it (Root.invoke turns the signal into its exit status).
        if thinking is not None:
            thinking.close()
        if writer is not None:
            writer.finish()
        turn.total = time.perf_counter() - started
    if out.json:
        import json

        env.out(json.dumps(raw or completion.to_response(), ensure_ascii=False, indent=2) + "\n")
    if out.usage:
        shown = turn.first_token if out.stream else None
        env.info(usage_line(completion.usage, shown, turn.total, turn.first_kind))
    end_of_answer(env, completion.finish_reason, body, out)


def end_of_answer(env: Environment, reason: str | None, body: dict[str, Any], out: Output) -> None:
    """An answer that did not end by itself is not printed as if complete: one line on stderr
    when it was cut (exit 0; --json carries finish_reason already), exit 7 when the server
    ended it with an error (what came stays on stdout)."""
    from outscale_cli.errors import BadResponse

    if reason == "error":
        raise BadResponse(
            "the server ended the answer with an error (finish_reason error): it is incomplete",
            hint="try again; if it persists, check the deployment's logs",
        )
    if out.json:
        return
    if reason == "length":
        limit = f"--max-tokens {body['max_tokens']}" if "max_tokens" in body else "its token limit"
        env.warn(f"the answer was cut: it reached {limit} (finish_reason length)")
    elif reason == "model_length":
        env.warn("the answer was cut: it reached the model's context length "
                 "(finish_reason model_length)")  # fmt: skip


# -- conversations: what the history records, and what continues ---------------------------------
def conversation_of(
    env: Environment,
    conn: Connection,
    *,
    continue_: bool = False,
    cid: str | None = None,
    name: str | None = None,
    no_log: bool = False,
) -> tuple[Any, Any]:
    """(the recorder of this command's exchanges or None, the conversation it continues or
    None), from -c/--continue, --cid, --name and --no-log."""
    from outscale_cli.errors import UsageError
    from outscale_cli.recording import Recorder, earlier, history_on, path_of

    wants = continue_ or cid is not None
    if continue_ and cid is not None:
        raise UsageError("--continue and --cid exclude each other: choose one")
    if name is not None and wants:
        raise UsageError("--name starts a conversation: drop -c/--cid, or drop --name")
    if name is not None and not name.strip():
        raise UsageError("--name takes a name that is not empty")
    if name is not None and any(ch < " " or "\x7f" <= ch <= "\x9f" for ch in name):
        raise UsageError("--name takes a name without control characters (tabs, new lines)")
    if conn.mock:
        if wants or name is not None:
            raise UsageError("--mock exchanges are not recorded: drop -c, --cid and --name")
        return None, None
    if no_log and name is not None:
        raise UsageError("--name names a recorded conversation: drop --no-log, or drop --name")
    on, why = (False, "--no-log") if no_log else history_on(conn, os.environ)
    if not on and not no_log:
        if wants or name is not None:
            raise UsageError(
                f"-c, --cid and --name use the history, which is off here ({why})",
                hint="turn it on with 'outscale-cli history on'",
            )
        return None, None
    recorder = Recorder(env, path_of(os.environ), name=name)
    if not wants and name is None:
        return (None if no_log else recorder), None
    import sqlite3

    from outscale_cli.history import History, failure

    if wants and not recorder.path.exists():
        raise UsageError("there is no conversation to continue yet: the history is empty")
    try:
        with History(recorder.path) as history:
            if name is not None:
                if history.named(name) is not None:
                    raise UsageError(
                        f"a conversation is named {name!r} already",
                        hint=f"continue it with --cid {name}, or choose another name",
                    )
                return recorder, None
            conversation = history.find(cid) if cid is not None else history.last_conversation()
            if conversation is None:
                raise UsageError("there is no chat conversation to continue yet")
            recorder.conversation = conversation
            # -c --no-log: continued, this turn not recorded
            return (None if no_log else recorder), earlier(history, conversation)
    except sqlite3.Error as exc:
        raise failure(recorder.path, exc) from None


def turn_in(
    s: Session,
    kind: str,
    body: dict[str, Any],
    prompt: str,
    out: Output,
    recorder: Any,
    *,
    continuing: bool = False,
    turn: Turn | None = None,
) -> Turn:
    """One exchange: sent, rendered, recorded (an answer cut short is recorded as
    interrupted, with what had come). `turn` holds the answer, even when interrupted."""
    from outscale_cli.recording import exchange_of

    wanted = turn is not None or recorder is not None  # a conversation, or the history
    turn = turn or Turn()
    route = "chat/completions" if kind == "chat" else "fim/completions"
    try:
        complete(s, route, body, out, turn, keep_text=wanted)
    except BaseException as exc:
        if (isinstance(exc, ServerError) and exc.http_status in (400, 413, 422)
                and continuing and recorder is not None):  # fmt: skip
            exc.hint = (
                "the conversation may be too long for the model: see it with "
                f"'outscale-cli history show {recorder.conversation}', or start a new one "
                "(without -c/--cid)"
            )
        if recorder is not None and turn.completion is not None and turn.completion.received_any:
            recorder.save(exchange_of(kind, body, prompt, turn, s.settings, interrupted=True))
        raise
    if recorder is not None:
        recorder.save(exchange_of(kind, body, prompt, turn, s.settings, interrupted=False))
    return turn
