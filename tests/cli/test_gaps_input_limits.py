"""Gaps found by mutation testing: --max-input-bytes at the CLI (README, "Input"). Input over the
limit is refused before sending, with exit 2 and its size, never cut; the limit itself is fine;
the joined prompt counts as a whole."""

from __future__ import annotations

from pathlib import Path

from pytest_httpx import HTTPXMock

from tests.cli.conftest import CHAT_URL, FIM_URL, completion, sent_json


def user_content(httpx_mock: HTTPXMock) -> str:
    [request] = httpx_mock.get_requests()
    content: str = sent_json(request)["messages"][-1]["content"]
    return content


def test_standard_input_over_the_limit_is_refused_not_cut(cli, httpx_mock: HTTPXMock) -> None:
    result = cli("chat", "--no-stream", "--max-input-bytes", "10", input="a" * 11)
    assert result.exit_code == 2
    assert "standard input holds more than 10 bytes, over the 10-byte input limit" in (
        result.stderr
    )
    assert result.stdout == ""
    assert httpx_mock.get_requests() == []


def test_standard_input_of_exactly_the_limit_is_sent_whole(cli, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=CHAT_URL, json=completion())
    result = cli("chat", "--no-stream", "--max-input-bytes", "10", input="a" * 10)
    assert result.exit_code == 0, result.stderr
    assert user_content(httpx_mock) == "a" * 10


def test_a_file_of_exactly_the_limit_is_sent_whole(cli, httpx_mock, tmp_path: Path) -> None:
    path = tmp_path / "q.txt"
    path.write_text("é" * 5, encoding="utf-8")  # 10 bytes, 5 characters
    httpx_mock.add_response(url=CHAT_URL, json=completion())
    result = cli("chat", "--no-stream", "--max-input-bytes", "10", "-f", str(path))
    assert result.exit_code == 0, result.stderr
    assert user_content(httpx_mock) == "é" * 5


def test_a_file_over_the_limit_is_refused_with_its_size(cli, httpx_mock, tmp_path: Path) -> None:
    path = tmp_path / "q.txt"
    path.write_text("é" * 6, encoding="utf-8")  # 12 bytes
    result = cli("chat", "--no-stream", "--max-input-bytes", "10", "-f", str(path))
    assert result.exit_code == 2
    assert f"file {path} is 12 bytes, over the 10-byte input limit" in result.stderr
    assert httpx_mock.get_requests() == []


def test_the_joined_prompt_over_the_limit_is_refused(cli, httpx_mock, tmp_path: Path) -> None:
    path = tmp_path / "q.txt"
    path.write_text("f" * 6, encoding="utf-8")
    # Each source fits in 12 bytes; joined with a blank line they make 6 + 2 + 6 = 14.
    result = cli("chat", "--no-stream", "--max-input-bytes", "12", "-f", str(path), "p" * 6)
    assert result.exit_code == 2
    assert "the prompt is 14 bytes, over the 12-byte input limit (--max-input-bytes)" in (
        result.stderr
    )
    assert httpx_mock.get_requests() == []


def test_the_joined_prompt_counts_bytes_not_characters(cli, httpx_mock: HTTPXMock) -> None:
    result = cli("chat", "--no-stream", "--max-input-bytes", "5", "ééé")  # 3 characters, 6 bytes
    assert result.exit_code == 2
    assert "the prompt is 6 bytes" in result.stderr
    assert httpx_mock.get_requests() == []


def test_the_joined_prompt_of_exactly_the_limit_is_sent(cli, httpx_mock, tmp_path: Path) -> None:
    path = tmp_path / "q.txt"
    path.write_text("f" * 6, encoding="utf-8")
    httpx_mock.add_response(url=CHAT_URL, json=completion())
    result = cli("chat", "--no-stream", "--max-input-bytes", "14", "-f", str(path), "p" * 6)
    assert result.exit_code == 0, result.stderr
    assert user_content(httpx_mock) == "ffffff\n\npppppp"


def test_fim_standard_input_over_the_limit_is_refused(cli, httpx_mock: HTTPXMock) -> None:
    result = cli("fim", "--no-stream", "--max-input-bytes", "4", input="def f")
    assert result.exit_code == 2
    assert "standard input holds more than 4 bytes" in result.stderr
    assert httpx_mock.get_requests() == []


def test_fim_standard_input_of_exactly_the_limit_is_sent(cli, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=FIM_URL, json=completion("x"))
    result = cli("fim", "--no-stream", "--max-input-bytes", "5", input="def f")
    assert result.exit_code == 0, result.stderr
    assert sent_json(httpx_mock.get_requests()[0])["prompt"] == "def f"
