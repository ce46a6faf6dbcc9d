"""What an answer keeps in memory while it streams: its text only when something needs it
(--json, the history, a conversation), and then compactly."""

from __future__ import annotations

import pytest
from pytest_httpx import HTTPXMock

from outscale_cli.commands.run import Output, Turn, open_session, turn_in
from outscale_cli.settings import Settings
from outscale_cli.stream import TextBuffer
from tests.unit.conftest import make_env

URL = "http://vm.test:5000"


@pytest.mark.parametrize("count", [0, 1, TextBuffer.PIECES - 1, TextBuffer.PIECES,
                                   3 * TextBuffer.PIECES + 7])  # fmt: skip
def test_a_text_buffer_gives_back_every_piece_in_order(count: int) -> None:
    buffer = TextBuffer()
    pieces = [f"w{i} " for i in range(count)]
    for piece in pieces:
        buffer.write(piece)
    assert buffer.getvalue() == "".join(pieces)


def test_a_text_buffer_holds_blocks_not_pieces() -> None:
    buffer = TextBuffer()
    for i in range(10 * TextBuffer.PIECES):
        buffer.write(f"w{i} ")
    assert len(buffer._blocks) == 10 and buffer._pieces == []


class _Recorder:
    conversation = "c1"

    def __init__(self) -> None:
        self.saved: list[object] = []

    def save(self, exchange: object) -> None:
        self.saved.append(exchange)


def _stream(words: int) -> bytes:
    import json

    events = [
        {"id": "x", "model": "m", "choices": [{"index": 0, "delta": {"content": f"w{i} "}}]}
        for i in range(words)
    ]
    events.append({"id": "x", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    return b"".join(f"data: {json.dumps(e)}\n\n".encode() for e in events) + b"data: [DONE]\n\n"


def _ask(httpx_mock: HTTPXMock, recorder: object, turn: Turn | None) -> tuple[Turn, str]:
    httpx_mock.add_response(url=f"{URL}/v1/chat/completions", content=_stream(3000),
                            headers={"content-type": "text/event-stream"})  # fmt: skip
    env = make_env()
    settings = Settings(server_url=URL, model="m", retries=0)
    body = {"model": "m", "messages": [{"role": "user", "content": "Hi"}], "stream": True}
    with open_session(env, settings, command="chat") as s:
        done = turn_in(s, "chat", body, "Hi", Output(), recorder, turn=turn)
    return done, env.stdout.getvalue()  # type: ignore[attr-defined]


def test_an_unrecorded_answer_is_printed_but_not_kept(httpx_mock: HTTPXMock) -> None:
    turn, printed = _ask(httpx_mock, None, None)
    assert printed.startswith("w0 w1 ") and "w2999 " in printed
    assert turn.completion.text == ""  # --no-log: memory flat however long the answer


def test_a_recorded_answer_is_kept_whole(httpx_mock: HTTPXMock) -> None:
    recorder = _Recorder()
    turn, _ = _ask(httpx_mock, recorder, None)
    assert turn.completion.text == "".join(f"w{i} " for i in range(3000))
    assert len(recorder.saved) == 1


def test_a_conversations_answer_is_kept_even_unrecorded(httpx_mock: HTTPXMock) -> None:
    turn, _ = _ask(httpx_mock, None, Turn())  # chat -i with --no-log: the next turn needs it
    assert turn.completion.text == "".join(f"w{i} " for i in range(3000))
