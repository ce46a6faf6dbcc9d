"""Gaps found by mutation testing in outscale_cli/errors.py: the --json error object's fields
(README, "When things go wrong"), what a proxy's HTML page gives, the hints per status, and the
error of a signal."""

from __future__ import annotations

import pytest

from outscale_cli.errors import (
    BadResponse,
    CliError,
    ConfigError,
    Expired,
    Interrupted,
    ServerError,
    Terminated,
    TimedOut,
    hint_for_status,
    interruption,
    message_from_body,
    message_from_object,
    reason_phrase,
    server_error,
)
from outscale_cli.status import ExitStatus

# -- the --json error object ------------------------------------------------------------------


def test_the_error_object_of_a_status_has_every_documented_field() -> None:
    error = ServerError("429 Too Many Requests: slow down", http_status=429, request_id="req-42")
    error.retries = 2
    assert error.as_json() == {
        "error": {
            "type": "http_status",
            "message": "429 Too Many Requests: slow down",
            "status": 429,
            "exit_code": 6,
            "request_id": "req-42",
            "retries": 2,
        }
    }


def test_the_error_object_of_any_failure_has_the_same_fields_null_where_unknown() -> None:
    assert ConfigError("no server URL").as_json() == {
        "error": {
            "type": "config",
            "message": "no server URL",
            "status": None,
            "exit_code": 3,
            "request_id": None,
            "retries": None,
        }
    }
    assert BadResponse("broken").as_json()["error"]["type"] == "bad_response"
    assert CliError("bug").as_json()["error"]["exit_code"] == 1


# -- a proxy's HTML page: its title, never its markup --------------------------------------------


@pytest.mark.parametrize(
    ("page", "message"),
    [
        ("<html><TITLE>503 Service\nTemporarily Unavailable</TITLE></html>", "503 Service"),
        (
            "<html><head><title> </title></head><body><H1>Gateway <b>Timeout</b></H1>",
            "Gateway  Timeout",
        ),
        ("<html><title>\n</title><h1 class='x'>Bad\nGateway</h1></html>", "Bad"),
        ("<html><body><p>upstream <i>reset</i></p></body></html>", "upstream  reset"),
        ("<html><head><title>Down</title></head><body><h1>Other</h1></body></html>", "Down"),
    ],
)
def test_an_html_page_gives_its_title_or_heading_or_text(page: str, message: str) -> None:
    assert message_from_body(page) == message


def test_a_title_with_markup_inside_loses_the_markup() -> None:
    assert message_from_body("<html><title><b>Maintenance</b> window</title>") == (
        "Maintenance  window"
    )


def test_an_html_page_with_no_text_gives_no_message() -> None:
    assert message_from_body("<html><body></body></html>") is None


def test_a_503_from_a_proxy_page_reads_well() -> None:
    page = b"<html><head><title>503 Service Unavailable</title></head><body>x</body></html>"
    assert server_error(503, page).message == "503 Service Unavailable"


# -- what the error bodies say ---------------------------------------------------------------------


def test_a_message_field_names_its_param_once() -> None:
    assert message_from_object({"message": "too high", "param": "temperature"}) == (
        "too high (field: temperature)"
    )
    assert message_from_object({"message": "temperature too high", "param": "temperature"}) == (
        "temperature too high"
    )
    assert message_from_object({"message": "too high", "param": ""}) == "too high"
    assert message_from_object({"message": "too high", "param": 3}) == "too high"


def test_error_detail_and_message_are_tried_in_that_order() -> None:
    assert message_from_object({"message": "m", "detail": "d", "error": "e"}) == "e"
    assert message_from_object({"message": "m", "detail": "d"}) == "d"
    assert message_from_object({"message": "m", "detail": ""}) == "m"
    assert message_from_object({"message": "m", "error": {}}) == "m"
    assert message_from_object({"message": "m", "error": {"code": 3}}) == "m"
    assert message_from_object({"other": "x"}) == ""


def test_a_validation_item_without_a_location_gives_its_message() -> None:
    assert message_from_object({"msg": "bad", "loc": []}) == "bad"
    assert message_from_object({"msg": "bad", "loc": ["body"]}) == "bad"
    assert message_from_object({"msg": "bad"}) == "bad"
    assert message_from_object({"msg": "bad", "loc": ["body", "messages", 0]}) == (
        "messages.0: bad"
    )


