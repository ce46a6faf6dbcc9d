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


def test_mock_server_keeps_no_record_of_requests(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """A long-running stand-in (a million-line batch) must not grow with every request: the
    command asks for no records, and a server so configured keeps none."""
    import httpx

    from outscale_cli.mock import server

    seen: list[server.MockConfig] = []

    def refuse(config: server.MockConfig, host: str, port: int) -> None:
        seen.append(config)
        raise OSError(98, "Address already in use")

    monkeypatch.setattr(server, "MockServer", refuse)
    result = cli("mock-server", "--port", "0")
    assert result.exit_code == 2 and "cannot listen" in result.stderr
    assert [config.keep_records for config in seen] == [False]
    monkeypatch.undo()

    with server.MockServer(server.MockConfig(models=("small-2409",), keep_records=False)) as s:
        body = {"model": "small-2409", "messages": [{"role": "user", "content": "Hi"}]}
        answer = httpx.post(f"{s.url}/v1/chat/completions", json=body)
        assert answer.status_code == 200
        assert s.records == []
