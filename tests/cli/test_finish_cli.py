"""An answer that did not end by itself is not printed as if complete: cut by --max-tokens or
the context (finish_reason length / model_length) is one warning on stderr and exit 0; ended by
an error (finish_reason error) is exit 7 with what came kept on stdout."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pytest_httpx import HTTPXMock

from tests.cli.conftest import CHAT_URL, FIM_URL, completion, sse

SSE_HEADERS = {"content-type": "text/event-stream"}
WARNING = "outscale-cli: warning: the answer was cut: it reached "


def answer(httpx_mock: HTTPXMock, url: str, reason: str, streamed: bool) -> None:
    if streamed:
        httpx_mock.add_response(url=url, content=sse("part ", "two", finish=reason),
                                headers=SSE_HEADERS)  # fmt: skip
    else:
        body: dict[str, Any] = completion("part two")
        body["choices"][0]["finish_reason"] = reason
        httpx_mock.add_response(url=url, json=body)


MODES = pytest.mark.parametrize("streamed", [True, False], ids=["stream", "no-stream"])


def stream_flag(streamed: bool) -> str:
    return "--stream" if streamed else "--no-stream"


@MODES
def test_cut_by_max_tokens_warns_and_exits_0(cli, httpx_mock: HTTPXMock, streamed: bool) -> None:
    answer(httpx_mock, CHAT_URL, "length", streamed)
    result = cli("chat", stream_flag(streamed), "--max-tokens", "2", "q")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "part two\n"
    assert result.stderr == WARNING + "--max-tokens 2 (finish_reason length)\n"


def test_cut_by_the_servers_own_limit(cli, httpx_mock: HTTPXMock) -> None:
    answer(httpx_mock, CHAT_URL, "length", True)
    result = cli("chat", "q")
    assert result.exit_code == 0
    assert result.stderr == WARNING + "its token limit (finish_reason length)\n"


@MODES
def test_cut_by_the_context_length(cli, httpx_mock: HTTPXMock, streamed: bool) -> None:
    answer(httpx_mock, CHAT_URL, "model_length", streamed)
    result = cli("chat", stream_flag(streamed), "q")
    assert result.exit_code == 0
    assert result.stdout == "part two\n"
    expected = WARNING + "the model's context length (finish_reason model_length)\n"
    assert result.stderr == expected


def test_fim_cut_warns_too(cli, httpx_mock: HTTPXMock) -> None:
    answer(httpx_mock, FIM_URL, "length", True)
    result = cli("fim", "--max-tokens", "2", "def f():")
    assert result.exit_code == 0
    assert result.stdout == "part two"  # FIM output is the completion exactly
    assert result.stderr == WARNING + "--max-tokens 2 (finish_reason length)\n"


@pytest.mark.parametrize("reason", ["stop", "tool_calls", "something-new"])
def test_other_endings_say_nothing(cli, httpx_mock: HTTPXMock, reason: str) -> None:
    answer(httpx_mock, CHAT_URL, reason, True)
    result = cli("chat", "q")
    assert result.exit_code == 0
    assert result.stderr == ""


def test_json_output_carries_finish_reason_and_no_warning(cli, httpx_mock: HTTPXMock) -> None:
    answer(httpx_mock, CHAT_URL, "length", True)
    result = cli("chat", "--json", "--max-tokens", "2", "q")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["choices"][0]["finish_reason"] == "length"
    assert result.stderr == ""


@MODES
def test_an_answer_ended_by_an_error_is_exit_7_keeping_the_text(
    cli, httpx_mock: HTTPXMock, streamed: bool
) -> None:
    answer(httpx_mock, CHAT_URL, "error", streamed)
    result = cli("chat", stream_flag(streamed), "q")
    assert result.exit_code == 7
    assert result.stdout == "part two\n"
    assert "the server ended the answer with an error (finish_reason error)" in result.stderr
