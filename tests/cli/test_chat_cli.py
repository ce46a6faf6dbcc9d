from __future__ import annotations

import json
from http import HTTPStatus

import pytest
from pytest_httpx import HTTPXMock

from outscale_cli import __version__
from tests.cli.conftest import CHAT_URL, MODELS_URL, completion, sent_json, sse

SSE_HEADERS = {"content-type": "text/event-stream"}


def test_streamed_answer_is_printed_with_a_final_newline(cli, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=CHAT_URL, content=sse("Eugène", " Delacroix."), headers=SSE_HEADERS)
    result = cli("chat", "Who is the best French painter?")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "Eugène Delacroix.\n"
    assert result.stderr == ""


def test_streamed_and_whole_answers_print_the_same(cli, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=CHAT_URL, content=sse("Eugène", " Delacroix."), headers=SSE_HEADERS)
    httpx_mock.add_response(url=CHAT_URL, json=completion("Eugène Delacroix."))
    streamed = cli("chat", "q")
    whole = cli("chat", "--no-stream", "q")
    assert streamed.stdout == whole.stdout == "Eugène Delacroix.\n"


def test_request_carries_only_what_the_user_set(cli, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=CHAT_URL, json=completion())
    result = cli("chat", "-t", "0", "--no-stream", "Who is the best French painter?")
    assert result.exit_code == 0, result.stderr
    request = httpx_mock.get_request()
    assert request is not None
    assert sent_json(request) == {
        "model": "small-2409",
        "messages": [{"role": "user", "content": "Who is the best French painter?"}],
        "temperature": 0.0,
    }
    assert request.headers["user-agent"] == f"outscale-cli/{__version__}"
    assert request.headers["accept"] == "application/json"
    assert "authorization" not in request.headers


def test_every_sampling_option_maps_to_its_field(cli, httpx_mock: HTTPXMock, tmp_path) -> None:
    schema = tmp_path / "painter answer.json"
    schema.write_text('{"type": "object", "properties": {"name": {"type": "string"}}}')
    httpx_mock.add_response(url=CHAT_URL, content=sse("{}"), headers=SSE_HEADERS)
    result = cli(
        "chat", "q", "-s", "Be brief.", "--top-p", "0.9", "--max-tokens", "20",
        "--stop", "\n\n", "--stop", "END", "--seed", "7", "--safe-prompt",
        "--presence-penalty", "0.5", "--frequency-penalty", "-0.5", "--json-schema", str(schema),
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    body = sent_json(httpx_mock.get_request())
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert body["top_p"] == 0.9 and body["max_tokens"] == 20
    assert body["stop"] == ["\n\n", "END"]
    assert body["random_seed"] == 7 and body["safe_prompt"] is True
    assert body["presence_penalty"] == 0.5 and body["frequency_penalty"] == -0.5
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["name"] == "painter_answer"
    assert body["stream"] is True
    assert "temperature" not in body


def test_json_mode(cli, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=CHAT_URL, json=completion('{"a": 1}'))
    assert cli("chat", "--no-stream", "--json-mode", "q").exit_code == 0
    assert sent_json(httpx_mock.get_request())["response_format"] == {"type": "json_object"}


def test_prompt_sources_are_joined_in_order(cli, httpx_mock: HTTPXMock, tmp_path) -> None:
    first, second = tmp_path / "a.md", tmp_path / "b.md"
    first.write_text("From file A.\n")
    second.write_text("From file B.")
    httpx_mock.add_response(url=CHAT_URL, json=completion())
    result = cli(
        "chat", "--no-stream", "-f", str(first), "-f", str(second), "The argument.",
        input="From stdin.\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    content = sent_json(httpx_mock.get_request())["messages"][-1]["content"]
    assert content == "From file A.\n\nFrom file B.\n\nFrom stdin.\n\nThe argument."


def test_file_dash_reads_stdin(cli, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=CHAT_URL, json=completion())
    result = cli("chat", "--no-stream", "-f", "-", "-s", "Summarise.", input="A report.")
    assert result.exit_code == 0, result.stderr
    messages = sent_json(httpx_mock.get_request())["messages"]
    assert messages == [
        {"role": "system", "content": "Summarise."},
        {"role": "user", "content": "A report."},
    ]


@pytest.mark.parametrize("args", [[], ["   \n"]])
def test_empty_prompt_is_a_usage_error_and_sends_nothing(cli, httpx_mock, args) -> None:
    result = cli("chat", *args, input="")
    assert result.exit_code == 2
    assert result.stderr.startswith("outscale-cli: error: the prompt is empty")
    assert httpx_mock.get_requests() == []


def test_non_utf8_input_names_its_source(cli, httpx_mock, tmp_path) -> None:
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("café".encode("latin-1"))
    result = cli("chat", "-f", str(latin))
    assert result.exit_code == 2
    assert f"file {latin} is not UTF-8" in result.stderr
    result = cli("chat", input="caf\xe9".encode("latin-1"))
    assert result.exit_code == 2
    assert "standard input is not UTF-8" in result.stderr
    assert httpx_mock.get_requests() == []


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("-t", "1.6", "--temperature must be between 0 and 1.5"),
        ("--top-p", "0", "--top-p must be greater than 0"),
        ("--max-tokens", "0", "--max-tokens must be 1 or more"),
        ("--presence-penalty", "2.5", "--presence-penalty must be between -2 and 2"),
        ("--frequency-penalty", "-3", "--frequency-penalty must be between -2 and 2"),
        ("-t", "warm", "Invalid value for '--temperature'"),
    ],
)
def test_out_of_range_values_are_refused_before_sending(cli, httpx_mock, flag, value, message):
    result = cli("chat", flag, value, "q")
    assert result.exit_code == 2
    assert message in result.stderr
    assert httpx_mock.get_requests() == []


