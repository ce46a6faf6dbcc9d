"""Options shared by every command, declared once and added to each command's signature."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any, NamedTuple, Optional, TypeVar

import typer

MIB = 1024 * 1024

# Options that chat and fim share, declared once (typer reads these annotations at run time:
# Optional[...] rather than X | None, for Python 3.10).
NoStdin = Annotated[
    bool, typer.Option("--no-stdin", help="Never read standard input [env: OUTSCALE_NO_STDIN=1]")
]
MaxInputBytes = Annotated[
    int,
    typer.Option(
        "--max-input-bytes",
        metavar="N",
        help="Refuse larger input (default 4 MiB)",
        show_default=False,
    ),
]
Temperature = Annotated[
    Optional[float],  # noqa: UP045
    typer.Option("--temperature", "-t", help="0 to 1.5", show_default=False),
]
TopP = Annotated[
    Optional[float],  # noqa: UP045
    typer.Option("--top-p", help="Nucleus sampling, above 0 up to 1", show_default=False),
]
MaxTokens = Annotated[
    Optional[int],  # noqa: UP045
    typer.Option("--max-tokens", help="Longest answer, in tokens", show_default=False),
]
Stop = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option("--stop", metavar="TEXT", help="Stop at TEXT; repeatable", show_default=False),
]
Seed = Annotated[
    Optional[int],  # noqa: UP045
    typer.Option("--seed", help="Random seed, sent as random_seed", show_default=False),
]
Stream = Annotated[
    bool, typer.Option("--stream/--no-stream", help="Stream the answer as it is written")
]
JsonOutput = Annotated[bool, typer.Option("--json", help="Print the whole response object as JSON")]
Usage = Annotated[
    bool, typer.Option("--usage", help="Tokens, time to first token and speed, on stderr")
]


class Connection(NamedTuple):
    """The connection flags as given on the command line (None: not given)."""

    server_url: str | None = None
    model: str | None = None
    timeout: float | None = None
    connect_timeout: float | None = None
    max_time: float | None = None
    retries: int | None = None
    ca_bundle: str | None = None
    insecure: bool = False
    client_cert: str | None = None
    client_key: str | None = None
    proxy: str | None = None
    profile: str | None = None
    config: str | None = None
    mock: bool = False
    debug: bool = False

    def flags(self) -> dict[str, Any]:
        """The given flags that are settings (the rest choose where settings come from)."""
        given = self._asdict()
        for name in ("profile", "config", "mock", "debug"):
            del given[name]
        given["insecure"] = True if self.insecure else None  # absent unless given
        return {k: v for k, v in given.items() if v is not None}


def _profiles_for_completion(ctx: typer.Context) -> dict[str, Any]:
    """The profiles of the config file named on the command line so far, or of the usual one,
    as written (unchecked: completion stays as light as --help)."""
    import os

    from outscale_cli.config import config_path, read_names

    flag = (ctx.params or {}).get("config")
    return read_names(config_path(flag, os.environ))


def complete_profiles(ctx: typer.Context, incomplete: str) -> list[str]:
    """Profile names from the config file: no network, and no error ever reaches the shell."""
    try:
        names = list(_profiles_for_completion(ctx))
    except Exception:  # noqa: BLE001 - a completion must never print an error
        return []
    return [n for n in names if n.startswith(incomplete)]


def complete_models(ctx: typer.Context, incomplete: str) -> list[str]:
    """The models the config file's profiles name (the server is never asked)."""
    try:
        profiles = _profiles_for_completion(ctx).values()
        models = [p["model"] for p in profiles if isinstance(p.get("model"), str)]
    except Exception:  # noqa: BLE001
        return []
    return [m for m in dict.fromkeys(models) if m.startswith(incomplete)]


def _option(
    name: str, hint: Any, *decls: str, help: str, metavar: str | None = None, **extra: Any
) -> tuple[str, Any, Any]:
    """(parameter name, annotation, default) of one shared option."""
    option = typer.Option(*decls, help=help, metavar=metavar, show_default=False, **extra)
    return name, Annotated[hint, option], False if hint is bool else None


