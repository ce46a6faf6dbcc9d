"""Retries of 429/5xx before any output: how many, and Retry-After deciding the wait."""

from __future__ import annotations

import email.utils
import time

import pytest

from outscale_cli.mock.server import MockConfig

from .helpers import ERROR_PREFIX, assert_error, expected_chat, piped, run_cli, serve


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_one_failure_is_retried_by_default(status: int) -> None:
    with serve(MockConfig(models=("small-2409",), fail_status=status, fail_times=1)) as srv:
        result = run_cli("chat", "Hello", env=srv.env())
    assert result.code == 0, result
    assert result.stdout == piped(expected_chat("Hello"))
    assert result.stderr == ""
    assert len(srv.posts()) == 2


def test_two_failures_are_retried_by_default() -> None:
    with serve(MockConfig(models=("small-2409",), fail_status=503, fail_times=2)) as srv:
        result = run_cli("chat", "--no-stream", "Hello", env=srv.env())
    assert result.code == 0, result
    assert result.stdout == piped(expected_chat("Hello"))
    assert len(srv.posts()) == 3


def test_retries_0_gives_up_at_once() -> None:
    with serve(MockConfig(models=("small-2409",), fail_status=503, fail_times=1)) as srv:
        result = run_cli("chat", "--retries", "0", "Hello", env=srv.env())
    line = assert_error(result, 6)
    assert line.startswith(f"{ERROR_PREFIX}503 Service Unavailable"), line
    assert len(srv.posts()) == 1


def test_retries_from_the_environment() -> None:
    with serve(MockConfig(models=("small-2409",), fail_status=503, fail_times=1)) as srv:
        result = run_cli("chat", "Hello", env=srv.env(OUTSCALE_RETRIES="0"))
    assert_error(result, 6)
    assert len(srv.posts()) == 1


def test_retries_flag_beats_the_environment() -> None:
    with serve(MockConfig(models=("small-2409",), fail_status=502, fail_times=1)) as srv:
        result = run_cli("chat", "--retries", "1", "Hello", env=srv.env(OUTSCALE_RETRIES="0"))
    assert result.code == 0, result
    assert len(srv.posts()) == 2


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_client_errors_are_not_retried(status: int) -> None:
    with serve(MockConfig(models=("small-2409",), fail_status=status, fail_times=1)) as srv:
        result = run_cli("chat", "Hello", env=srv.env())
    line = assert_error(result, 6)
    assert line.startswith(f"{ERROR_PREFIX}{status} "), line
    assert len(srv.posts()) == 1


def test_retry_after_decides_the_wait() -> None:
    config = MockConfig(models=("small-2409",), fail_status=429, fail_times=1, retry_after="1")
    with serve(config) as srv:
        result = run_cli("chat", "Hello", env=srv.env())
    assert result.code == 0, result
    assert result.stdout == piped(expected_chat("Hello"))
    assert len(srv.posts()) == 2
    assert result.elapsed >= 0.9  # waited the second the server asked for


def test_ping_does_not_retry_by_default() -> None:
    config = MockConfig(models=("small-2409",), no_models=True, fail_status=503, fail_times=1)
    with serve(config) as srv:
        result = run_cli("ping", env=srv.env())
    assert_error(result, 6, "503")
    assert len(srv.posts()) == 1


def test_ping_retries_when_asked() -> None:
    config = MockConfig(models=("small-2409",), no_models=True, fail_status=503, fail_times=1)
    with serve(config) as srv:
        result = run_cli("ping", "--retries", "1", env=srv.env())
    assert result.code == 0, result
    assert result.stdout.startswith("ok small-2409 at ")
    assert len(srv.posts()) == 2


def test_retry_after_as_an_http_date() -> None:
    when = email.utils.formatdate(time.time() + 2, usegmt=True)  # 1 to 2 s from now
    config = MockConfig(models=("small-2409",), fail_status=503, fail_times=1, retry_after=when)
    with serve(config) as srv:
        result = run_cli("chat", "Hello", env=srv.env())
    assert result.code == 0, result
    assert len(srv.posts()) == 2
    assert result.elapsed >= 0.9
