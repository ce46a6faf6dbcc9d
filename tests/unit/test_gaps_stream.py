"""Gaps found by mutation testing in outscale_cli/stream.py: where a stream ends ([DONE], with
or without spaces; nothing after it is read), and the assembled response's envelope."""

from __future__ import annotations

import json
from typing import Any

import pytest

from outscale_cli.errors import BadResponse, ServerError
from outscale_cli.stream import (
    Completion,
    Delta,
    check_error_object,
    iter_deltas,
    parse_json_object,
    split_content,
)


def event(obj: Any) -> str:
    return f"data: {json.dumps(obj)}\n\n"


def chunk(content: Any = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": "cmpl-1",
        "object": "chat.completion.chunk",
        "model": "small-2409",
        "created": 7,
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": finish}],
        **extra,
    }


def run(*pieces: str) -> tuple[Completion, list[Delta]]:
    completion = Completion()
    deltas = list(iter_deltas([p.encode() for p in pieces], completion))
    return completion, deltas


@pytest.mark.parametrize("done", ["[DONE]", "[DONE] ", " [DONE]", "[DONE]  \t"])
def test_done_with_spaces_ends_the_stream(done: str) -> None:
    completion, deltas = run(event(chunk("Hel")) + f"data:{done}\n\n")
    assert [d.text for d in deltas] == ["Hel"]
    assert completion.finish_reason is None  # ended by [DONE] alone: not a broken stream


def test_nothing_after_done_is_parsed_in_the_same_chunk() -> None:
    completion, deltas = run(event(chunk("a")) + "data: [DONE]\n\n" + "data: not json\n\n")
    assert [d.text for d in deltas] == ["a"]
    assert completion.text == "a"


def test_nothing_after_done_is_read_from_later_chunks() -> None:
    read: list[int] = []

    def chunks() -> Any:
        for number, piece in enumerate(
            [event(chunk("a")), "data: [DONE]\n\n", event(chunk("late")), "data: {broken\n\n"]
        ):
            read.append(number)
            yield piece.encode()

    completion = Completion()
    deltas = list(iter_deltas(chunks(), completion))
    assert [d.text for d in deltas] == ["a"]
    assert read == [0, 1]  # the stream is not read past [DONE]


def test_an_error_object_after_done_is_ignored() -> None:
    _, deltas = run(event(chunk("a")), "data: [DONE]\n\n", event({"object": "error"}))
    assert [d.text for d in deltas] == ["a"]


def test_done_as_part_of_a_longer_text_is_an_event() -> None:
    with pytest.raises(BadResponse):
        run(event(chunk("a")) + "data: [DONE] later\n\n")


def test_a_stream_ended_at_the_last_byte_by_a_finish_reason() -> None:
    completion, deltas = run(event(chunk("a")) + event(chunk("b", finish="stop")))
    assert [d.text for d in deltas] == ["a", "b"]
    assert completion.finish_reason == "stop"


def test_a_finished_stream_ending_without_a_blank_line_keeps_its_last_event() -> None:
    completion, deltas = run(event(chunk("a")), 'data: {"choices": [{"delta": {"content": "z"},'
                             ' "finish_reason": "length"}]}')  # fmt: skip
    assert [d.text for d in deltas] == ["a", "z"]
    assert completion.finish_reason == "length"


def test_a_stream_broken_after_an_event_says_so() -> None:
    with pytest.raises(BadResponse) as caught:
        run(event(chunk("a")))
    assert caught.value.message == "the stream broke off before the answer was finished"


def test_a_stream_with_no_event_says_so() -> None:
    with pytest.raises(BadResponse) as caught:
        run(": keep-alive\n\n")
    assert caught.value.message == "the server closed the stream without sending any event"


def test_empty_deltas_are_not_yielded() -> None:
    _, deltas = run(event(chunk("")) + event(chunk(None)) + event(chunk("x", finish="stop")))
    assert deltas == [Delta("x", "")]


def test_thinking_alone_is_a_delta() -> None:
    thinking = [{"type": "thinking", "thinking": [{"type": "text", "text": "hmm"}]}]
    _, deltas = run(event(chunk(thinking)) + "data: [DONE]\n\n")
    assert deltas == [Delta("", "hmm")]


# -- the envelope ---------------------------------------------------------------------------------


def test_the_first_id_model_and_created_are_kept_and_the_last_usage() -> None:
    completion = Completion()
    completion.add_chunk(chunk("a", usage={"total_tokens": 1}))
    completion.add_chunk({**chunk("b"), "id": "other", "model": "other", "created": 9,
                          "usage": {"total_tokens": 2}})  # fmt: skip
    completion.add_chunk({"choices": [], "usage": "not a dict"})
    response = completion.to_response()
    assert (response["id"], response["model"], response["created"]) == ("cmpl-1", "small-2409", 7)
    assert response["usage"] == {"total_tokens": 2}
    assert response["object"] == "chat.completion"


def test_envelope_values_of_the_wrong_type_are_not_taken() -> None:
    completion = Completion()
    completion.add_chunk({"id": 3, "model": ["m"], "created": "7", "choices": []})
    completion.add_chunk(chunk("a"))
    response = completion.to_response()
    assert (response["id"], response["model"], response["created"]) == ("cmpl-1", "small-2409", 7)


def test_without_keep_text_only_the_envelope_is_kept() -> None:
    completion = Completion(keep_text=False)
    delta = completion.add_chunk(chunk("abc", finish="stop"))
    assert delta == Delta("abc", "")
    assert completion.text == "" and completion.finish_reason == "stop"


