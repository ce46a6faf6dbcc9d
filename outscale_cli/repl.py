"""`chat -i`: an interactive session on a terminal (prompt_toolkit).

Enter sends; Alt+Enter (or Esc then Enter) starts a new line, and pasted text keeps its lines.
Input history is kept across sessions (beside the history database). Answers stream and render
as `chat` renders them, and each exchange is recorded like one. Slash commands: /system TEXT,
/model ID, /profile NAME, /reset (a new conversation), /history, /help, /exit.

Ctrl-C while an answer streams stops that answer (what came is kept, and recorded as
interrupted) and comes back to the prompt; Ctrl-C at the prompt clears the line; Ctrl-D
leaves. The prompt shows before the line editor has loaded (what is typed meanwhile waits for
it, as in shells' "instant prompt"), and the editor's before the settings and the client are
ready: they are prepared in a thread meanwhile (pydantic and httpx take longer to import than a
person takes to start typing), and the first question waits for them if it must.
"""

from __future__ import annotations

import os
import threading
from contextlib import ExitStack
from typing import Any

from outscale_cli import startup
from outscale_cli.commands.options import Connection
from outscale_cli.console import Environment
from outscale_cli.errors import CliError, Terminated, UsageError

PROMPT = "> "
HELP = """\
/system TEXT   set the system message (for what follows)
/model ID      use another model
/profile NAME  use another profile of the config file
/reset         start a new conversation
/history       this conversation so far
/help          this list
/exit          leave (or Ctrl-D)
Enter sends; Alt+Enter (or Esc, Enter) starts a new line."""


class State:
    """The session's settings so far, and its client once ready."""

    def __init__(self, conn: Connection, system: str | None, messages: list[dict[str, Any]]):
        self.conn, self.system = conn, system
        self.messages = messages  # the conversation so far
        self.session: Any = None  # commands.run.Session, once ready
        self.stack: ExitStack | None = None
        self.error: BaseException | None = None  # why the session could not be prepared
        self.ready = threading.Event()


def run_session(
    env: Environment,
    conn: Connection,
    *,
    sampling: Any,
    out: Any,
    system: str | None,
    recorder: Any,
    continued: Any,
) -> None:
    if not (env.stdin_isatty and env.stdout_isatty):
        raise UsageError(
            "chat -i needs a terminal: its standard input and output are not one",
            hint="for a script, pipe the question instead: echo 'Hello' | outscale-cli chat",
        )
    welcome = "outscale-cli chat: /help for commands, Ctrl-D to leave" + (
        f"; continuing {recorder.conversation}" if continued else ""
    )
    instant = InstantPrompt(env)
    state = None
    try:
        if os.environ.get("TERM", "").lower() in ("dumb", "unknown"):  # as prompt_toolkit
            env.info(welcome)  # (its plain prompt then, and no escape sequences of ours)
        else:
            instant.show(welcome)
        prompt_session, state = _line_editor(env, conn, system, recorder, continued)
        while True:
            try:  # (the editor takes the terminal over once it is about to read it)
                text = prompt_session.prompt(PROMPT, pre_run=instant.hand_over)
            except KeyboardInterrupt:
                continue  # Ctrl-C at the prompt: the line is cleared
            except EOFError:
                return  # Ctrl-D
            if not text.strip():
                continue
            if text.lstrip().startswith("/"):
                if _command(env, state, recorder, text.strip()) == "exit":
                    return
                continue
            _ask(env, state, recorder, sampling, out, text)
    finally:
        instant.give_back()
        if state is not None and state.stack is not None:
            state.stack.close()