def test_a_list_of_messages_is_joined_skipping_the_empty() -> None:
    assert message_from_object(["a", "", {"x": 1}, "b"]) == "a; b"


def test_a_message_that_is_json_in_a_string_is_read() -> None:
    assert message_from_object('  {"message": "inner"}  ') == "inner"
    assert message_from_object("[1, 2]") == "1; 2"
    assert message_from_object('{"nothing": 1}') == '{"nothing": 1}'


def test_the_first_non_blank_line_is_the_message() -> None:
    assert message_from_body("\n   \n second \nthird") == "second"
    assert message_from_body("x" * 300) == "x" * 300
    assert message_from_body("x" * 301) == "x" * 299 + "…"


def test_the_request_id_of_the_body_is_kept_unless_the_header_has_one() -> None:
    body = b'{"message": "m", "request_id": "body-id"}'
    assert server_error(500, body).request_id == "body-id"
    assert server_error(500, body, "header-id").request_id == "header-id"
    assert server_error(500, b'{"request_id": 5}').request_id is None
    assert server_error(500, b"[1]").request_id is None
    assert server_error(500, b"not json").request_id is None


def test_a_detail_equal_to_the_reason_is_not_repeated_whatever_its_case() -> None:
    assert server_error(404, b'{"detail": "NOT FOUND"}').message == "404 Not Found"
    assert server_error(404, b'{"detail": "no route"}').message == "404 Not Found: no route"


# -- hints and reasons ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "hint"),
    [
        (401, "check OUTSCALE_API_KEY: the server refused the credentials (or wants some)"),
        (403, "check OUTSCALE_API_KEY: this key may not use that model or route"),
        (404, "check the server URL and the model id (-m / OUTSCALE_MODEL_NAME)"),
        (405, "check the server URL: this route is not served there"),
        (413, "the prompt is too large for the server; send less input"),
        (422, "a request field was refused; check the option named above"),
        (429, "rate limited: wait a little, or raise --retries"),
        (500, "the server failed; try again later or check the deployment's health"),
        (599, "the server failed; try again later or check the deployment's health"),
        (600, None),
        (499, None),
        (400, None),
    ],
)
def test_the_hint_of_each_status(status: int, hint: str | None) -> None:
    assert hint_for_status(status) == hint
    if 400 <= status < 600:
        assert server_error(status, b"").hint == hint


def test_an_unknown_status_is_an_error() -> None:
    assert reason_phrase(599) == "Error"
    assert reason_phrase(418) == "I'm a Teapot"


# -- signals ---------------------------------------------------------------------------------------


def test_ctrl_c_is_interrupted_130() -> None:
    error = interruption(KeyboardInterrupt())
    assert isinstance(error, Interrupted)
    assert (error.message, error.status, error.kind) == (
        "interrupted",
        ExitStatus.INTERRUPTED,
        "interrupted",
    )


def test_sigterm_is_terminated_143() -> None:
    error = interruption(Terminated())
    assert isinstance(error, Interrupted)
    assert (error.message, error.status) == ("terminated", ExitStatus.TERMINATED)
    assert int(error.status) == 143
    assert interruption(KeyboardInterrupt()).status == ExitStatus.INTERRUPTED  # not changed


def test_max_time_is_timed_out() -> None:
    error = interruption(Expired(2.5))
    assert isinstance(error, TimedOut)
    assert error.message == "--max-time 2.5 s expired: the command took too long"
    assert error.hint == "raise --max-time (OUTSCALE_MAX_TIME) if the answer is long"
    assert Expired(7.0).max_time == 7.0


@pytest.mark.parametrize(
    ("page", "message"),
    [
        ("<html><body><p>Intro</p><h1>Bad Gateway</h1></body></html>", "Bad Gateway"),
        ("<html><body>Oops</body><TITLE>Down\nfor now</TITLE></html>", "Down"),
    ],
    ids=["heading-after-text", "title-after-text"],
)
def test_the_title_or_heading_wins_over_the_text_before_it(page: str, message: str) -> None:
    assert message_from_body(page) == message
