"""An answer read whole is held in memory to be decoded: one larger than the limit is refused
(exit 7), not read on until memory runs out. Error pages are read only as far as needed."""

from __future__ import annotations

import json

import pytest
from pytest_httpx import HTTPXMock

from tests.cli.conftest import CHAT_URL, completion


@pytest.fixture
def small_limit(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr("outscale_cli.client.MAX_ANSWER_BYTES", 1000)
    return 1000


def test_a_whole_answer_over_the_limit_is_refused(cli, httpx_mock: HTTPXMock, small_limit) -> None:
    body = json.dumps(completion("x" * 5000)).encode()
    httpx_mock.add_response(url=CHAT_URL, content=body,
                            headers={"content-type": "application/json"})  # fmt: skip
    result = cli("chat", "--no-stream", "--no-log", "Hi")
    assert result.exit_code == 7, result.stderr
    assert "larger than 1,000 bytes: not read further" in result.stderr
    assert result.stdout == ""


def test_an_answer_within_the_limit_is_read(cli, httpx_mock: HTTPXMock, small_limit) -> None:
    body = json.dumps(completion("x" * 500)).encode()
    assert len(body) < small_limit
    httpx_mock.add_response(url=CHAT_URL, content=body,
                            headers={"content-type": "application/json"})  # fmt: skip
    result = cli("chat", "--no-stream", "--no-log", "Hi")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "x" * 500 + "\n"


def test_an_error_page_is_read_only_as_far_as_needed(
    cli, httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("outscale_cli.client.MAX_ERROR_BYTES", 64)
    page = b'{"message": "overloaded"' + b" " * 10_000 + b"}"
    httpx_mock.add_response(url=CHAT_URL, status_code=400, content=page,
                            headers={"content-type": "application/json"})  # fmt: skip
    result = cli("chat", "--no-stream", "--no-log", "Hi")
    assert result.exit_code == 6, result.stderr
    assert "400 Bad Request" in result.stderr


@pytest.mark.parametrize(
    ("command", "url"),
    [(["models"], "http://vm.test:5000/v1/models"),
     (["batch", "status", "job-1"], "http://vm.test:5000/v1/batch/jobs/job-1")],
)  # fmt: skip
def test_json_answers_of_other_commands_are_bounded_too(
    cli,
    httpx_mock: HTTPXMock,
    small_limit,
    command: list[str],
    url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OUTSCALE_API_KEY", "k-test")  # the batch service needs one
    httpx_mock.add_response(url=url, content=b'{"data": "' + b"m" * 5000 + b'"}',
                            headers={"content-type": "application/json"})  # fmt: skip
    result = cli(*command)
    assert result.exit_code == 7, result.stderr
    assert "larger than 1,000 bytes" in result.stderr


def test_an_error_page_of_a_json_request_is_read_only_as_far_as_needed(
    cli, httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("outscale_cli.client.MAX_ERROR_BYTES", 64)
    page = b'{"message": "no such route"' + b" " * 10_000 + b"}"
    httpx_mock.add_response(url="http://vm.test:5000/v1/models", status_code=404, content=page)
    result = cli("models")
    assert result.exit_code in (6, 8), result.stderr
    assert "404" in result.stderr or "does not list" in result.stderr