class InstantPrompt:
    """The welcome line and the prompt, shown before the line editor loads (prompt_toolkit:
    140 ms of the 300 it takes to show its own prompt here), as shells' "instant prompt" does.

    Until the editor takes over, the terminal is in the editor's raw mode but for signals: no
    echo, and Enter, Ctrl-D and the rest kept as bytes (Ctrl-C still interrupts, so a start-up
    that hangs can be left). The editor reads what was typed as if typed at its own prompt.
    It takes the terminal over from its first prompt's pre_run, the last step before it reads
    the modes and sets its own: the terminal is cooked again for microseconds, not for the
    milliseconds the prompt takes to set up (a key typed then was echoed)."""

    def __init__(self, env: Environment) -> None:
        self.env = env
        self.fd = -1
        self.saved: list[Any] | None = None  # the terminal's modes before ours
        self.shown = False

    def show(self, welcome: str) -> None:
        self.env.info(welcome)  # (written before the modes change: a write that blocks
        self.env.stdout.write(PROMPT)  # leaves them as they were)
        self.env.stdout.flush()
        self.shown = True
        try:
            import termios
        except ImportError:  # (Windows: no raw mode of ours)
            return
        try:
            fd = self.env.stdin.fileno()
            raw = termios.tcgetattr(fd)
            saved = termios.tcgetattr(fd)
            raw[0] &= ~(termios.IXON | termios.IXOFF | termios.ICRNL | termios.INLCR)
            raw[0] &= ~termios.IGNCR
            raw[3] &= ~(termios.ECHO | termios.ICANON | termios.IEXTEN)
            raw[6][termios.VMIN], raw[6][termios.VTIME] = 1, 0
            self.fd, self.saved = fd, saved
            termios.tcsetattr(fd, termios.TCSANOW, raw)
        except (termios.error, OSError, ValueError, AttributeError):
            pass

    def hand_over(self) -> None:
        """The editor's turn: the terminal's modes back (what was typed stays to be read),
        and the line cleared for the editor to draw the prompt in its place. Once."""
        if self.shown:
            self.shown = False
            self.env.stdout.write("\r\x1b[K")
            self.env.stdout.flush()
        self.give_back()

    def give_back(self) -> None:
        """The terminal's modes as they were (once): for the editor, or when the session is
        over or never started."""
        if self.saved is None:
            return
        import termios

        saved, self.saved = self.saved, None
        try:
            termios.tcsetattr(self.fd, termios.TCSANOW, saved)
        except (termios.error, OSError):
            pass


def _line_editor(
    env: Environment, conn: Connection, system: str | None, recorder: Any, continued: Any
) -> tuple[Any, State]:
    """The prompt_toolkit session, and the session's state (its settings and client are
    prepared in a thread once the editor's prompt is on the screen)."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory, InMemoryHistory
    from prompt_toolkit.key_binding import KeyBindings

    state = State(conn, system, list(continued.messages) if continued else [])
    bindings = KeyBindings()

    @bindings.add("escape", "enter")  # Alt+Enter too: terminals send it as Esc, Enter
    def _newline(event: Any) -> None:
        event.current_buffer.insert_text("\n")

    history_file = _input_history(recorder)
    prompt_session: Any = PromptSession(
        history=FileHistory(str(history_file)) if history_file else InMemoryHistory(),
        key_bindings=bindings,
        multiline=False,
    )
    # The settings and the client are prepared in a thread once the prompt is on the screen:
    # started sooner, that thread's imports (pydantic, httpx) would hold the interpreter while
    # the prompt is built and drawn, and the prompt would come 100 ms later.
    shown = threading.Event()

    def drawn(_app: Any) -> None:
        startup.loaded()  # the work begins: the start-up's pause of the collector ends
        shown.set()

    prompt_session.app.after_render += drawn
    _prepare(env, state, after=shown)
    return prompt_session, state


def _input_history(recorder: Any) -> Any:
    """The input history's file, beside the history database (None when nothing is kept)."""
    if recorder is None:
        return None
    from outscale_cli.recording import input_history_path

    path = input_history_path(recorder.path)
    if recorder.path.exists() and not recorder.path.is_file():
        return None  # (the recording says why): nothing is written beside a device
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.touch(mode=0o600, exist_ok=True)
    except OSError:
        return None
    return path


