"""Fixtures of the end-to-end tests; the machinery itself is in helpers.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from outscale_cli.mock.server import MockConfig

from .helpers import Served, serve


@pytest.fixture
def stand_in() -> Iterator[Served]:
    """The stand-in with its default models (small-2409, codestral-2405, ministral-8b-2410)."""
    with serve(MockConfig()) as served:
        yield served