def test_the_assembled_response_shape() -> None:
    completion = Completion()
    completion.add_chunk(chunk("Hello", finish="stop"))
    assert completion.to_response() == {
        "id": "cmpl-1",
        "object": "chat.completion",
        "created": 7,
        "model": "small-2409",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello"},
                "finish_reason": "stop",
            }
        ],
        "usage": None,
    }


def test_thinking_is_assembled_before_the_text() -> None:
    completion = Completion()
    completion.add_chunk(chunk([{"type": "thinking", "thinking": "hm"}]))
    completion.add_chunk(chunk("ok"))
    assert completion.thinking == "hm"
    assert completion.to_response()["choices"][0]["message"]["content"] == [
        {"type": "thinking", "thinking": [{"type": "text", "text": "hm"}]},
        {"type": "text", "text": "ok"},
    ]


def test_a_whole_response_gives_its_text_and_finish_reason() -> None:
    completion = Completion()
    delta = completion.add_response(
        {"id": "x", "choices": [{"message": {"content": "hi"}, "finish_reason": "length"}]}
    )
    assert delta == Delta("hi", "")
    assert completion.finish_reason == "length" and completion.received_any


def test_a_falsy_finish_reason_is_no_finish_reason() -> None:
    completion = Completion()
    completion.add_chunk(chunk("a", finish=""))
    completion.add_response({"choices": [{"message": {"content": "b"}, "finish_reason": ""}]})
    assert completion.finish_reason is None


def test_tool_calls_with_odd_pieces() -> None:
    completion = Completion()
    completion.add_chunk(
        {
            "choices": [
                {
                    "delta": {
                        "tool_calls": [
                            "not a call",
                            {
                                "index": "x",
                                "id": "c1",
                                "type": "function",
                                "function": {"name": "f"},
                            },
                            {"id": "", "function": {"arguments": None}},
                        ]
                    }
                }
            ]
        }  # fmt: skip
    )
    completion.add_chunk(
        {"choices": [{"delta": {"tool_calls": [{"index": 1, "function": "not a dict"}]}}]}
    )
    assert completion.to_response()["choices"][0]["message"]["tool_calls"] == [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": ""}},
        {"function": {"name": "", "arguments": ""}},
    ]


def test_split_content_of_text_chunks_with_no_text() -> None:
    assert split_content([{"type": "text"}, {"type": "text", "text": None}, "x"]) == ("x", "")


# -- error objects and bodies ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"object": "error", "message": "overloaded"}, "the server sent an error: overloaded"),
        ({"error": {"message": "bad"}}, "the server sent an error: bad"),
        ({"object": "error"}, "the server sent an error: the server reported an error"),
    ],
)
def test_error_objects_raise_server_errors(obj: Any, message: str) -> None:
    with pytest.raises(ServerError) as caught:
        check_error_object(obj)
    assert caught.value.message == message


def test_an_answer_that_also_names_an_error_is_an_answer() -> None:
    check_error_object({"error": None, "choices": []})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("  ", "empty body: the server sent no body"),
        ("nope", "undecodable body: not JSON ('nope')"),
        (b"\xff{", "undecodable body: not JSON ('\ufffd{')"),
        ("[1]", "undecodable body: a JSON list, not an object"),
        ("x" * 100, f"undecodable body: not JSON ({'x' * 80!r})"),
    ],
)
def test_parse_json_object_messages(data: str | bytes, message: str) -> None:
    with pytest.raises(BadResponse) as caught:
        parse_json_object(data, "body")
    assert caught.value.message == message


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: split_content(42), "unexpected message content of type int"),
        (lambda: Completion().add_chunk({"choices": [{"delta": "x"}]}),
         "a stream chunk's delta is not an object"),
        (lambda: Completion().add_response({"choices": []}), "the response has no choices"),
        (lambda: Completion().add_response({"choices": [{"message": "x"}]}),
         "the response's choice has no message"),
        (lambda: Completion().add_chunk({"choices": ["x"]}),
         "the answer's choices are not a list of objects"),
        (lambda: Completion().add_chunk({"choices": {"0": {}}}),
         "the answer's choices are not a list of objects"),
    ],
)  # fmt: skip
def test_malformed_answers_say_what_is_wrong(call: Any, message: str) -> None:
    with pytest.raises(BadResponse) as caught:
        call()
    assert caught.value.message == message


def test_an_event_that_is_not_json_is_named_as_an_event() -> None:
    with pytest.raises(BadResponse) as caught:
        run(event(chunk("a")) + "data: {nope\n\n")
    assert caught.value.message == "undecodable event in the stream: not JSON ('{nope')"


def test_a_long_undecodable_body_shows_its_first_80_bytes() -> None:
    with pytest.raises(BadResponse) as caught:
        parse_json_object(b"y" * 100, "response")
    assert caught.value.message == f"undecodable response: not JSON ({'y' * 80!r})"


def test_a_chunk_with_usage_only_is_no_error() -> None:
    check_error_object({"id": "x", "usage": {"total_tokens": 3}})
    check_error_object([{"error": "in a list"}])


def test_tool_call_arguments_sent_as_text_then_as_an_object_are_joined() -> None:
    completion = Completion()
    completion.add_chunk({"choices": [{"delta": {"tool_calls": [
        {"index": 0, "function": {"name": "f", "arguments": "["}}]}}]})  # fmt: skip
    completion.add_chunk({"choices": [{"delta": {"tool_calls": [
        {"index": 0, "function": {"arguments": {"a": 1}}}]}}]})  # fmt: skip
    [call] = completion.to_response()["choices"][0]["message"]["tool_calls"]
    assert call["function"] == {"name": "f", "arguments": '[{"a": 1}'}
