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
    mock: bool = False
    debug: bool = False

    def flags(self) -> dict[str, Any]:
        given = asdict(self)
        del given["mock"], given["debug"]
        return {k: v for k, v in given.items() if v is not None}


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
