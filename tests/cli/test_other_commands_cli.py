from __future__ import annotations

import json

from pytest_httpx import HTTPXMock

from tests.cli.conftest import CHAT_URL, FIM_URL, MODELS_URL, SERVER, completion, sent_json

CARDS = {
    "object": "list",
    "data": [
        {
            "id": "small-2409",
            "aliases": ["mistral-small-latest"],
            "max_context_length": 32768,
            "capabilities": {"completion_chat": True, "completion_fim": False},
        },
        {"id": "codestral-2405", "aliases": [], "capabilities": {"completion_fim": True}},
    ],
}


def test_fim_sends_prompt_and_suffix_byte_for_byte(cli, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=FIM_URL, json=completion("\n    n_words = 0\n    "))
    prompt = "def count_words_in_file(file_path: str) -> int:"
    result = cli("fim", "-m", "codestral-2405", "--no-stream", prompt, "--suffix", "return n_words")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "\n    n_words = 0\n    "  # nothing added when piped
    assert sent_json(httpx_mock.get_request()) == {
        "model": "codestral-2405",
        "prompt": prompt,
        "suffix": "return n_words",
    }


def test_fim_keeps_whitespace_of_files(cli, httpx_mock: HTTPXMock, tmp_path) -> None:
    before, after = tmp_path / "before.py", tmp_path / "after.py"
    before.write_text("def f():\n    \n")
    after.write_text("\n\n    return x\n")
    httpx_mock.add_response(url=FIM_URL, json=completion("x = 1"))
    result = cli("fim", "--no-stream", "-f", str(before), "--suffix-file", str(after))
    assert result.exit_code == 0, result.stderr
    body = sent_json(httpx_mock.get_request())
    assert body["prompt"] == "def f():\n    \n" and body["suffix"] == "\n\n    return x\n"


def test_fim_at_splits_the_file(cli, httpx_mock: HTTPXMock, tmp_path) -> None:
    source = tmp_path / "app.py"
    source.write_text("line one\nline two\nline three\n")
    httpx_mock.add_response(url=FIM_URL, json=completion("X"))
    result = cli("fim", "--no-stream", "--at", f"{source}:2:6")
    assert result.exit_code == 0, result.stderr
    body = sent_json(httpx_mock.get_request())
    assert body["prompt"] == "line one\nline "
    assert body["suffix"] == "two\nline three\n"


def test_fim_at_outside_the_file_is_a_usage_error(cli, httpx_mock, tmp_path) -> None:
    source = tmp_path / "app.py"
    source.write_text("one\ntwo\n")
    assert cli("fim", "--at", f"{source}:9").exit_code == 2
    result = cli("fim", "--at", f"{source}:1:40")
    assert result.exit_code == 2 and "column 40" in result.stderr
    assert httpx_mock.get_requests() == []


def test_fim_takes_the_prompt_one_way_only(cli, httpx_mock, tmp_path) -> None:
    source = tmp_path / "a.py"
    source.write_text("x")
    result = cli("fim", "inline", "-f", str(source))
    assert result.exit_code == 2 and "one way only" in result.stderr
    assert httpx_mock.get_requests() == []


def test_fim_reads_stdin_when_nothing_else_is_given(cli, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=FIM_URL, json=completion("pass"))
    result = cli("fim", "--no-stream", input="def f():\n    ")
    assert result.exit_code == 0, result.stderr
    assert sent_json(httpx_mock.get_request())["prompt"] == "def f():\n    "


def test_fim_min_tokens_and_stop(cli, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=FIM_URL, json=completion("pass"))
    result = cli("fim", "--no-stream", "--min-tokens", "2", "--stop", "\n\n", "def f():")
    assert result.exit_code == 0, result.stderr
    body = sent_json(httpx_mock.get_request())
    assert body["min_tokens"] == 2 and body["stop"] == "\n\n"


def test_models_piped_prints_ids_in_server_order(cli, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=MODELS_URL, json=CARDS)
    result = cli("models")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "small-2409\ncodestral-2405\n"


def test_models_json_is_the_list_as_received(cli, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=MODELS_URL, json=CARDS)
    assert json.loads(cli("models", "--json").stdout) == CARDS


def test_models_without_a_model_route_is_exit_6_and_suggests_ping(cli, httpx_mock) -> None:
    httpx_mock.add_response(url=MODELS_URL, status_code=404, json={"detail": "Not Found"})
    result = cli("models")
    assert result.exit_code == 6
    assert "does not list its models" in result.stderr
    assert "ping" in result.stderr


def test_ping_finds_the_model_by_alias(cli, httpx_mock: HTTPXMock, monkeypatch) -> None:
    monkeypatch.setenv("OUTSCALE_MODEL_NAME", "mistral-small-latest")
    httpx_mock.add_response(url=MODELS_URL, json=CARDS)
    result = cli("ping")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"ok small-2409 at {SERVER} (models, ")
    assert result.stdout.endswith(" ms)\n")


def test_ping_falls_back_to_a_one_token_chat(cli, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=MODELS_URL, status_code=405)
    httpx_mock.add_response(url=CHAT_URL, json=completion("p"))
    result = cli("ping", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["check"] == "chat"
    assert report["model"] == "small-2409" and isinstance(report["latency_ms"], int)
    assert sent_json(httpx_mock.get_requests()[-1])["max_tokens"] == 1


def test_ping_of_a_model_not_served_is_exit_8(cli, httpx_mock: HTTPXMock, monkeypatch) -> None:
    monkeypatch.setenv("OUTSCALE_MODEL_NAME", "ministral-8b-2410")
    httpx_mock.add_response(url=MODELS_URL, json=CARDS)
    result = cli("ping", "--json")
    assert result.exit_code == 8
    assert "small-2409, codestral-2405" in result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is False and "not served" in report["error"]


def test_ping_does_not_retry_by_default(cli, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=MODELS_URL, status_code=503)
    result = cli("ping")
    assert result.exit_code == 6
    assert len(httpx_mock.get_requests()) == 1


def test_bad_environment_value_is_a_config_error(cli, httpx_mock, monkeypatch) -> None:
    monkeypatch.setenv("OUTSCALE_TIMEOUT", "soon")
    result = cli("ping")
    assert result.exit_code == 3
    assert "OUTSCALE_TIMEOUT" in result.stderr
    assert httpx_mock.get_requests() == []
