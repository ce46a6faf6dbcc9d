"""Gaps found by mutation testing: `ping --wait` at the CLI (README, "A whole fleet"): it keeps
trying until healthy or until the time is up, and refuses a wait it cannot honour."""

from __future__ import annotations

import json

import pytest
from pytest_httpx import HTTPXMock

from tests.cli.conftest import MODELS_URL

CARDS = {"object": "list", "data": [{"id": "small-2409"}]}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """health.py's clock: sleeping moves it, nothing waits. Returns the sleeps made."""
    from outscale_cli.commands import health

    now = [100.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    monkeypatch.setattr(health.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(health.time, "sleep", sleep)
    return sleeps


def test_ping_wait_keeps_trying_until_healthy(cli, httpx_mock: HTTPXMock, clock) -> None:
    httpx_mock.add_response(url=MODELS_URL, status_code=503)
    httpx_mock.add_response(url=MODELS_URL, status_code=502)
    httpx_mock.add_response(url=MODELS_URL, json=CARDS)
    result = cli("ping", "--wait", "30", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["ok"] is True
    assert clock == [1.0, 1.0]
    assert len(httpx_mock.get_requests()) == 3


def test_ping_wait_gives_up_when_the_time_is_up(cli, httpx_mock: HTTPXMock, clock) -> None:
    httpx_mock.add_response(url=MODELS_URL, status_code=503, is_reusable=True)
    result = cli("ping", "--wait", "1.5")
    assert result.exit_code == 6
    assert "503 Service Unavailable" in result.stderr
    assert clock == [1.0, 0.5]
    assert len(httpx_mock.get_requests()) == 3


def test_ping_without_wait_tries_once(cli, httpx_mock: HTTPXMock, clock) -> None:
    httpx_mock.add_response(url=MODELS_URL, status_code=503)
    result = cli("ping")
    assert result.exit_code == 6
    assert clock == []


@pytest.mark.parametrize(("wait", "shown"), [("-1", "-1"), ("nan", "nan"), ("1000001", "1e+06")])
def test_ping_refuses_a_wait_it_cannot_honour(
    cli, httpx_mock: HTTPXMock, wait: str, shown: str
) -> None:
    result = cli("ping", "--wait", wait)
    assert result.exit_code == 2
    assert f"--wait takes 0 to 1,000,000 seconds (got {shown})" in result.stderr
    assert httpx_mock.get_requests() == []


def test_ping_all_refuses_the_mock(cli, httpx_mock: HTTPXMock) -> None:
    result = cli("ping", "--all", "--mock")
    assert result.exit_code == 2
    assert "--all checks the profiles of the config file: drop --mock" in result.stderr