# typer reads these annotations at run time: Optional[...] rather than X | None (py3.10)
_PARAMS: list[tuple[str, Any, Any]] = [
    _option("server_url", Optional[str], "--server-url", metavar="URL",  # noqa: UP045
            help="The deployment, e.g. http://10.0.0.12:5000 [env: OUTSCALE_SERVER_URL]"),
    _option("model", Optional[str], "--model", "-m", metavar="ID",  # noqa: UP045
            help="Model id, e.g. small-2409 [env: OUTSCALE_MODEL_NAME]",
            autocompletion=complete_models),
    _option("profile", Optional[str], "--profile", "-p", metavar="NAME",  # noqa: UP045
            help="A profile of the config file [env: OUTSCALE_PROFILE]",
            autocompletion=complete_profiles),
    _option("config", Optional[str], "--config", metavar="PATH",  # noqa: UP045
            help="The config file [env: OUTSCALE_CONFIG]"),
    _option("timeout", Optional[float], "--timeout", metavar="SECONDS",  # noqa: UP045
            help="Longest silence from the server, between two events of a stream "
            "(default 120) [env: OUTSCALE_TIMEOUT]"),
    _option("connect_timeout", Optional[float], "--connect-timeout",  # noqa: UP045
            metavar="SECONDS",
            help="Longest wait for the connection (default 10) [env: OUTSCALE_CONNECT_TIMEOUT]"),
    _option("max_time", Optional[float], "--max-time", metavar="SECONDS",  # noqa: UP045
            help="Longest time for the whole command (default: none) [env: OUTSCALE_MAX_TIME]"),
    _option("retries", Optional[int], "--retries", metavar="N",  # noqa: UP045
            help="Retries of 429, 5xx and connection failures (default 2; ping 0) "
            "[env: OUTSCALE_RETRIES]"),
    _option("ca_bundle", Optional[str], "--ca-bundle", metavar="PATH",  # noqa: UP045
            help="Trust the CA certificates in PATH [env: SSL_CERT_FILE]"),
    _option("insecure", bool, "--insecure",
            help="Do not verify the server's TLS certificate (warns every time)"),
    _option("client_cert", Optional[str], "--client-cert", metavar="PATH",  # noqa: UP045
            help="Client certificate for mutual TLS (PEM)"),
    _option("client_key", Optional[str], "--client-key", metavar="PATH",  # noqa: UP045
            help="Its private key, if not in --client-cert (PEM)"),
    _option("proxy", Optional[str], "--proxy", metavar="URL",  # noqa: UP045
            help="HTTP(S) proxy, instead of HTTPS_PROXY / HTTP_PROXY"),
    _option("mock", bool, "--mock", help="Talk to the built-in stand-in deployment"),
    _option("debug", bool, "--debug",
            help="Show requests, statuses, retries and bodies on stderr (keys hidden)"),
]  # fmt: skip

F = TypeVar("F", bound=Callable[..., Any])


def with_connection(func: F) -> F:
    """Give a command the connection options; it receives them as one `conn: Connection`."""
    return _with_options(func, _PARAMS)


def with_connection_but_profile(func: F) -> F:
    """The same, without -p/--profile: for a command that declares its own (batch run takes
    several)."""
    return _with_options(func, [param for param in _PARAMS if param[0] != "profile"])


def _with_options(func: F, params: list[tuple[str, Any, Any]]) -> F:
    signature = inspect.signature(func, eval_str=True)
    own = [p for p in signature.parameters.values() if p.name != "conn"]
    added = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=hint)
        for name, hint, default in params
    ]
    names = [name for name, _, _ in params]

    @functools.wraps(func)
    def command(**kwargs: Any) -> Any:
        conn = Connection(**{name: kwargs.pop(name) for name in names})
        return func(conn=conn, **kwargs)

    command.__signature__ = signature.replace(parameters=own + added)  # type: ignore[attr-defined]
    command.__annotations__ = {
        **{p.name: p.annotation for p in own},
        **{name: hint for name, hint, _ in params},
    }
    return command  # type: ignore[return-value]