def _prepare(env: Environment, state: State, after: threading.Event | None = None) -> None:
    """Resolve the settings and open the client, in a thread, while the prompt shows (once
    `after` is set, or a second has passed)."""
    state.ready.clear()
    state.error = None

    def work() -> None:
        try:
            if after is not None:
                after.wait(1.0)
            from outscale_cli.commands.run import open_session, settings_of

            stack = ExitStack()
            settings = settings_of(state.conn)
            state.session = stack.enter_context(
                open_session(env, settings, mock=state.conn.mock, command="chat")
            )
            state.stack = stack
        except BaseException as exc:  # noqa: BLE001 - shown when the session is needed
            state.error = exc
        finally:
            state.ready.set()

    threading.Thread(target=work, daemon=True).start()


def _session(env: Environment, state: State) -> Any:
    state.ready.wait()
    if state.error is not None:
        error = state.error
        if isinstance(error, CliError):
            env.error(error.message, error.hint, error)
        else:
            env.error(f"cannot start: {type(error).__name__}: {error}")
        return None
    return state.session


def _ask(env: Environment, state: State, recorder: Any, sampling: Any, out: Any, text: str) -> None:
    from outscale_cli.commands.run import Turn, turn_in
    from outscale_cli.recording import reply_of
    from outscale_cli.wire import chat_body

    session = _session(env, state)
    if session is None:
        return
    turn = None
    try:
        model = session.model()
        messages = _with_system(state.messages, state.system)
        body = chat_body(model, text, system=state.system, prefix=None, sampling=sampling,
                         stream=out.stream, earlier=messages or None)  # fmt: skip
        turn = Turn()
        turn_in(session, "chat", body, text, out, recorder, continuing=bool(messages), turn=turn)
    except Terminated:
        raise  # SIGTERM ends the session
    except KeyboardInterrupt:
        env.info("(interrupted)")  # what came stays, in the conversation and the history
    except CliError as exc:
        env.error(exc.message, exc.hint, exc)
        return
    if turn is None or turn.completion is None or not turn.completion.received_any:
        return
    from outscale_cli.store import Exchange

    exchange = Exchange("chat", [], text, turn.completion.text,
                        thinking=turn.completion.thinking or None)  # fmt: skip
    state.messages = [*body["messages"], reply_of(exchange)]


def _with_system(messages: list[dict[str, Any]], system: str | None) -> list[dict[str, Any]]:
    from outscale_cli.recording import with_system

    return with_system(messages, system) if messages else []


def _command(env: Environment, state: State, recorder: Any, line: str) -> str | None:
    word, _, rest = line.partition(" ")
    rest = rest.strip()
    if word in ("/exit", "/quit"):
        return "exit"
    if word == "/help":
        env.info(HELP)
    elif word == "/system":
        state.system = rest or None
        env.info(f"system message: {state.system or '(none)'}")
    elif word in ("/model", "/profile"):
        if not rest:
            env.info(f"{word} takes a {'model id' if word == '/model' else 'profile name'}")
            return None
        changed = state.conn._replace(model=rest) if word == "/model" else state.conn._replace(
            profile=rest, model=None
        )  # fmt: skip
        state.ready.wait()  # the preparation under way ends first: one at a time
        kept = (state.conn, state.session, state.stack, state.error)
        state.conn, state.stack = changed, None
        _prepare(env, state)
        if _session(env, state) is None:  # (its error was said): the session goes on as it was
            state.conn, state.session, state.stack, state.error = kept
            state.ready.set()
            env.info("unchanged: still the model and deployment of before")
            return None
        if kept[2] is not None:
            kept[2].close()
        settings = state.session.settings
        model = settings.model or "the server's only model"
        env.info(f"now {model} at {settings.shown_url}")
    elif word == "/reset":
        state.messages = []
        if recorder is not None:
            recorder.conversation = None
        env.info("a new conversation")
    elif word == "/history":
        _show(env, state)
    else:
        env.info(f"unknown command {word}: /help lists them")
    return None


def _show(env: Environment, state: State) -> None:
    if not state.messages:
        env.info("(nothing yet)")
        return
    for message in state.messages:
        content = message.get("content")
        if isinstance(content, list):
            content = "".join(
                part.get("text", "") for part in content if isinstance(part, dict)
                and part.get("type") == "text"
            )  # fmt: skip
        env.info(f"{message.get('role')}: {content}")