def test_prefix_is_sent_last_and_not_printed(cli, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=CHAT_URL, content=sse("Once upon", " a time, a painter."), headers=SSE_HEADERS
    )
    result = cli("chat", "--prefix", "Once upon a time,", "Tell a story.")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == " a painter.\n"
    messages = sent_json(httpx_mock.get_request())["messages"]
    assert messages[-1] == {"role": "assistant", "content": "Once upon a time,", "prefix": True}


def test_thinking_goes_to_stderr_only_when_asked(cli, httpx_mock: HTTPXMock) -> None:
    content = [
        {"type": "thinking", "thinking": [{"type": "text", "text": "17*19 = 340-17."}]},
        {"type": "text", "text": "323"},
    ]
    httpx_mock.add_response(url=CHAT_URL, json=completion(content), is_reusable=True)
    quiet = cli("chat", "--no-stream", "q")
    assert quiet.stdout == "323\n" and "340" not in quiet.stderr
    shown = cli("chat", "--no-stream", "--show-thinking", "q")
    assert shown.stdout == "323\n"
    assert "17*19 = 340-17." in shown.stderr


def test_json_of_a_stream_is_the_assembled_response(cli, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=CHAT_URL, content=sse("32", "3"), headers=SSE_HEADERS)
    result = cli("chat", "--json", "q")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["choices"][0]["message"]["content"] == "323"
    assert data["choices"][0]["finish_reason"] == "stop"
    assert data["usage"]["total_tokens"] == 12
    assert data["model"] == "small-2409" and data["id"] == "cmpl-1"


def test_usage_line_goes_to_stderr(cli, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=CHAT_URL, content=sse("a", "b"), headers=SSE_HEADERS)
    result = cli("chat", "--usage", "q")
    assert result.stdout == "ab\n"
    assert result.stderr.startswith("usage: tokens: 10 prompt + 2 completion = 12 total")
    assert "first token" in result.stderr and "tokens/s" in result.stderr


def test_api_key_is_sent_and_never_shown(cli, httpx_mock: HTTPXMock, monkeypatch) -> None:
    monkeypatch.setenv("OUTSCALE_API_KEY", "sk-very-secret-123")
    httpx_mock.add_response(
        url=CHAT_URL, status_code=401, json={"message": "bad key sk-very-secret-123"}
    )
    result = cli("chat", "--debug", "q")
    request = httpx_mock.get_request()
    assert request.headers["authorization"] == "Bearer sk-very-secret-123"
    assert result.exit_code == 6
    assert "sk-very-secret-123" not in result.stdout + result.stderr
    assert "401 Unauthorized" in result.stderr


def test_no_model_uses_the_only_served_one(cli, httpx_mock: HTTPXMock, monkeypatch) -> None:
    monkeypatch.delenv("OUTSCALE_MODEL_NAME")
    httpx_mock.add_response(url=MODELS_URL, json={"object": "list", "data": [{"id": "only-1"}]})
    httpx_mock.add_response(url=CHAT_URL, json=completion())
    assert cli("chat", "--no-stream", "q").exit_code == 0
    assert sent_json(httpx_mock.get_requests()[-1])["model"] == "only-1"


