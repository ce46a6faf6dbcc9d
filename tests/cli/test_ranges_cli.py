"""Every number has a range, checked at the edge: exit 2 naming the flag, nothing started or
sent (settings' numbers are in tests/unit/test_settings.py, config add's in
test_config_edit_cli.py)."""

from __future__ import annotations

import pytest
from pytest_httpx import HTTPXMock


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--port", "-1"], "--port takes a port from 0"),
        (["--port", "70000"], "--port takes a port from 0"),
        (["--pace", "-1"], "--pace takes seconds from 0 to 60"),
        (["--pace", "nan"], "--pace takes seconds from 0 to 60"),
        (["--length", "-5"], "--length takes tokens from 0"),
        (["--fail-status", "99"], "--fail-status takes an error status from 400 to 599"),
        (["--fail-status", "200"], "--fail-status takes an error status from 400 to 599"),
        (["--fail-status", "600"], "--fail-status takes an error status from 400 to 599"),
        (["--fail-times", "-1"], "--fail-times takes 0 or more"),
        (["--break-after", "-1"], "--break-after takes 0 or more"),
    ],
)
def test_mock_server_refuses_what_it_cannot_honour(cli, flags: list[str], fragment: str) -> None:
    result = cli("mock-server", *flags)
    assert result.exit_code == 2, result.stderr
    assert fragment in result.stderr
    assert result.stdout == ""  # no URL: nothing was started


@pytest.mark.parametrize("wait", ["nan", "-1", "inf", "1e300"])
def test_ping_wait_has_a_range(cli, httpx_mock: HTTPXMock, wait: str) -> None:
    result = cli("ping", "--wait", wait)
    assert result.exit_code == 2, result.stderr
    assert "--wait takes 0 to 1,000,000 seconds" in result.stderr
    assert httpx_mock.get_requests() == []
