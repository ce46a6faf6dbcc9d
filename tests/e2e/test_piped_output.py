"""Piped stdout: the answer's text only, no escape codes, the same streamed or not."""

from __future__ import annotations

import pytest

from outscale_cli.mock.answers import answer_tokens, fim_text
from outscale_cli.mock.server import MockConfig

from .helpers import Served, expected_chat, piped, read_until, run_cli, serve, start_cli

# Everything that might tempt a program into colour, as a user's shell may well have it.
COLOUR_ENV = {
    "FORCE_COLOR": "1",
    "CLICOLOR_FORCE": "1",
    "TERM": "xterm-256color",
    "COLORTERM": "truecolor",
}


@pytest.mark.parametrize(
    "args",
    [
        ["chat", "Hello"],
        ["chat", "--no-stream", "Hello"],
        ["fim", "-m", "codestral-2405", "def f():", "--suffix", "return 1"],
        ["models"],
        ["ping"],
    ],
    ids=["chat", "chat-no-stream", "fim", "models", "ping"],
)
def test_no_escape_codes_when_piped(stand_in: Served, args: list[str]) -> None:
    env = {**stand_in.env(), **COLOUR_ENV}
    result = run_cli(*args, env=env)
    assert result.code == 0, result
    assert result.stdout
    assert "\x1b" not in result.stdout
    assert "\x1b" not in result.stderr
    assert "\r" not in result.stdout  # no spinner or live redraw either


def test_the_markdown_answer_is_printed_as_text_not_rendered(stand_in: Served) -> None:
    result = run_cli("chat", "Hello", env={**stand_in.env(), **COLOUR_ENV})
    assert result.code == 0, result
    assert result.stdout == expected_chat("Hello")
    assert "**Stand-in answer**" in result.stdout  # the Markdown source, as the model wrote it
    assert "```python" in result.stdout


@pytest.mark.parametrize("length", [None, 57])
def test_streamed_and_not_streamed_print_the_same(length: int | None) -> None:
    with serve(MockConfig(models=("small-2409",), length=length)) as srv:
        streamed = run_cli("chat", "--stream", "Hello", env=srv.env())
        whole = run_cli("chat", "--no-stream", "Hello", env=srv.env())
    assert streamed.code == whole.code == 0, (streamed, whole)
    assert streamed.stdout == whole.stdout == piped(expected_chat("Hello", length=length))


def test_max_tokens_cut_answer_is_the_same_both_ways(stand_in: Served) -> None:
    streamed = run_cli("chat", "--max-tokens", "5", "Hello", env=stand_in.env())
    whole = run_cli("chat", "--no-stream", "--max-tokens", "5", "Hello", env=stand_in.env())
    assert streamed.code == whole.code == 0, (streamed, whole)
    assert streamed.stdout == whole.stdout
    pieces, finish = answer_tokens(expected_chat("Hello"), prefix=None, length=None, max_tokens=5)
    assert finish == "length"
    assert streamed.stdout == piped("".join(pieces))


@pytest.mark.parametrize("suffix", [[], ["--suffix", "    return total\n"]], ids=["no", "suffix"])
def test_fim_streamed_and_not_print_the_same_exact_bytes(
    stand_in: Served, suffix: list[str]
) -> None:
    args = ["fim", "-m", "codestral-2405", "def total(xs):\n", *suffix]
    streamed = run_cli(*args, "--stream", env=stand_in.env(None))
    whole = run_cli(*args, "--no-stream", env=stand_in.env(None))
    assert streamed.code == whole.code == 0, (streamed, whole)
    expected = fim_text({"suffix": suffix[1]} if suffix else {})
    assert streamed.stdout == whole.stdout == expected


def test_each_piece_is_flushed_as_it_arrives() -> None:
    # Slow tokens: the first must reach the pipe while the rest are still being written.
    with serve(MockConfig(models=("small-2409",), pace=0.3, length=40)) as srv:
        proc = start_cli("chat", "Hello", env=srv.env())
        with proc:
            try:
                assert proc.stdout is not None
                first = read_until(proc.stdout.fileno(), lambda data: len(data) > 0)
                still_running = proc.poll() is None
            finally:
                proc.kill()
                proc.communicate()
    assert still_running
    assert expected_chat("Hello", length=40).encode().startswith(first)
