"""outscale_cli.stream: from chunks or whole responses to answer text, thinking and usage."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from outscale_cli.errors import BadResponse, ServerError
from outscale_cli.sse import decode_all
from outscale_cli.status import ExitStatus
from outscale_cli.stream import (
    Completion,
    Delta,
    check_error_object,
    iter_deltas,
    parse_json_object,
    split_content,
)

from .conftest import RECORDED

STREAMS = sorted(RECORDED.glob("*.sse"))
RESPONSES = sorted(p for p in RECORDED.glob("*-completion.json"))
THINKING = {"magistral-high-stream.sse", "magistral-high-completion.json"}


def replay_stream(chunks: list[bytes]) -> tuple[Completion, list[Delta]]:
    completion = Completion()
    return completion, list(iter_deltas(chunks, completion))


def sse(*objects: Any, done: bool = True) -> bytes:
    """A stream carrying these events (dicts become JSON, strings are sent as they are)."""
    lines = [o if isinstance(o, str) else json.dumps(o) for o in objects]
    if done:
        lines.append("[DONE]")
    return "".join(f"data: {line}\n\n" for line in lines).encode()


def chunk(content: Any = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    delta: dict[str, Any] = {}
    if content is not None:
        delta["content"] = content
    if "tool_calls" in extra:
        delta["tool_calls"] = extra.pop("tool_calls")
    return {
        "id": "cmpl-1",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "small-2409",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }


def recorded_events(path: Path) -> list[dict[str, Any]]:
    events = decode_all([path.read_bytes()])
    return [json.loads(e) for e in events if e != "[DONE]"]


def test_the_recorded_fixtures_are_all_there() -> None:
    assert {p.name for p in STREAMS} == {"magistral-stream.sse", "magistral-high-stream.sse"}
    assert len(RESPONSES) == 3


# -- replaying the recorded answers ---------------------------------------------------------


@pytest.mark.parametrize("path", STREAMS, ids=lambda p: p.name)
def test_recorded_stream_answers_exactly_323(path: Path) -> None:
    completion, deltas = replay_stream([path.read_bytes()])
    assert "".join(d.text for d in deltas) == "323"
    assert completion.text == "323"
    assert completion.finish_reason == "stop"


@pytest.mark.parametrize("path", STREAMS, ids=lambda p: p.name)
def test_recorded_stream_fed_byte_by_byte_answers_323(path: Path) -> None:
    raw = path.read_bytes()
    completion, deltas = replay_stream([raw[i : i + 1] for i in range(len(raw))])
    assert "".join(d.text for d in deltas) == "323"
    assert completion.text == "323"


@pytest.mark.parametrize("path", RESPONSES, ids=lambda p: p.name)
def test_recorded_response_answers_exactly_323(path: Path) -> None:
    completion = Completion()
    delta = completion.add_response(json.loads(path.read_bytes()))
    assert delta.text == "323"
    assert completion.text == "323"
    assert completion.finish_reason == "stop"


@pytest.mark.parametrize("path", STREAMS, ids=lambda p: p.name)
def test_recorded_stream_thinking_only_for_high_reasoning(path: Path) -> None:
    completion, deltas = replay_stream([path.read_bytes()])
    thinking = "".join(d.thinking for d in deltas)
    assert thinking == completion.thinking
    if path.name in THINKING:
        assert "17" in thinking and "19" in thinking
        assert len(thinking) > 100
    else:
        assert thinking == ""


@pytest.mark.parametrize("path", RESPONSES, ids=lambda p: p.name)
def test_recorded_response_thinking_only_for_high_reasoning(path: Path) -> None:
    completion = Completion()
    delta = completion.add_response(json.loads(path.read_bytes()))
    if path.name in THINKING:
        assert delta.thinking.startswith("I need to calculate 17 multiplied by 19")
    else:
        assert delta.thinking == ""


def test_recorded_high_stream_keeps_thinking_out_of_the_text() -> None:
    _, deltas = replay_stream([(RECORDED / "magistral-high-stream.sse").read_bytes()])
    text_deltas = [d.text for d in deltas if d.text]
    assert text_deltas == ["3", "23"]
    # The answer starts only after the reasoning: no text piece comes before a thinking one.
    first_text = next(i for i, d in enumerate(deltas) if d.text)
    assert all(not d.thinking for d in deltas[first_text + 1 :])
    assert all(d.thinking for d in deltas[:first_text])


@pytest.mark.parametrize("path", STREAMS, ids=lambda p: p.name)
def test_recorded_stream_yields_no_empty_delta(path: Path) -> None:
    _, deltas = replay_stream([path.read_bytes()])
    assert all(d.text or d.thinking for d in deltas)


@pytest.mark.parametrize("path", STREAMS, ids=lambda p: p.name)
def test_recorded_stream_usage_comes_from_the_last_chunk(path: Path) -> None:
    last = recorded_events(path)[-1]
    completion, _ = replay_stream([path.read_bytes()])
    assert completion.usage == last["usage"]
    assert completion.usage is not None and completion.usage["completion_tokens"] > 0


@pytest.mark.parametrize("path", STREAMS, ids=lambda p: p.name)
def test_recorded_stream_assembles_the_non_streamed_shape(path: Path) -> None:
    events = recorded_events(path)
    completion, _ = replay_stream([path.read_bytes()])
    response = completion.to_response()
    reference = json.loads((RECORDED / "magistral-completion.json").read_bytes())
    assert set(reference) <= set(response)
    assert response["object"] == "chat.completion"
    assert response["id"] == events[0]["id"]
    assert response["model"] == "magistral-small-latest"
    assert response["created"] == events[0]["created"]
    assert response["usage"] == events[-1]["usage"]
    [choice] = response["choices"]
    assert choice["index"] == 0
    assert choice["finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant"
    assert split_content(choice["message"]["content"]) == (completion.text, completion.thinking)


def test_recorded_plain_stream_assembles_content_as_a_string() -> None:
    completion, _ = replay_stream([(RECORDED / "magistral-stream.sse").read_bytes()])
    assert completion.to_response()["choices"][0]["message"]["content"] == "323"


def test_recorded_high_stream_assembles_thinking_then_text_chunks() -> None:
    completion, _ = replay_stream([(RECORDED / "magistral-high-stream.sse").read_bytes()])
    content = completion.to_response()["choices"][0]["message"]["content"]
    assert [part["type"] for part in content] == ["thinking", "text"]
    assert content[1]["text"] == "323"


@pytest.mark.parametrize("path", RESPONSES, ids=lambda p: p.name)
def test_recorded_response_round_trips_through_to_response(path: Path) -> None:
    original = json.loads(path.read_bytes())
    completion = Completion()
    completion.add_response(original)
    response = completion.to_response()
    for key in ("id", "object", "created", "model", "usage"):
        assert response[key] == original[key], key
    assert response["choices"][0]["finish_reason"] == "stop"
    again = Completion()
    again.add_response(response)
    assert (again.text, again.thinking) == (completion.text, completion.thinking)


# -- split_content --------------------------------------------------------------------------


def test_split_content_of_none_and_string() -> None:
    assert split_content(None) == ("", "")
    assert split_content("Hello") == ("Hello", "")


def test_split_content_separates_text_and_thinking_chunks() -> None:
    content = [
        {"type": "thinking", "thinking": [{"type": "text", "text": "hmm, "}], "closed": True},
        {"type": "text", "text": "The answer"},
        {"type": "thinking", "thinking": [{"type": "text", "text": "sure"}]},
        {"type": "text", "text": " is 4."},
    ]
    assert split_content(content) == ("The answer is 4.", "hmm, sure")


def test_split_content_ignores_unknown_chunk_types() -> None:
    content = [{"type": "image_url", "image_url": "x"}, {"type": "text", "text": "ok"}]
    assert split_content(content) == ("ok", "")


def test_split_content_of_empty_thinking_list() -> None:
    assert split_content([{"type": "thinking", "thinking": []}, {"type": "text", "text": "3"}]) == (
        "3",
        "",
    )


@pytest.mark.parametrize("content", [42, {"type": "text", "text": "x"}, 1.5, True])
def test_split_content_of_an_unexpected_type_is_bad_response(content: Any) -> None:
    with pytest.raises(BadResponse):
        split_content(content)


# -- Completion: chunks ---------------------------------------------------------------------


def test_add_chunk_returns_only_the_new_piece() -> None:
    completion = Completion()
    assert completion.add_chunk(chunk("Hel")) == Delta("Hel", "")
    assert completion.add_chunk(chunk("lo")) == Delta("lo", "")
    assert completion.text == "Hello"


def test_last_chunk_content_counts_with_its_finish_reason_and_usage() -> None:
    completion = Completion()
    completion.add_chunk(chunk("Hel"))
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    assert completion.add_chunk(chunk("lo", "stop", usage=usage)).text == "lo"
    assert completion.text == "Hello"
    assert completion.finish_reason == "stop"
    assert completion.usage == usage


def test_usage_of_the_last_chunk_replaces_earlier_usage() -> None:
    completion = Completion()
    completion.add_chunk(chunk("a", usage={"total_tokens": 1}))
    completion.add_chunk(chunk("b", "stop", usage={"total_tokens": 9}))
    assert completion.usage == {"total_tokens": 9}


def test_chunk_without_choices_adds_nothing() -> None:
    completion = Completion()
    assert completion.add_chunk({"id": "x", "choices": [], "usage": {"total_tokens": 4}}) == Delta()
    assert completion.usage == {"total_tokens": 4}


def test_chunk_with_a_delta_that_is_not_an_object_is_bad_response() -> None:
    with pytest.raises(BadResponse):
        Completion().add_chunk({"choices": [{"index": 0, "delta": "text"}]})


def test_chunk_with_choices_not_a_list_of_objects_is_bad_response() -> None:
    with pytest.raises(BadResponse):
        Completion().add_chunk({"choices": ["a"]})


def test_streamed_completion_assembles_chat_completion_object() -> None:
    completion = Completion()
    completion.add_chunk(chunk("Hi"))
    completion.add_chunk(chunk("!", "length", usage={"total_tokens": 7}))
    assert completion.to_response() == {
        "id": "cmpl-1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "small-2409",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hi!"},
                "finish_reason": "length",
            }
        ],
        "usage": {"total_tokens": 7},
    }


def test_fim_completion_keeps_its_whitespace() -> None:
    completion = Completion()
    completion.add_chunk(chunk("\n    n_words = 0\n"))
    completion.add_chunk(chunk("    ", "stop"))
    assert completion.text == "\n    n_words = 0\n    "


# -- Completion: whole responses ------------------------------------------------------------


def test_response_without_choices_is_bad_response() -> None:
    with pytest.raises(BadResponse):
        Completion().add_response({"id": "x", "choices": []})


def test_response_choice_without_message_is_bad_response() -> None:
    with pytest.raises(BadResponse):
        Completion().add_response({"choices": [{"index": 0, "finish_reason": "stop"}]})


# -- tool calls -----------------------------------------------------------------------------


def test_tool_call_sent_whole_in_one_delta() -> None:
    completion = Completion()
    call = {
        "id": "D681PevKs",
        "type": "function",
        "index": 0,
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
    }
    completion.add_chunk(chunk(tool_calls=[call]))
    completion.add_chunk(chunk("", "tool_calls"))
    message = completion.to_response()["choices"][0]["message"]
    assert message["tool_calls"] == [
        {
            "id": "D681PevKs",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
        }
    ]
    assert completion.finish_reason == "tool_calls"


def test_tool_calls_sent_in_pieces_are_merged_by_index() -> None:
    completion = Completion()
    pieces = [
        [{"index": 0, "id": "c0", "type": "function", "function": {"name": "get_weather"}}],
        [{"index": 0, "function": {"arguments": '{"ci'}}],
        [{"index": 1, "id": "c1", "type": "function", "function": {"name": "get_time"}}],
        [{"index": 0, "function": {"arguments": 'ty": "Paris"}'}}],
        [{"index": 1, "function": {"arguments": "{}"}}],
    ]
    for piece in pieces:
        completion.add_chunk(chunk(tool_calls=piece))
    calls = completion.to_response()["choices"][0]["message"]["tool_calls"]
    assert [c["id"] for c in calls] == ["c0", "c1"]
    assert [c["function"]["name"] for c in calls] == ["get_weather", "get_time"]
    assert json.loads(calls[0]["function"]["arguments"]) == {"city": "Paris"}
    assert calls[1]["function"]["arguments"] == "{}"


def test_tool_calls_are_listed_in_index_order() -> None:
    completion = Completion()
    completion.add_chunk(chunk(tool_calls=[{"index": 1, "id": "b", "function": {"name": "g"}}]))
    completion.add_chunk(chunk(tool_calls=[{"index": 0, "id": "a", "function": {"name": "f"}}]))
    calls = completion.to_response()["choices"][0]["message"]["tool_calls"]
    assert [c["id"] for c in calls] == ["a", "b"]


def test_tool_call_arguments_sent_as_an_object_become_json_text() -> None:
    completion = Completion()
    completion.add_response(
        {
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "tool_calls",
                    "message": {
                        "role": "assistant",
                        "content": "",
                        "tool_calls": [
                            {"id": "t", "function": {"name": "f", "arguments": {"x": 1}}}
                        ],
                    },
                }
            ]
        }
    )
    [call] = completion.to_response()["choices"][0]["message"]["tool_calls"]
    assert json.loads(call["function"]["arguments"]) == {"x": 1}


def test_no_tool_calls_key_when_none_were_sent() -> None:
    completion = Completion()
    completion.add_response(json.loads((RECORDED / "magistral-completion.json").read_bytes()))
    assert "tool_calls" not in completion.to_response()["choices"][0]["message"]


# -- iter_deltas: how a stream ends ---------------------------------------------------------


def test_stream_ended_by_done() -> None:
    completion, deltas = replay_stream([sse(chunk("Hi"), chunk("!", "stop"))])
    assert [d.text for d in deltas] == ["Hi", "!"]


def test_stream_with_finish_reason_but_no_done_is_fine() -> None:
    completion, deltas = replay_stream([sse(chunk("Hi"), chunk("!", "stop"), done=False)])
    assert "".join(d.text for d in deltas) == "Hi!"
    assert completion.finish_reason == "stop"


def test_stream_with_finish_reason_and_no_final_newline_is_fine() -> None:
    raw = sse(chunk("Hi", "stop"), done=False).rstrip(b"\n")
    completion, deltas = replay_stream([raw])
    assert [d.text for d in deltas] == ["Hi"]


def test_broken_stream_raises_after_yielding_what_arrived() -> None:
    completion = Completion()
    received: list[str] = []
    with pytest.raises(BadResponse) as caught:
        for delta in iter_deltas([sse(chunk("Hel"), chunk("lo"), done=False)], completion):
            received.append(delta.text)
    assert received == ["Hel", "lo"]
    assert caught.value.status == ExitStatus.BAD_RESPONSE


def test_stream_cut_inside_an_event_is_broken() -> None:
    raw = sse(chunk("Hel"), chunk("lo", "stop"))
    cut = raw.index(b"lo") + 1
    with pytest.raises(BadResponse):
        replay_stream([raw[:cut]])


def test_empty_stream_is_broken() -> None:
    with pytest.raises(BadResponse):
        replay_stream([])


def test_stream_of_only_keep_alives_is_broken() -> None:
    with pytest.raises(BadResponse):
        replay_stream([b": keep-alive\n\n: keep-alive\n\n"])


def test_error_object_event_raises_server_error() -> None:
    error = {
        "object": "error",
        "message": "Service unavailable: model overloaded",
        "type": "internal_error",
        "param": None,
        "code": "3000",
    }
    received: list[str] = []
    with pytest.raises(ServerError) as caught:
        for delta in iter_deltas([sse(chunk("Par"), error)], Completion()):
            received.append(delta.text)
    assert received == ["Par"]
    assert "model overloaded" in caught.value.message
    assert caught.value.status == ExitStatus.HTTP_ERROR


def test_nested_error_event_raises_server_error() -> None:
    with pytest.raises(ServerError) as caught:
        replay_stream([sse({"error": {"message": "upstream failed", "code": 500}})])
    assert "upstream failed" in caught.value.message


@pytest.mark.parametrize("data", ["not json", "{", "[1, 2]", '"text"', "null"])
def test_undecodable_event_raises_bad_response(data: str) -> None:
    with pytest.raises(BadResponse):
        replay_stream([sse(chunk("Hi"), data)])


def test_invalid_utf8_event_raises_bad_response() -> None:
    with pytest.raises(BadResponse):
        replay_stream([sse(chunk("Hi")) + b'data: {"x": "\xff"}\n\n'])


def test_iter_deltas_reads_chunks_lazily() -> None:
    """Each delta is yielded as soon as its chunk arrives, not after the whole stream."""
    consumed: list[int] = []

    def chunks() -> Iterator[bytes]:
        for number, raw in enumerate([sse(chunk("a"), done=False), sse(chunk("b", "stop"))]):
            consumed.append(number)
            yield raw

    deltas = iter_deltas(chunks(), Completion())
    assert next(deltas).text == "a"
    assert consumed == [0]
    assert [d.text for d in deltas] == ["b"]


# -- check_error_object and parse_json_object -----------------------------------------------


@pytest.mark.parametrize("obj", [None, [], "error", 3, chunk("fine")])
def test_check_error_object_lets_answers_through(obj: Any) -> None:
    check_error_object(obj)


def test_check_error_object_raises_on_documented_error_object() -> None:
    with pytest.raises(ServerError) as caught:
        check_error_object({"object": "error", "message": "Invalid model: nope", "code": 1500})
    assert "Invalid model: nope" in caught.value.message


def test_parse_json_object_returns_the_object() -> None:
    assert parse_json_object('{"a": [1]}', "event") == {"a": [1]}
    assert parse_json_object(b'{"a": "\xc3\xa9"}', "response") == {"a": "é"}


@pytest.mark.parametrize("data", ["", "   ", b"", "<html>", "[1]", "1", b"\xff\xfe{"])
def test_parse_json_object_refuses_what_is_not_an_object(data: str | bytes) -> None:
    with pytest.raises(BadResponse) as caught:
        parse_json_object(data, "event in the stream")
    assert "event in the stream" in caught.value.message


def test_a_body_nested_too_deeply_is_a_bad_response_not_a_crash() -> None:
    from outscale_cli.errors import message_from_body
    from outscale_cli.stream import parse_json_object

    with pytest.raises(BadResponse, match="not JSON"):
        parse_json_object("[" * 100_000, "event")
    assert message_from_body(("[" * 100_000).encode()) is not None  # an error body: shown raw
