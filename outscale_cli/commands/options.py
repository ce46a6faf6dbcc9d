"""Options shared by every command, declared once and added to each command's signature."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Annotated, Any, Optional, TypeVar

import typer

PANEL = "Connection"


@dataclass(frozen=True)
class Connection:
    """The connection flags as given on the command line (None: not given)."""

    server_url: str | None = None
    model: str | None = None
    timeout: float | None = None
    connect_timeout: float | None = None
    retries: int | None = None
    profile: str | None = None
    config: str | None = None
    mock: bool = False
    debug: bool = False

    def flags(self) -> dict[str, Any]:
        """The given flags that are settings (the rest choose where settings come from)."""
        given = asdict(self)
        for name in ("profile", "config", "mock", "debug"):
            del given[name]
        return {k: v for k, v in given.items() if v is not None}


def _config_for_completion(ctx: typer.Context) -> Any:
    """The config file named on the command line so far, or the usual one; never raises."""
    import os

    from outscale_cli.config import config_path, load_config

    flag = (ctx.params or {}).get("config")
    return load_config(config_path(flag, os.environ))


def complete_profiles(ctx: typer.Context, incomplete: str) -> list[str]:
    """Profile names from the config file: no network, and no error ever reaches the shell."""
    try:
        names = list(_config_for_completion(ctx).profiles)
    except Exception:  # noqa: BLE001 - a completion must never print an error
        return []
    return [n for n in names if n.startswith(incomplete)]


def complete_models(ctx: typer.Context, incomplete: str) -> list[str]:
    """The models the config file's profiles name (the server is never asked)."""
    try:
        profiles = _config_for_completion(ctx).profiles.values()
        models = [p["model"] for p in profiles if isinstance(p.get("model"), str)]
    except Exception:  # noqa: BLE001
        return []
    return [m for m in dict.fromkeys(models) if m.startswith(incomplete)]


_PARAMS: list[tuple[str, Any, Any]] = [
    (
        "server_url",
        Annotated[
            Optional[str],  # noqa: UP045 - typer reads these annotations at run time
            typer.Option(
                "--server-url",
                metavar="URL",
                help="The deployment, e.g. http://10.0.0.12:5000 [env: OUTSCALE_SERVER_URL]",
                rich_help_panel=PANEL,
                show_default=False,
            ),
        ],
        None,
    ),
    (
        "model",
        Annotated[
            Optional[str],  # noqa: UP045
            typer.Option(
                "--model",
                "-m",
                metavar="ID",
                help="Model id, e.g. small-2409 [env: OUTSCALE_MODEL_NAME]",
                rich_help_panel=PANEL,
                show_default=False,
                autocompletion=complete_models,
            ),
        ],
        None,
    ),
    (
        "timeout",
        Annotated[
            Optional[float],  # noqa: UP045
            typer.Option(
                "--timeout",
                metavar="SECONDS",
                help="Longest silence from the server before giving up (default 120) "
                "[env: OUTSCALE_TIMEOUT]",
                rich_help_panel=PANEL,
                show_default=False,
            ),
        ],
        None,
    ),
    (
        "connect_timeout",
        Annotated[
            Optional[float],  # noqa: UP045
            typer.Option(
                "--connect-timeout",
                metavar="SECONDS",
                help="Longest wait for the connection (default 10) [env: OUTSCALE_CONNECT_TIMEOUT]",
                rich_help_panel=PANEL,
                show_default=False,
            ),
        ],
        None,
    ),
    (
        "retries",
        Annotated[
            Optional[int],  # noqa: UP045
            typer.Option(
                "--retries",
                metavar="N",
                help="Retries of 429, 5xx and connection failures (default 2; ping 0) "
                "[env: OUTSCALE_RETRIES]",
                rich_help_panel=PANEL,
                show_default=False,
            ),
        ],
        None,
    ),
    (
        "profile",
        Annotated[
            Optional[str],  # noqa: UP045
            typer.Option(
                "--profile",
                "-p",
                metavar="NAME",
                help="A profile of the config file [env: OUTSCALE_PROFILE]",
                rich_help_panel=PANEL,
                show_default=False,
                autocompletion=complete_profiles,
            ),
        ],
        None,
    ),
    (
        "config",
        Annotated[
            Optional[str],  # noqa: UP045
            typer.Option(
                "--config",
                metavar="PATH",
                help="The config file [env: OUTSCALE_CONFIG]",
                rich_help_panel=PANEL,
                show_default=False,
            ),
        ],
        None,
    ),
    (
        "mock",
        Annotated[
            bool,
            typer.Option(
                "--mock",
                help="Talk to the built-in stand-in deployment instead of a server",
                rich_help_panel=PANEL,
            ),
        ],
        False,
    ),
    (
        "debug",
        Annotated[
            bool,
            typer.Option(
                "--debug",
                help="Show requests, statuses and bodies on stderr (keys hidden)",
                rich_help_panel=PANEL,
            ),
        ],
        False,
    ),
]
NAMES = [name for name, _, _ in _PARAMS]

F = TypeVar("F", bound=Callable[..., Any])


def with_connection(func: F) -> F:
    """Give a command the connection options; it receives them as one `conn: Connection`."""
    signature = inspect.signature(func, eval_str=True)
    own = [p for p in signature.parameters.values() if p.name != "conn"]
    added = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=hint)
        for name, hint, default in _PARAMS
    ]

    @functools.wraps(func)
    def command(**kwargs: Any) -> Any:
        conn = Connection(**{name: kwargs.pop(name) for name in NAMES})
        return func(conn=conn, **kwargs)

    command.__signature__ = signature.replace(parameters=own + added)  # type: ignore[attr-defined]
    command.__annotations__ = {
        **{p.name: p.annotation for p in own},
        **{name: hint for name, hint, _ in _PARAMS},
    }
    return command  # type: ignore[return-value]
