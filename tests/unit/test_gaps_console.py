"""Gaps found by mutation testing in outscale_cli/console.py: secrets are scrubbed from every
diagnostic, the --json error object and the hint line included (README, "Secrets")."""

from __future__ import annotations

import io
import json

from outscale_cli.console import Environment
from outscale_cli.errors import ConfigError, ServerError

KEY = "sk-gaps-0123456789"


def make_env(*, json_errors: bool = False, colour: bool = False) -> Environment:
    return Environment(
        stdin=io.StringIO(),
        stdout=io.StringIO(),
        stderr=io.StringIO(),
        stdin_isatty=False,
        stdout_isatty=False,
        stderr_isatty=colour,
        colour=colour,
        json_errors=json_errors,
        secrets=[KEY],  # this environment's own list: the process-wide one is left alone
    )


def stderr_of(env: Environment) -> str:
    return env.stderr.getvalue()  # type: ignore[attr-defined]


def test_the_json_error_object_never_holds_the_key() -> None:
    env = make_env(json_errors=True)
    error = ServerError(f"401 Unauthorized: unknown key {KEY}", http_status=401)
    env.error(error.message, error.hint, error)
    obj = json.loads(stderr_of(env))
    assert obj["error"]["message"] == "401 Unauthorized: unknown key ********"
    assert obj["error"]["status"] == 401
    assert KEY not in stderr_of(env)


def test_the_hint_line_never_holds_the_key() -> None:
    env = make_env()
    error = ConfigError("the key command failed", hint=f"run it yourself: echo {KEY}")
    env.error(error.message, error.hint, error)
    assert stderr_of(env) == (
        "outscale-cli: error: the key command failed\nhint: run it yourself: echo ********\n"
    )


def test_the_error_line_never_holds_the_key() -> None:
    env = make_env()
    env.error(f"refused {KEY}")
    assert stderr_of(env) == "outscale-cli: error: refused ********\n"


def test_without_json_errors_the_error_object_is_not_printed() -> None:
    env = make_env()
    env.error("boom", None, ConfigError("boom"))
    assert stderr_of(env) == "outscale-cli: error: boom\n"


def test_json_errors_print_one_json_line_and_no_hint() -> None:
    env = make_env(json_errors=True)
    error = ConfigError("no server", hint="set OUTSCALE_SERVER_URL")
    env.error(error.message, error.hint, error)
    lines = stderr_of(env).splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["error"]["type"] == "config"


def test_warnings_and_debug_lines_are_scrubbed_too() -> None:
    env = make_env()
    env.debug = True
    env.warn(f"sending {KEY}")
    env.debug_line(f"GET with {KEY}")
    env.info(f"usage {KEY}")
    assert stderr_of(env) == (
        "outscale-cli: warning: sending ********\n"
        "outscale-cli: debug: GET with ********\n"
        "usage ********\n"
    )


def test_an_empty_secret_scrubs_nothing() -> None:
    env = make_env()
    env.secrets = ["", KEY]
    assert env.scrub(f"a {KEY} b") == "a ******** b"
