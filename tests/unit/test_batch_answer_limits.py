"""The batch client holds each answer whole: one over the limit is a failed request (the
record says why), never all of our memory; an error page is kept only up to its own limit."""

from __future__ import annotations

from typing import Any

import pytest

from outscale_cli.errors import BadResponse
from tests.unit.test_gaps_client import serving


@pytest.fixture(autouse=True)
def small_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("outscale_cli.client.MAX_ANSWER_BYTES", 1000)
    monkeypatch.setattr("outscale_cli.client.MAX_ERROR_BYTES", 100)


async def _post(client: Any) -> Any:
    try:
        return await client.post("chat/completions", {})
    except BadResponse as exc:
        return exc


def _chunked(status: int, pieces: int, size: int) -> Any:
    from aiohttp import web

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=status)  # no Content-Length: chunked
        response.content_type = "application/json"
        await response.prepare(request)
        for _ in range(pieces):
            await response.write(b"x" * size)
        await response.write_eof()
        return response

    return handler


def test_a_chunked_answer_over_the_limit_is_refused() -> None:
    got, _, _ = serving(_chunked(200, 5, 400), _post)
    assert isinstance(got, BadResponse)
    assert "larger than 1,000 bytes" in got.message


def test_a_declared_length_over_the_limit_is_refused() -> None:
    from aiohttp import web

    async def big(request: web.Request) -> web.Response:
        return web.Response(status=200, body=b"y" * 1500, content_type="application/json")

    got, _, _ = serving(big, _post)
    assert isinstance(got, BadResponse) and "larger than 1,000 bytes" in got.message


def test_an_answer_at_the_limit_is_whole() -> None:
    got, _, _ = serving(_chunked(200, 4, 250), _post)
    assert not isinstance(got, BadResponse)
    assert got.status == 200 and got.content == b"x" * 1000


def test_an_error_page_is_kept_only_up_to_its_limit() -> None:
    got, _, _ = serving(_chunked(503, 10, 60), _post)
    assert not isinstance(got, BadResponse)
    assert got.status == 503 and got.content == b"x" * 100  # its first 100 bytes


def test_a_cookie_the_deployment_sets_is_sent_back_and_none_is_invented() -> None:
    """The batch client's jar skips answers without Set-Cookie (SparingCookies), and still
    keeps what a gateway sets: a sticky-session cookie goes back with the next requests."""
    from aiohttp import web

    async def sticky(request: web.Request) -> web.Response:
        response = web.Response(status=200, body=b'{"choices": []}',
                                content_type="application/json")  # fmt: skip
        if request.headers.get("X-Round") == "1":
            response.set_cookie("AWSALB", "node-7")
        return response

    async def three(client: Any) -> list[Any]:
        jars = []
        for round_ in ("0", "1", "2"):
            client._http.headers["X-Round"] = round_
            await client.post("chat/completions", {})
            jars.append(dict(client._http.cookies))
        return jars

    jars, _, seen = serving(sticky, three)
    assert jars == [{}, {"AWSALB": "node-7"}, {"AWSALB": "node-7"}]
    cookies = [headers.get("Cookie") for _, headers, _ in seen]
    assert cookies == [None, None, "AWSALB=node-7"]


def test_a_connection_broken_while_writing_says_so_without_errno_none() -> None:
    import httpx

    from outscale_cli.client import _connect_failure

    broken = httpx.ConnectError("[Errno None] Can not write request body for http://vm.test/x")
    error = _connect_failure(broken, "vm.test:5000")
    assert (
        error.message == "cannot connect to vm.test:5000: Can not write request body for "
        "http://vm.test/x"
    )
