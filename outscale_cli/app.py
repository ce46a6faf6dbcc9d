"""The root command: registers the subcommands, --version, and turns every outcome into an
exit status (the one place that prints errors and decides the code)."""

import os
import signal
import sys
from collections.abc import Sequence
from typing import Annotated, Any, Optional

import typer
from typer.core import TyperGroup

from outscale_cli import __version__, startup
from outscale_cli.commands.completion import COMPLETE_VAR
from outscale_cli.console import PROG, Environment, guard_streams, to_devnull
from outscale_cli.errors import CliError, OutputClosed, Terminated, UsageError, interruption
from outscale_cli.status import ExitStatus

# Each command: the module and attribute that define it, and its line in --help. A command's
# module is imported, and its options built, only when that command runs (or completes):
# `chat -i` does not pay for `batch`'s imports, nor `--help` for anyone's.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "chat": ("chat", "chat", "Ask a question, print the answer."),
    "fim": ("fim", "fim", "Complete code between a prompt and a suffix."),
    "models": ("models", "models", "List the models the server serves."),
    "ping": ("ping", "ping", "Check the server and its model (CI check)."),
    "mock-server": ("mock_server", "mock_server", "Run the built-in stand-in deployment."),
    "completion": ("completion", "completion", "Print the shell completion script."),
    "config": ("config", "app", "Manage profiles in the config file."),
    "batch": ("batch", "app", "Run a file of requests, resumably."),
    "history": ("history", "app", "What was asked and answered."),
}
# Commands that load more as they run (pydantic-settings, httpx, aiohttp, prompt_toolkit) say
# themselves where their work begins (startup.loaded); the others begin once they are built.
LOADS_AS_IT_RUNS = frozenset({"chat", "fim", "models", "ping", "batch", "mock-server"})


def load_command(name: str) -> Any:
    """Build one subcommand (a command, or a group of them) from its module."""
    import importlib

    module, attribute, short_help = COMMANDS[name]
    defined = getattr(importlib.import_module(f"outscale_cli.commands.{module}"), attribute)
    if isinstance(defined, typer.Typer):
        defined.rich_markup_mode = None  # plain help, as the root's
        command = typer.main.get_command(defined)
        command.short_help = short_help
    else:
        single = typer.Typer(rich_markup_mode=None, add_completion=False)
        single.command(name, short_help=short_help)(defined)
        command = typer.main.get_command(single)
    command.name = name
    if name not in LOADS_AS_IT_RUNS:
        startup.loaded()
    return command


class Root(TyperGroup):
    """Runs the commands and maps what they raise to the documented exit codes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Every name is known (for "Did you mean" and completion); none is built yet.
        self.commands = dict.fromkeys(COMMANDS)  # type: ignore[assignment]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in COMMANDS and self.commands.get(cmd_name) is None:
            self.commands[cmd_name] = load_command(cmd_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, short) for name, (_, _, short) in COMMANDS.items()])

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        # Caught here, before Typer turns them into a bare exit 1 and a bare 130.
        except BrokenPipeError:
            raise OutputClosed("stdout was closed") from None
        except KeyboardInterrupt as exc:
            raise interruption(exc) from None

    def main(  # type: ignore[override]
        self,
        args: Optional[Sequence[str]] = None,  # noqa: UP045
        prog_name: Optional[str] = None,  # noqa: UP045
        complete_var: Optional[str] = None,  # noqa: UP045
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        guard_streams()
        argv = list(sys.argv[1:] if args is None else args)
        if COMPLETE_VAR in os.environ:  # a shell asks for completions: load that machinery
            import typer.completion

            typer.completion.completion_init()  # type: ignore[attr-defined]
        previous = _on_sigterm()
        try:
            result = super().main(
                args=argv,
                prog_name=prog_name or PROG,
                complete_var=complete_var,
                standalone_mode=False,
                **extra,
            )
            status = result if isinstance(result, int) else ExitStatus.OK
        except BaseException as exc:  # noqa: B036 - this is the process's last word
            status = report(exc, debug="--debug" in argv, as_json="--json" in argv)
        finally:
            _restore_sigterm(previous)
        if standalone_mode:
            sys.exit(int(status))
        return status


def report(exc: BaseException, debug: bool, as_json: bool = False) -> int:
    """Print one failure the documented way and return its exit status: a message and a hint,
    or with --json one JSON object, on stderr."""
    env = Environment.from_process(debug=debug)
    if as_json:
        env.json_errors = True
    try:
        if isinstance(exc, SystemExit):
            return int(exc.code or 0) if not isinstance(exc.code, str) else 1
        if isinstance(exc, (BrokenPipeError, OutputClosed)):
            return quiet_broken_pipe()
        if isinstance(exc, KeyboardInterrupt):
            exc = interruption(exc)
        if isinstance(exc, CliError) and exc.status in (
            ExitStatus.INTERRUPTED,
            ExitStatus.TERMINATED,
        ):
            env.error(exc.message, exc.hint, exc)  # a hint only when there is more to do
            return exc.status
        if isinstance(exc, CliError):
            env.error(exc.message, exc.hint, exc)
            return exc.status
        if _is_usage_error(exc):
            return _usage_error(env, exc)
        bug = CliError(f"internal error: {type(exc).__name__}: {exc}")
        hint = "this is a bug; run again with --debug for the traceback, and report it"
        env.error(bug.message, None if debug else hint, bug)
        if debug:
            import traceback

            env.stderr.write(env.scrub("".join(traceback.format_exception(exc))))
        return ExitStatus.INTERNAL
    except BrokenPipeError:
        return quiet_broken_pipe()


def quiet_broken_pipe() -> int:
    """The reader went away (`... | head -1`): leave quietly, as pipelines expect."""
    to_devnull(1)  # what is still buffered goes nowhere at exit, without a complaint
    return ExitStatus.OK


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


def _on_sigterm() -> Any:
    try:
        return signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread (an embedding test runner): leave it be
        return None


def _restore_sigterm(previous: Any) -> None:
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)


def _is_usage_error(exc: BaseException) -> bool:
    # Click's exceptions, which Typer vendors: recognised by shape, not by import.
    return isinstance(getattr(exc, "exit_code", None), int) and hasattr(exc, "format_message")


def _usage_error(env: Environment, exc: BaseException) -> int:
    code = int(getattr(exc, "exit_code", 2))
    message = exc.format_message()  # type: ignore[attr-defined]
    ctx = getattr(exc, "ctx", None)
    if type(exc).__name__ == "NoArgsIsHelpError":
        env.stderr.write(message + "\n")
        return ExitStatus.USAGE
    where = ctx.command_path if ctx is not None else PROG
    error = UsageError(message.strip().replace("\n", " "))
    env.error(error.message, f"see '{where} --help'", error)
    return code if code else ExitStatus.USAGE


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"{PROG} {__version__}\n")
        raise typer.Exit()


app = typer.Typer(
    cls=Root,
    name=PROG,
    help="Query Mistral models on Outscale, or any Mistral-compatible server, from the shell.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: rich (and rich.markdown) stay off the start-up path
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option("--version", "-V", callback=_version, is_eager=True, help="Print the version"),
    ] = False,
) -> None:
    """Query Mistral models on Outscale, or any Mistral-compatible server, from the shell.

    Exit codes: 0 ok, 1 bug, 2 usage, 3 configuration, 4 connection, 5 timeout,
    6 error status, 7 bad answer, 8 model not served, 9 batch done with failures,
    10 output failed, 130 interrupted.
    """