def test_no_model_and_several_served_is_a_config_error(cli, httpx_mock, monkeypatch) -> None:
    monkeypatch.delenv("OUTSCALE_MODEL_NAME")
    httpx_mock.add_response(
        url=MODELS_URL, json={"object": "list", "data": [{"id": "a-1"}, {"id": "b-2"}]}
    )
    result = cli("chat", "q")
    assert result.exit_code == 3
    assert "OUTSCALE_MODEL_NAME" in result.stderr and "-m" in result.stderr
    assert "a-1, b-2" in result.stderr


def test_no_model_and_no_model_list_is_a_config_error(cli, httpx_mock, monkeypatch) -> None:
    monkeypatch.delenv("OUTSCALE_MODEL_NAME")
    httpx_mock.add_response(url=MODELS_URL, status_code=404, json={"detail": "Not Found"})
    result = cli("chat", "q")
    assert result.exit_code == 3
    assert "OUTSCALE_MODEL_NAME" in result.stderr


def test_no_server_url_is_a_config_error(cli, httpx_mock, monkeypatch) -> None:
    monkeypatch.delenv("OUTSCALE_SERVER_URL")
    result = cli("chat", "q")
    assert result.exit_code == 3
    assert "OUTSCALE_SERVER_URL" in result.stderr and "--server-url" in result.stderr


def test_flag_beats_environment(cli, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url="http://gw.example.com/mistral/v1/chat/completions", json=completion()
    )
    result = cli(
        "chat",
        "--no-stream",
        "--server-url",
        "http://gw.example.com/mistral/v1/",
        "-m",
        "other",
        "q",
    )
    assert result.exit_code == 0, result.stderr
    assert sent_json(httpx_mock.get_request())["model"] == "other"


def test_error_status_message_names_the_field(cli, httpx_mock: HTTPXMock) -> None:
    body = {
        "object": "error",
        "message": {"detail": [{"loc": ["body", "temperature"], "msg": "too hot", "type": "x"}]},
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    httpx_mock.add_response(url=CHAT_URL, status_code=422, json=body)
    result = cli("chat", "q")
    assert result.exit_code == 6
    first = result.stderr.splitlines()[0]
    phrase = HTTPStatus(422).phrase  # "Unprocessable Content" since Python 3.13
    assert first == f"outscale-cli: error: 422 {phrase}: temperature: too hot"


def test_server_errors_are_retried_then_reported(cli, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=CHAT_URL, status_code=503, is_reusable=True)
    result = cli("chat", "q")
    assert result.exit_code == 6
    assert len(httpx_mock.get_requests()) == 3  # the first try and 2 retries
    assert result.stderr.startswith("outscale-cli: error: 503 Service Unavailable")


def test_broken_stream_keeps_what_arrived(cli, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=CHAT_URL,
        content=sse("Half an ", "answer", finish=None, done=False),
        headers=SSE_HEADERS,
    )
    result = cli("chat", "q")
    assert result.exit_code == 7
    assert result.stdout == "Half an answer\n"
    assert "broke off" in result.stderr


def test_error_object_inside_a_stream_is_exit_6(cli, httpx_mock: HTTPXMock) -> None:
    stream = sse("partial", finish=None, done=False) + (
        b'data: {"object": "error", "message": "model overloaded", "type": "x", "code": 3000}\n\n'
    )
    httpx_mock.add_response(url=CHAT_URL, content=stream, headers=SSE_HEADERS)
    result = cli("chat", "q")
    assert result.exit_code == 6
    assert result.stdout == "partial\n"
    assert "model overloaded" in result.stderr


def test_internal_error_shows_no_traceback_unless_debug(cli, httpx_mock, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr("outscale_cli.wire.chat_body", broken)
    result = cli("chat", "q")
    assert result.exit_code == 1
    assert "internal error: ZeroDivisionError: boom" in result.stderr
    assert "Traceback" not in result.stderr
    debug = cli("chat", "--debug", "q")
    assert debug.exit_code == 1
    assert "Traceback" in debug.stderr


def test_version_and_help(cli) -> None:
    assert cli("--version").stdout == f"outscale-cli {__version__}\n"
    listing = cli("--help").stdout
    for command in ("chat", "fim", "models", "ping", "mock-server"):
        assert command in listing
