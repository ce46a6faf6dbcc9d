"""outscale_cli.errors: the most specific message of every error-body shape."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from outscale_cli.errors import (
    BadResponse,
    CliError,
    ConfigError,
    ConnectionFailed,
    Interrupted,
    ModelNotServed,
    ServerError,
    TimedOut,
    UsageError,
    message_from_body,
    message_from_object,
    server_error,
)
from outscale_cli.status import ExitStatus

FAST = settings(max_examples=200, deadline=None)


def body(obj: Any) -> bytes:
    return json.dumps(obj).encode()


VALIDATION_422 = {
    "detail": [
        {
            "type": "less_than_equal",
            "loc": ["body", "temperature"],
            "msg": "Input should be less than or equal to 1.5",
            "input": 3,
            "ctx": {"le": 1.5},
        }
    ]
}


# -- the exception family -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (CliError, 1),
        (UsageError, 2),
        (ConfigError, 3),
        (ConnectionFailed, 4),
        (TimedOut, 5),
        (ServerError, 6),
        (BadResponse, 7),
        (ModelNotServed, 8),
        (Interrupted, 130),
    ],
)
def test_each_error_carries_its_documented_exit_status(error: type[CliError], status: int) -> None:
    assert error("x").status == status


def test_error_keeps_message_and_hint() -> None:
    error = UsageError("bad --top-p", hint="use a value in (0, 1]")
    assert (error.message, error.hint, str(error)) == (
        "bad --top-p",
        "use a value in (0, 1]",
        "bad --top-p",
    )


# -- message_from_body: every shape in mistral-api.md ---------------------------------------


def test_documented_error_object() -> None:
    raw = body(
        {
            "object": "error",
            "message": "Invalid model: small-9999",
            "type": "invalid_model",
            "param": None,
            "code": "1500",
        }
    )
    assert message_from_body(raw) == "Invalid model: small-9999"


def test_documented_error_object_names_its_param() -> None:
    raw = body(
        {
            "object": "error",
            "message": "Temperature is out of range",
            "type": "invalid_request_error",
            "param": "temperature",
            "code": None,
        }
    )
    message = message_from_body(raw)
    assert message is not None
    assert message.startswith("Temperature is out of range")
    assert "temperature" in message.removeprefix("Temperature is out of range")


def test_param_already_in_the_message_is_not_repeated() -> None:
    raw = body({"object": "error", "message": "bad top_p: too large", "param": "top_p"})
    assert message_from_body(raw) == "bad top_p: too large"


@pytest.mark.parametrize("code", ["1300", 1300, None], ids=["string", "int", "null"])
def test_code_of_any_type_leaves_the_message(code: Any) -> None:
    raw = body(
        {
            "object": "error",
            "message": "Rate limit exceeded",
            "type": "rate_limited",
            "param": None,
            "code": code,
        }
    )
    assert message_from_body(raw) == "Rate limit exceeded"


def test_detail_string() -> None:
    assert message_from_body(b'{"detail": "Unauthorized"}') == "Unauthorized"


def test_message_with_request_id() -> None:
    raw = body({"message": "Unauthorized", "request_id": "0b7f6c1e5a"})
    assert message_from_body(raw) == "Unauthorized"


@pytest.mark.parametrize("raw", [b"", b"   ", b"\n\r\n", ""])
def test_empty_body_has_no_message(raw: bytes | str) -> None:
    assert message_from_body(raw) is None


def test_validation_error_names_the_field() -> None:
    assert message_from_body(body(VALIDATION_422)) == (
        "temperature: Input should be less than or equal to 1.5"
    )


def test_validation_error_nested_location() -> None:
    raw = body(
        {
            "detail": [
                {
                    "loc": ["body", "messages", 0, "content"],
                    "msg": "Field required",
                    "type": "missing",
                }
            ]
        }
    )
    assert message_from_body(raw) == "messages.0.content: Field required"


def test_validation_error_lists_every_field() -> None:
    raw = body(
        {
            "detail": [
                {"loc": ["body", "top_p"], "msg": "too large", "type": "x"},
                {"loc": ["body", "max_tokens"], "msg": "too small", "type": "y"},
            ]
        }
    )
    message = message_from_body(raw)
    assert message is not None
    assert "top_p: too large" in message and "max_tokens: too small" in message


def test_message_holding_an_object() -> None:
    raw = body(
        {
            "object": "error",
            "message": {
                "detail": [
                    {
                        "loc": ["body", "top_p"],
                        "msg": "Input should be less than or equal to 1",
                        "type": "less_than_equal",
                    }
                ]
            },
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    )
    assert message_from_body(raw) == "top_p: Input should be less than or equal to 1"


def test_message_holding_stringified_json() -> None:
    inner = json.dumps(
        {
            "detail": [
                {
                    "loc": ["body", "random_seed"],
                    "msg": "Input should be a valid integer",
                    "type": "int_parsing",
                }
            ]
        }
    )
    raw = body(
        {
            "object": "error",
            "message": inner,
            "type": "invalid_request_error",
            "param": None,
            "code": "3001",
        }
    )
    assert message_from_body(raw) == "random_seed: Input should be a valid integer"


def test_message_holding_text_that_only_starts_like_json() -> None:
    raw = body({"message": "{not json} but a message"})
    assert message_from_body(raw) == "{not json} but a message"


def test_nested_error_object() -> None:
    raw = body(
        {
            "error": {
                "message": "The model `small-9999` does not exist",
                "type": "invalid_request_error",
                "code": 404,
            }
        }
    )
    assert message_from_body(raw) == "The model `small-9999` does not exist"


def test_plain_text_body_gives_its_first_line() -> None:
    assert message_from_body(b"\n  upstream connect error  \nreset reason: overflow\n") == (
        "upstream connect error"
    )


NGINX_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


def test_html_body_gives_no_markup() -> None:
    message = server_error(502, NGINX_502).message
    assert message.startswith("502 Bad Gateway")
    assert "<" not in message and ">" not in message
    assert "\n" not in message


def test_very_long_line_is_shortened() -> None:
    message = message_from_body(b"x" * 10_000)
    assert message is not None
    assert 0 < len(message) <= 300


def test_undecodable_bytes_do_not_raise() -> None:
    message = message_from_body(b"\xff\xfebad gateway \xe9")
    assert message is not None and "bad gateway" in message


def test_message_from_object_of_scalars() -> None:
    assert message_from_object(None) == ""
    assert message_from_object("  a message  ") == "a message"
    assert message_from_object(429) == "429"


# -- server_error -----------------------------------------------------------------------------


def test_401_starts_with_status_and_reason() -> None:
    error = server_error(401, b'{"detail": "Unauthorized"}')
    assert error.message.startswith("401 Unauthorized")
    assert error.http_status == 401
    assert error.status == ExitStatus.HTTP_ERROR


def test_401_does_not_repeat_the_reason() -> None:
    assert server_error(401, b'{"message": "Unauthorized", "request_id": "r1"}').message == (
        "401 Unauthorized"
    )


def test_401_hint_names_the_api_key_variable() -> None:
    hint = server_error(401, b"").hint
    assert hint is not None and "OUTSCALE_API_KEY" in hint


def test_status_then_the_servers_message() -> None:
    raw = body(
        {
            "object": "error",
            "message": (
                "Prompt contains 40000 tokens, too large for model with 32768 maximum "
                "context length"
            ),
            "type": "invalid_request_error",
            "param": None,
            "code": "3051",
        }
    )
    error = server_error(400, raw)
    assert error.message == (
        "400 Bad Request: Prompt contains 40000 tokens, too large for model with 32768 "
        "maximum context length"
    )


def test_422_names_the_field() -> None:
    error = server_error(422, body(VALIDATION_422))
    assert error.message.startswith(f"422 {HTTPStatus(422).phrase}: ")
    assert "temperature" in error.message
    assert error.http_status == 422


def test_empty_body_gives_status_and_reason_only() -> None:
    error = server_error(503, b"")
    assert error.message == "503 Service Unavailable"
    assert error.hint is not None


def test_unknown_status_still_gets_a_reason() -> None:
    assert server_error(599, b"").message.startswith("599 ")


def test_request_id_from_the_body() -> None:
    error = server_error(401, body({"message": "Unauthorized", "request_id": "abc123"}))
    assert error.request_id == "abc123"


def test_request_id_from_the_header_wins() -> None:
    error = server_error(401, body({"message": "Unauthorized", "request_id": "abc"}), "hdr-1")
    assert error.request_id == "hdr-1"


def test_error_message_is_one_line() -> None:
    raw = body({"object": "error", "message": "first line\nsecond line"})
    assert "\n" not in server_error(400, raw).message


# -- properties -------------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(["msg", "loc", "detail", "message", "error", "param", "body", "{", "[1]"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                ["msg", "loc", "detail", "message", "error", "param", "code", "type", "x"]
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@FAST
@given(json_values, st.integers(min_value=400, max_value=599))
def test_any_json_error_body_gives_a_message(value: Any, status: int) -> None:
    raw = json.dumps(value).encode()
    message = message_from_body(raw)
    assert message is None or isinstance(message, str)
    error = server_error(status, raw)
    assert isinstance(error.message, str)
    assert error.message.startswith(f"{status} ")
    assert error.http_status == status


@FAST
@given(json_values)
def test_any_json_value_in_a_message_field_gives_a_message(value: Any) -> None:
    assert isinstance(message_from_object({"object": "error", "message": value}), str)


@FAST
@given(st.binary(max_size=200), st.integers(min_value=400, max_value=599))
def test_any_bytes_as_error_body_give_a_message(raw: bytes, status: int) -> None:
    message = message_from_body(raw)
    assert message is None or isinstance(message, str)
    error = server_error(status, raw)
    assert isinstance(error.message, str) and error.message.startswith(f"{status} ")
