"""Shared pieces of the unit tests: an injected Environment, the recorded fixtures."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from outscale_cli.console import Environment

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "recorded"


def make_env(
    stdin: io.TextIOBase | None = None, *, debug: bool = False, own_secrets: bool = False
) -> Environment:
    """An Environment on in-memory streams, as when everything is piped (no TTY, no colour);
    `own_secrets`: with a list of secrets of its own, not the process's."""
    extra = {"secrets": []} if own_secrets else {}
    return Environment(  # type: ignore[arg-type]
        stdin=stdin if stdin is not None else io.StringIO(),  # type: ignore[arg-type]
        stdout=io.StringIO(),
        stderr=io.StringIO(),
        stdin_isatty=False,
        stdout_isatty=False,
        stderr_isatty=False,
        colour=False,
        debug=debug,
        **extra,
    )


@pytest.fixture
def env() -> Environment:
    return make_env()
