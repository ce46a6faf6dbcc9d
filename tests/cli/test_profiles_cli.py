"""Profiles at the CLI level: the config file, precedence, its error messages, routing by model,
the `config` commands, and completion of profile and model names.

The network is faked by pytest-httpx (nothing leaves the process); the config files are written
in tmp_path and named by OUTSCALE_CONFIG or --config. Completion runs the installed console
script as a subprocess, as a shell does, with only loopback addresses in its config.
"""

from __future__ import annotations

import json
import os
import re
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from pytest_httpx import HTTPXMock

from tests.cli.conftest import completion, sent_json

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SMALL = "http://vm.test:5000"
CODESTRAL = "http://codestral.vm.test:5000"
OTHER = "http://other.vm.test:5000"
ENV_SERVER = "http://env.vm.test:5000"
FLAG_SERVER = "http://flag.vm.test:5000"

# the same deployments, by profile: default_profile first, then the tables, in this order
BASE = f"""\
default_profile = "small"

[profiles.small]
server_url = "{SMALL}"
model = "small-2409"

[profiles.codestral]
server_url = "{CODESTRAL}"
model = "codestral-2405"
"""

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).parent / "outscale-cli"
RUN_TIMEOUT = 30


def chat_url(server: str) -> str:
    return f"{server}/v1/chat/completions"


def fim_url(server: str) -> str:
    return f"{server}/v1/fim/completions"


@pytest.fixture(autouse=True)
def no_server_from_env(clean_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unlike the other CLI tests, the environment names no server nor model: profiles do."""
    monkeypatch.delenv("OUTSCALE_SERVER_URL", raising=False)
    monkeypatch.delenv("OUTSCALE_MODEL_NAME", raising=False)


@pytest.fixture
def write_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Write a config file (mode 0600 unless told) and point OUTSCALE_CONFIG at it."""

    def write(text: str, mode: int = 0o600, name: str = "config.toml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        path.chmod(mode)
        monkeypatch.setenv("OUTSCALE_CONFIG", str(path))
        return path

    return write


def one_request(httpx_mock: HTTPXMock) -> Any:
    requests = httpx_mock.get_requests()
    assert len(requests) == 1, [str(r.url) for r in requests]
    return requests[0]


def small_with(line: str, base: str = BASE) -> str:
    """The config with `line` added to the small profile."""
    return base.replace('model = "small-2409"', f'model = "small-2409"\n{line}')


def codestral_with(line: str) -> str:
    return BASE.replace('model = "codestral-2405"', f'model = "codestral-2405"\n{line}')


def error_line(stderr: str) -> str:
    lines = stderr.splitlines()
    return lines[0] if lines else ""


# -- 1. precedence, pair by pair ------------------------------------------------------------------
def test_server_url_flag_beats_env(cli, httpx_mock: HTTPXMock, write_config, monkeypatch) -> None:
    write_config(BASE)
    monkeypatch.setenv("OUTSCALE_SERVER_URL", ENV_SERVER)
    httpx_mock.add_response(url=chat_url(FLAG_SERVER), json=completion())
    result = cli("chat", "--no-stream", "--server-url", FLAG_SERVER, "q")
    assert result.exit_code == 0, result.stderr
    assert str(one_request(httpx_mock).url) == chat_url(FLAG_SERVER)


def test_server_url_env_beats_profile(
    cli, httpx_mock: HTTPXMock, write_config, monkeypatch
) -> None:
    write_config(BASE)
    monkeypatch.setenv("OUTSCALE_SERVER_URL", ENV_SERVER)
    httpx_mock.add_response(url=chat_url(ENV_SERVER), json=completion())
    result = cli("chat", "--no-stream", "q")
    assert result.exit_code == 0, result.stderr
    request = one_request(httpx_mock)
    assert str(request.url) == chat_url(ENV_SERVER)
    assert sent_json(request)["model"] == "small-2409"  # the rest still comes from the profile


def test_server_url_profile_beats_default(cli, httpx_mock: HTTPXMock, write_config) -> None:
    # The default is no server at all (exit 3 "no server URL"): the profile's is used instead.
    write_config(BASE)
    httpx_mock.add_response(url=chat_url(SMALL), json=completion())
    result = cli("chat", "--no-stream", "q")
    assert result.exit_code == 0, result.stderr
    assert str(one_request(httpx_mock).url) == chat_url(SMALL)


def test_model_flag_beats_env(cli, httpx_mock: HTTPXMock, write_config, monkeypatch) -> None:
    write_config(BASE)
    monkeypatch.setenv("OUTSCALE_MODEL_NAME", "env-model")
    httpx_mock.add_response(url=chat_url(SMALL), json=completion())
    result = cli("chat", "--no-stream", "-m", "flag-model", "q")
    assert result.exit_code == 0, result.stderr
    assert sent_json(one_request(httpx_mock))["model"] == "flag-model"


def test_model_env_beats_profile(cli, httpx_mock: HTTPXMock, write_config, monkeypatch) -> None:
    write_config(BASE)
    monkeypatch.setenv("OUTSCALE_MODEL_NAME", "env-model")
    httpx_mock.add_response(url=chat_url(SMALL), json=completion())
    result = cli("chat", "--no-stream", "q")
    assert result.exit_code == 0, result.stderr
    assert sent_json(one_request(httpx_mock))["model"] == "env-model"


def test_model_profile_beats_default(cli, httpx_mock: HTTPXMock, write_config) -> None:
    # The default is to ask the server which model it serves: with a profile model, no
    # GET /v1/models is made (pytest-httpx fails the test on any unexpected request).
    write_config(BASE)
    httpx_mock.add_response(url=chat_url(SMALL), json=completion())
    result = cli("chat", "--no-stream", "q")
    assert result.exit_code == 0, result.stderr
    assert sent_json(one_request(httpx_mock))["model"] == "small-2409"


def read_timeout(request: Any) -> float:
    return float(request.extensions["timeout"]["read"])


def test_timeout_flag_beats_env(cli, httpx_mock: HTTPXMock, write_config, monkeypatch) -> None:
    write_config(small_with("timeout = 9"))
    monkeypatch.setenv("OUTSCALE_TIMEOUT", "8")
    httpx_mock.add_response(url=chat_url(SMALL), json=completion())
    result = cli("chat", "--no-stream", "--timeout", "7", "q")
    assert result.exit_code == 0, result.stderr
    assert read_timeout(one_request(httpx_mock)) == 7.0


def test_timeout_env_beats_profile(cli, httpx_mock: HTTPXMock, write_config, monkeypatch) -> None:
    write_config(small_with("timeout = 9"))
    monkeypatch.setenv("OUTSCALE_TIMEOUT", "8")
    httpx_mock.add_response(url=chat_url(SMALL), json=completion())
    result = cli("chat", "--no-stream", "q")
    assert result.exit_code == 0, result.stderr
    assert read_timeout(one_request(httpx_mock)) == 8.0


def test_timeout_profile_beats_default(cli, httpx_mock: HTTPXMock, write_config) -> None:
    write_config(small_with("timeout = 9"))
    httpx_mock.add_response(url=chat_url(SMALL), json=completion())
    result = cli("chat", "--no-stream", "q")
    assert result.exit_code == 0, result.stderr
    assert read_timeout(one_request(httpx_mock)) == 9.0


def test_timeout_default_without_profile_value(cli, httpx_mock: HTTPXMock, write_config) -> None:
    write_config(BASE)
    httpx_mock.add_response(url=chat_url(SMALL), json=completion())
    assert cli("chat", "--no-stream", "q").exit_code == 0
    assert read_timeout(one_request(httpx_mock)) == 120.0


def with_retries(n: int) -> str:
    return small_with(f"retries = {n}")


def count_503s(cli, httpx_mock: HTTPXMock, *args: str) -> int:
    httpx_mock.add_response(url=chat_url(SMALL), status_code=503, is_reusable=True)
    result = cli("chat", "--no-stream", *args, "q")
    assert result.exit_code == 6, result.stderr
    return len(httpx_mock.get_requests())


def test_retries_flag_beats_env(cli, httpx_mock: HTTPXMock, write_config, monkeypatch) -> None:
    write_config(with_retries(0))
    monkeypatch.setenv("OUTSCALE_RETRIES", "1")
    assert count_503s(cli, httpx_mock, "--retries", "3") == 4


def test_retries_env_beats_profile(cli, httpx_mock: HTTPXMock, write_config, monkeypatch) -> None:
    write_config(with_retries(0))
    monkeypatch.setenv("OUTSCALE_RETRIES", "1")
    assert count_503s(cli, httpx_mock) == 2


def test_retries_profile_beats_default(cli, httpx_mock: HTTPXMock, write_config) -> None:
    write_config(with_retries(0))  # the default for chat is 2 retries, 3 requests
    assert count_503s(cli, httpx_mock) == 1


def test_api_key_env_beats_profile_and_the_command_is_not_run(
    cli, httpx_mock: HTTPXMock, write_config, monkeypatch, tmp_path
) -> None:
    marker = tmp_path / "key-command-ran"
    write_config(small_with(f'api_key_cmd = "touch {marker}"'))
    monkeypatch.setenv("OUTSCALE_API_KEY", "sk-from-env")
    httpx_mock.add_response(url=chat_url(SMALL), json=completion())
    result = cli("chat", "--no-stream", "q")
    assert result.exit_code == 0, result.stderr
    assert one_request(httpx_mock).headers["authorization"] == "Bearer sk-from-env"
    assert not marker.exists()


def test_profile_headers_are_sent(cli, httpx_mock: HTTPXMock, write_config) -> None:
    write_config(small_with('headers = { "X-Team" = "data" }'))
    httpx_mock.add_response(url=chat_url(SMALL), json=completion())
    assert cli("chat", "--no-stream", "q").exit_code == 0
    assert one_request(httpx_mock).headers["x-team"] == "data"


def test_profile_flag_beats_profile_env(
    cli, httpx_mock: HTTPXMock, write_config, monkeypatch
) -> None:
    write_config(BASE)
    monkeypatch.setenv("OUTSCALE_PROFILE", "small")
    httpx_mock.add_response(url=chat_url(CODESTRAL), json=completion())
    result = cli("chat", "--no-stream", "-p", "codestral", "q")
    assert result.exit_code == 0, result.stderr
    request = one_request(httpx_mock)
    assert str(request.url) == chat_url(CODESTRAL)
    assert sent_json(request)["model"] == "codestral-2405"


def test_long_profile_flag(cli, httpx_mock: HTTPXMock, write_config) -> None:
    write_config(BASE)
    httpx_mock.add_response(url=chat_url(CODESTRAL), json=completion())
    assert cli("chat", "--no-stream", "--profile", "codestral", "q").exit_code == 0
    assert str(one_request(httpx_mock).url) == chat_url(CODESTRAL)


def test_profile_env_beats_default_profile(
    cli, httpx_mock: HTTPXMock, write_config, monkeypatch
) -> None:
    write_config(BASE)
    monkeypatch.setenv("OUTSCALE_PROFILE", "codestral")
    httpx_mock.add_response(url=chat_url(CODESTRAL), json=completion())
    result = cli("chat", "--no-stream", "q")
    assert result.exit_code == 0, result.stderr
    assert str(one_request(httpx_mock).url) == chat_url(CODESTRAL)


def test_default_profile_beats_no_profile(cli, httpx_mock: HTTPXMock, write_config) -> None:
    write_config(BASE)
    httpx_mock.add_response(url=chat_url(SMALL), json=completion())
    assert cli("chat", "--no-stream", "q").exit_code == 0
    assert str(one_request(httpx_mock).url) == chat_url(SMALL)


def test_without_default_profile_the_environment_alone_decides(
    cli, httpx_mock: HTTPXMock, write_config, monkeypatch
) -> None:
    write_config(BASE.replace('default_profile = "small"\n', ""))
    monkeypatch.setenv("OUTSCALE_SERVER_URL", ENV_SERVER)
    httpx_mock.add_response(url=chat_url(ENV_SERVER), json=completion())
    result = cli("chat", "--no-stream", "-m", "env-only", "q")
    assert result.exit_code == 0, result.stderr
    request = one_request(httpx_mock)
    assert str(request.url) == chat_url(ENV_SERVER)
    assert sent_json(request)["model"] == "env-only"


def test_no_config_file_behaves_as_before(
    cli, httpx_mock: HTTPXMock, monkeypatch, tmp_path
) -> None:
    # No OUTSCALE_CONFIG: the platform's user config dir, here an empty XDG_CONFIG_HOME.
    monkeypatch.delenv("OUTSCALE_CONFIG")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("OUTSCALE_SERVER_URL", ENV_SERVER)
    monkeypatch.setenv("OUTSCALE_MODEL_NAME", "small-2409")
    httpx_mock.add_response(url=chat_url(ENV_SERVER), json=completion())
    result = cli("chat", "--no-stream", "q")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    request = one_request(httpx_mock)
    assert str(request.url) == chat_url(ENV_SERVER)
    assert sent_json(request)["model"] == "small-2409"
    assert not (tmp_path / "xdg").exists()  # reading never creates the file


def test_no_config_file_and_no_server_is_the_old_error(cli, httpx_mock: HTTPXMock) -> None:
    result = cli("chat", "q")
    assert result.exit_code == 3
    assert error_line(result.stderr).startswith("outscale-cli: error: no server URL")
    assert httpx_mock.get_requests() == []


# -- 2. every config error: exit 3, the file, the line, the key, what was expected ----------------
PROFILE_HEAD = f'[profiles.small]\nserver_url = "{SMALL}"\n'

BAD_FILES = [
    # (id, text, line, key, expected fragment)
    ("unknown-top-key", f'colour = "blue"\n{PROFILE_HEAD}', 1, "colour", "default_profile"),
    ("typo-server-url", f'{PROFILE_HEAD}server-url = "{SMALL}"\n', 3, "server-url", "server_url"),
    ("typo-model", f'{PROFILE_HEAD}modle = "small-2409"\n', 3, "modle", "model"),
    ("timeout-string", f'{PROFILE_HEAD}timeout = "fast"\n', 3, "timeout", "number of seconds"),
    ("timeout-zero", f"{PROFILE_HEAD}timeout = 0\n", 3, "timeout", "greater than 0"),
    ("retries-negative", f"{PROFILE_HEAD}retries = -1\n", 3, "retries", "0 or more"),
    ("retries-string", f'{PROFILE_HEAD}retries = "3"\n', 3, "retries", "whole number"),
    ("retries-float", f"{PROFILE_HEAD}retries = 2.5\n", 3, "retries", "whole number"),
    ("headers-string", f'{PROFILE_HEAD}headers = "X-Team: data"\n', 3, "headers", "table"),
    (
        "header-value-number",
        f'{PROFILE_HEAD}headers = {{ "X-Team" = 1 }}\n',
        3,
        "headers",
        "string",
    ),
    ("server-url-number", "[profiles.small]\nserver_url = 42\n", 2, "server_url", "URL"),
    (
        "server-url-ftp",
        '[profiles.small]\nserver_url = "ftp://vm.test"\n',
        2,
        "server_url",
        "http",
    ),
    ("server-url-no-host", '[profiles.small]\nserver_url = "http://"\n', 2, "server_url", "host"),
    (
        "server-url-bad-port",
        '[profiles.small]\nserver_url = "http://h:port"\n',
        2,
        "server_url",
        "port",
    ),
    (
        "server-url-not-a-url",
        '[profiles.small]\nserver_url = "not a url"\n',
        2,
        "server_url",
        "URL",
    ),
    ("model-number", f"{PROFILE_HEAD}model = 2409\n", 3, "model", "string"),
    ("profile-not-a-table", 'profiles = "small"\n', 1, "profiles", "table"),
    ("default-missing", f'default_profile = "big"\n{PROFILE_HEAD}', 1, "default_profile", "small"),
]


@pytest.mark.parametrize(
    ("text", "line", "key", "expected"),
    [case[1:] for case in BAD_FILES],
    ids=[case[0] for case in BAD_FILES],
)
def test_config_errors_name_file_line_key_and_expectation(
    cli, httpx_mock: HTTPXMock, write_config, text, line, key, expected
) -> None:
    path = write_config(text)
    result = cli("chat", "-p", "small", "q")
    assert result.exit_code == 3, (result.stdout, result.stderr)
    first = error_line(result.stderr)
    assert first.startswith(f"outscale-cli: error: {path}:{line}: "), first
    assert key in first
    assert expected in first
    assert httpx_mock.get_requests() == []


def test_default_profile_naming_a_missing_profile_lists_the_known(cli, write_config) -> None:
    path = write_config(f'default_profile = "big"\n{BASE.split(chr(10), 1)[1]}')
    result = cli("chat", "q")
    assert result.exit_code == 3
    first = error_line(result.stderr)
    assert first.startswith(f"outscale-cli: error: {path}:1: default_profile")
    assert "'big'" in first and "small, codestral" in first


def test_toml_syntax_error_names_the_file_and_line(
    cli, httpx_mock: HTTPXMock, write_config
) -> None:
    path = write_config(f'{PROFILE_HEAD}model = "small-2409\ntimeout = 60\n')
    result = cli("chat", "q")
    assert result.exit_code == 3
    first = error_line(result.stderr)
    assert first.startswith(f"outscale-cli: error: {path}")
    assert "line 3" in first
    assert "TOML" in first
    assert httpx_mock.get_requests() == []


def test_an_error_in_a_profile_not_used_still_stops(
    cli, httpx_mock: HTTPXMock, write_config
) -> None:
    # a typo is never silently ignored, even in a profile the command does not use
    path = write_config(BASE + 'modle = "codestral-2405"\n')
    result = cli("chat", "-p", "small", "q")
    assert result.exit_code == 3
    assert error_line(result.stderr).startswith(f"outscale-cli: error: {path}:10: ")
    assert "modle" in result.stderr
    assert httpx_mock.get_requests() == []


@pytest.mark.parametrize("how", ["flag", "env"])
def test_unknown_profile_lists_the_known_ones(
    cli, httpx_mock: HTTPXMock, write_config, monkeypatch, how
) -> None:
    write_config(BASE)
    if how == "env":
        monkeypatch.setenv("OUTSCALE_PROFILE", "nope")
        result = cli("chat", "q")
    else:
        result = cli("chat", "-p", "nope", "q")
    assert result.exit_code == 3
    first = error_line(result.stderr)
    assert "'nope'" in first
    assert "known: small, codestral" in first
    assert httpx_mock.get_requests() == []


def test_literal_api_key_in_a_group_readable_file_is_refused(
    cli, httpx_mock: HTTPXMock, write_config
) -> None:
    path = write_config(small_with('api_key = "sk-literal-123"'), mode=0o644)
    result = cli("chat", "q")
    assert result.exit_code == 3
    first = error_line(result.stderr)
    assert first.startswith(f"outscale-cli: error: {path}:6: ")
    assert "api_key" in first
    assert f"chmod 600 {path}" in result.stderr
    assert "sk-literal-123" not in result.stdout + result.stderr
    assert httpx_mock.get_requests() == []


def test_literal_api_key_in_an_owner_only_file_is_sent(
    cli, httpx_mock: HTTPXMock, write_config
) -> None:
    write_config(small_with('api_key = "sk-literal-123"'), mode=0o600)
    httpx_mock.add_response(url=chat_url(SMALL), json=completion())
    result = cli("chat", "--no-stream", "q")
    assert result.exit_code == 0, result.stderr
    assert one_request(httpx_mock).headers["authorization"] == "Bearer sk-literal-123"
    assert "sk-literal-123" not in result.stdout + result.stderr


def test_api_key_env_naming_an_unset_variable(
    cli, httpx_mock: HTTPXMock, write_config, monkeypatch
) -> None:
    monkeypatch.delenv("OUTSCALE_TEST_UNSET_KEY", raising=False)
    write_config(small_with('api_key_env = "OUTSCALE_TEST_UNSET_KEY"'))
    result = cli("chat", "q")
    assert result.exit_code == 3
    first = error_line(result.stderr)
    assert "small" in first and "OUTSCALE_TEST_UNSET_KEY" in first and "not set" in first
    assert httpx_mock.get_requests() == []


def test_api_key_env_naming_a_set_variable_is_sent(
    cli, httpx_mock: HTTPXMock, write_config, monkeypatch
) -> None:
    monkeypatch.setenv("MY_MISTRAL_KEY", "sk-from-var")
    write_config(small_with('api_key_env = "MY_MISTRAL_KEY"'))
    httpx_mock.add_response(url=chat_url(SMALL), json=completion())
    result = cli("chat", "--no-stream", "q")
    assert result.exit_code == 0, result.stderr
    assert one_request(httpx_mock).headers["authorization"] == "Bearer sk-from-var"


def test_api_key_cmd_output_is_the_key(cli, httpx_mock: HTTPXMock, write_config) -> None:
    write_config(small_with('api_key_cmd = "printf sk-from-cmd"'))
    httpx_mock.add_response(url=chat_url(SMALL), json=completion())
    result = cli("chat", "--no-stream", "q")
    assert result.exit_code == 0, result.stderr
    assert one_request(httpx_mock).headers["authorization"] == "Bearer sk-from-cmd"
    assert "sk-from-cmd" not in result.stdout + result.stderr


def test_api_key_cmd_runs_without_a_shell(
    cli, httpx_mock: HTTPXMock, write_config, tmp_path
) -> None:
    # With a shell, `;` would end the command and `touch` would run; without one, echo
    # prints its arguments literally, and that whole line is the key.
    marker = tmp_path / "shell-ran"
    write_config(small_with(f'api_key_cmd = "echo sk-a ; touch {marker}"'))
    httpx_mock.add_response(url=chat_url(SMALL), json=completion())
    result = cli("chat", "--no-stream", "q")
    assert result.exit_code == 0, result.stderr
    assert not marker.exists()
    assert one_request(httpx_mock).headers["authorization"] == f"Bearer sk-a ; touch {marker}"


@pytest.mark.parametrize(
    ("command", "expected"),
    [("false", "exited with status 1"), ("outscale-no-such-command-xyz", "not found")],
)
def test_api_key_cmd_failing_is_a_config_error(
    cli, httpx_mock: HTTPXMock, write_config, command, expected
) -> None:
    write_config(small_with(f'api_key_cmd = "{command}"'))
    result = cli("chat", "q")
    assert result.exit_code == 3
    first = error_line(result.stderr)
    assert "api_key_cmd" in first and expected in first and "small" in first
    assert httpx_mock.get_requests() == []


# -- 3. routing by -m -----------------------------------------------------------------------------
def test_model_declared_by_one_profile_selects_it(cli, httpx_mock: HTTPXMock, write_config) -> None:
    write_config(BASE)
    httpx_mock.add_response(url=fim_url(CODESTRAL), json=completion("    return a + b"))
    result = cli("fim", "--no-stream", "-m", "codestral-2405", "def add(a, b):")
    assert result.exit_code == 0, result.stderr
    request = one_request(httpx_mock)
    assert str(request.url) == fim_url(CODESTRAL)
    assert sent_json(request)["model"] == "codestral-2405"


TWO_CODESTRALS = (
    BASE
    + f"""
[profiles.codestral-staging]
server_url = "{OTHER}"
model = "codestral-2405"
"""
)


def test_model_declared_by_two_including_the_default_selects_the_default(
    cli, httpx_mock: HTTPXMock, write_config
) -> None:
    write_config(TWO_CODESTRALS.replace('"small"', '"codestral-staging"', 1))
    httpx_mock.add_response(url=fim_url(OTHER), json=completion("x"))
    result = cli("fim", "--no-stream", "-m", "codestral-2405", "def f():")
    assert result.exit_code == 0, result.stderr
    assert str(one_request(httpx_mock).url) == fim_url(OTHER)


def test_model_declared_by_two_not_the_default_names_the_candidates(
    cli, httpx_mock: HTTPXMock, write_config
) -> None:
    write_config(TWO_CODESTRALS)
    result = cli("fim", "-m", "codestral-2405", "def f():")
    assert result.exit_code == 3
    first = error_line(result.stderr)
    assert "codestral-2405" in first
    assert "codestral, codestral-staging" in first
    assert httpx_mock.get_requests() == []


def test_model_with_server_url_does_not_route(cli, httpx_mock: HTTPXMock, write_config) -> None:
    write_config(TWO_CODESTRALS)  # routing would be an error here
    httpx_mock.add_response(url=fim_url(FLAG_SERVER), json=completion("x"))
    result = cli("fim", "--no-stream", "-m", "codestral-2405", "--server-url", FLAG_SERVER, "f")
    assert result.exit_code == 0, result.stderr
    request = one_request(httpx_mock)
    assert str(request.url) == fim_url(FLAG_SERVER)
    assert sent_json(request)["model"] == "codestral-2405"


def test_model_with_profile_does_not_route(cli, httpx_mock: HTTPXMock, write_config) -> None:
    write_config(BASE)
    httpx_mock.add_response(url=fim_url(SMALL), json=completion("x"))
    result = cli("fim", "--no-stream", "-m", "codestral-2405", "-p", "small", "def f():")
    assert result.exit_code == 0, result.stderr
    request = one_request(httpx_mock)
    assert str(request.url) == fim_url(SMALL)
    assert sent_json(request)["model"] == "codestral-2405"


def test_model_declared_by_no_profile_uses_the_default(
    cli, httpx_mock: HTTPXMock, write_config
) -> None:
    write_config(BASE)
    httpx_mock.add_response(url=chat_url(SMALL), json=completion())
    assert cli("chat", "--no-stream", "-m", "mistral-large-2411", "q").exit_code == 0
    assert sent_json(one_request(httpx_mock))["model"] == "mistral-large-2411"


# -- 4. the config commands -----------------------------------------------------------------------
def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def load(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def test_config_add_creates_the_file_0600_and_the_first_is_default(cli, tmp_path) -> None:
    path = tmp_path / "new" / "config.toml"
    result = cli(
        "config", "add", "small", "--server-url", SMALL, "-m", "small-2409", "--config", str(path)
    )
    assert result.exit_code == 0, result.stderr
    assert mode_of(path) == 0o600
    data = load(path)
    assert data["default_profile"] == "small"
    assert data["profiles"]["small"] == {"server_url": SMALL, "model": "small-2409"}
    # a second profile without --default leaves the default alone
    result = cli("config", "add", "codestral", "--server-url", CODESTRAL, "--config", str(path))
    assert result.exit_code == 0, result.stderr
    assert load(path)["default_profile"] == "small"
    assert list(load(path)["profiles"]) == ["small", "codestral"]


def test_config_add_default_sets_it(cli, write_config) -> None:
    path = write_config(BASE)
    result = cli(
        "config", "add", "mini", "--server-url", OTHER, "-m", "ministral-8b-2410", "--default"
    )
    assert result.exit_code == 0, result.stderr
    data = load(path)
    assert data["default_profile"] == "mini"
    assert data["profiles"]["mini"] == {"server_url": OTHER, "model": "ministral-8b-2410"}


def test_config_add_every_option(cli, tmp_path, monkeypatch) -> None:
    path = tmp_path / "config.toml"
    monkeypatch.setenv("OUTSCALE_CONFIG", str(path))
    result = cli(
        "config", "add", "plateforme", "--server-url", "https://api.mistral.ai",
        "-m", "mistral-small-latest", "--api-key-env", "MISTRAL_API_KEY", "--timeout", "60",
        "--retries", "3", "-H", "X-Team: data",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert load(path)["profiles"]["plateforme"] == {
        "server_url": "https://api.mistral.ai",
        "model": "mistral-small-latest",
        "api_key_env": "MISTRAL_API_KEY",
        "timeout": 60.0,
        "retries": 3,
        "headers": {"X-Team": "data"},
    }


def test_config_add_of_a_bad_url_writes_nothing(cli, tmp_path, monkeypatch) -> None:
    path = tmp_path / "config.toml"
    monkeypatch.setenv("OUTSCALE_CONFIG", str(path))
    result = cli("config", "add", "x", "--server-url", "ftp://vm.test")
    assert result.exit_code == 2
    assert not path.exists()


USER_FILE = f"""\
# My deployments. Keep this comment.
default_profile = "small"

# The everyday model
[profiles.small]
server_url = "{SMALL}"   # VM 12
model    = "small-2409"
timeout = 60
headers = {{ "X-Team" = "data" }}

# Code completion, on VM 13
[profiles.codestral]
server_url = "{CODESTRAL}"
model = "codestral-2405"  # the 2405 release
"""


def test_config_add_keeps_the_users_file_byte_for_byte(cli, write_config) -> None:
    path = write_config(USER_FILE, mode=0o644)
    result = cli("config", "add", "mini", "--server-url", OTHER, "-m", "ministral-8b-2410")
    assert result.exit_code == 0, result.stderr
    after = path.read_text(encoding="utf-8")
    assert after.startswith(USER_FILE)
    assert load(path)["profiles"]["mini"] == {"server_url": OTHER, "model": "ministral-8b-2410"}
    assert load(path)["default_profile"] == "small"
    assert mode_of(path) == 0o600  # every write is owner-only


def test_config_add_updating_a_profile_changes_only_that_line(cli, write_config) -> None:
    path = write_config(USER_FILE)
    result = cli("config", "add", "small", "--server-url", SMALL, "-m", "small-2501")
    assert result.exit_code == 0, result.stderr
    assert "updated" in result.stderr
    after = path.read_text(encoding="utf-8")
    assert after == USER_FILE.replace('model    = "small-2409"', 'model    = "small-2501"')


def test_config_default_changes_only_that_line(cli, write_config) -> None:
    path = write_config(USER_FILE)
    result = cli("config", "default", "codestral")
    assert result.exit_code == 0, result.stderr
    after = path.read_text(encoding="utf-8")
    assert after == USER_FILE.replace('default_profile = "small"', 'default_profile = "codestral"')


def test_config_default_of_an_unknown_profile(cli, write_config) -> None:
    path = write_config(USER_FILE)
    result = cli("config", "default", "nope")
    assert result.exit_code == 3
    assert "small, codestral" in result.stderr
    assert path.read_text(encoding="utf-8") == USER_FILE


def test_config_remove_keeps_the_other_profiles_as_written(cli, write_config) -> None:
    path = write_config(USER_FILE)
    result = cli("config", "remove", "codestral")
    assert result.exit_code == 0, result.stderr
    after = path.read_text(encoding="utf-8")
    small_part = USER_FILE.split("# Code completion")[0]
    assert after.startswith(small_part.rstrip("\n"))
    assert "codestral" not in after
    assert load(path)["default_profile"] == "small"


def test_config_remove_keeps_the_comments_of_the_next_profile(cli, write_config) -> None:
    # The comment above [profiles.codestral] is codestral's: removing small must keep it.
    path = write_config(USER_FILE)
    result = cli("config", "remove", "small")
    assert result.exit_code == 0, result.stderr
    after = path.read_text(encoding="utf-8")
    comment = "# Code completion, on VM 13\n"
    codestral_part = comment + USER_FILE.split(comment)[1]
    assert after.startswith("# My deployments. Keep this comment.\n")
    assert codestral_part in after, after


def test_config_remove_of_the_default_unsets_it(cli, write_config) -> None:
    path = write_config(BASE)
    result = cli("config", "remove", "small")
    assert result.exit_code == 0, result.stderr
    assert "default" in result.stderr
    data = load(path)
    assert "default_profile" not in data
    assert list(data["profiles"]) == ["codestral"]
    listed = cli("config", "list")
    assert listed.exit_code == 0, listed.stderr
    assert "*" not in listed.stdout


def test_config_remove_of_an_unknown_profile(cli, write_config) -> None:
    path = write_config(BASE)
    result = cli("config", "remove", "nope")
    assert result.exit_code == 3
    assert "nope" in result.stderr
    assert path.read_text(encoding="utf-8") == BASE


def test_config_list_marks_the_default(cli, write_config) -> None:
    write_config(BASE)
    result = cli("config", "list")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("* small") and SMALL in lines[0] and "small-2409" in lines[0]
    assert lines[1].startswith("  codestral") and CODESTRAL in lines[1]
    assert "*" not in lines[1]


def test_config_path_follows_flag_env_and_xdg(cli, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("OUTSCALE_CONFIG", str(tmp_path / "env.toml"))
    assert cli("config", "path").stdout == f"{tmp_path / 'env.toml'}\n"
    flagged = cli("config", "path", "--config", str(tmp_path / "flag.toml"))
    assert flagged.stdout == f"{tmp_path / 'flag.toml'}\n"
    monkeypatch.delenv("OUTSCALE_CONFIG")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert cli("config", "path").stdout == f"{tmp_path / 'xdg' / 'outscale-cli' / 'config.toml'}\n"


def show_lines(stdout: str) -> dict[str, str]:
    """`config show` lines by their first word."""
    return {line.split()[0]: line for line in stdout.splitlines() if line.strip()}


def test_config_show_names_each_source(cli, write_config, monkeypatch) -> None:
    write_config(codestral_with("timeout = 60\nretries = 1"))
    monkeypatch.setenv("OUTSCALE_TIMEOUT", "30")
    result = cli("config", "show", "-p", "codestral")
    assert result.exit_code == 0, result.stderr
    lines = show_lines(result.stdout)
    assert lines["profile"].endswith("codestral (flag --profile)")
    server = rf"server_url\s+{re.escape(CODESTRAL)} \(profile codestral\)"
    assert re.fullmatch(server, lines["server_url"])
    assert re.fullmatch(r"model\s+codestral-2405 \(profile codestral\)", lines["model"])
    assert re.fullmatch(r"timeout\s+30(\.0)? \(env OUTSCALE_TIMEOUT\)", lines["timeout"])
    assert re.fullmatch(r"connect_timeout\s+10(\.0)? \(default\)", lines["connect_timeout"])
    assert re.fullmatch(r"retries\s+1 \(profile codestral\)", lines["retries"])


def test_config_show_profile_from_env_and_default(cli, write_config, monkeypatch) -> None:
    write_config(BASE)
    result = cli("config", "show")
    assert show_lines(result.stdout)["profile"].endswith("small (default_profile)")
    monkeypatch.setenv("OUTSCALE_PROFILE", "codestral")
    result = cli("config", "show")
    assert show_lines(result.stdout)["profile"].endswith("codestral (env OUTSCALE_PROFILE)")


def test_config_show_json(cli, write_config, monkeypatch) -> None:
    path = write_config(BASE)
    monkeypatch.setenv("OUTSCALE_MODEL_NAME", "env-model")
    result = cli("config", "show", "--json")
    assert result.exit_code == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["config_file"] == str(path)
    assert shown["profile"] == "small"
    settings = shown["settings"]
    assert settings["server_url"] == {"value": SMALL, "source": "profile small"}
    assert settings["model"] == {"value": "env-model", "source": "env OUTSCALE_MODEL_NAME"}
    assert settings["timeout"]["source"] == "default"


KEYS = [
    # (id, profile line, environment, secret, source fragment)
    ("env", "", {"OUTSCALE_API_KEY": "sk-secret-env"}, "sk-secret-env", "env OUTSCALE_API_KEY"),
    ("literal", 'api_key = "sk-secret-lit"', {}, "sk-secret-lit", "profile small"),
    (
        "api_key_env",
        'api_key_env = "MY_MISTRAL_KEY"',
        {"MY_MISTRAL_KEY": "sk-secret-var"},
        "sk-secret-var",
        "MY_MISTRAL_KEY",
    ),
]


@pytest.mark.parametrize(
    ("line", "environ", "secret", "source"),
    [k[1:] for k in KEYS],
    ids=[k[0] for k in KEYS],
)
def test_config_show_never_shows_a_key(
    cli, write_config, monkeypatch, line, environ, secret, source
) -> None:
    write_config(small_with(line))
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    result = cli("config", "show")
    assert result.exit_code == 0, result.stderr
    assert secret not in result.stdout + result.stderr
    key_line = show_lines(result.stdout)["api_key"]
    assert re.fullmatch(r"api_key\s+set \(.+\)", key_line), key_line
    assert source in key_line
    as_json = cli("config", "show", "--json")
    assert as_json.exit_code == 0, as_json.stderr
    assert secret not in as_json.stdout + as_json.stderr
    key = json.loads(as_json.stdout)["settings"]["api_key"]
    assert key["value"] == "set" and source in key["source"]


def test_config_show_without_a_key(cli, write_config) -> None:
    write_config(BASE)
    result = cli("config", "show")
    assert "set" not in show_lines(result.stdout).get("api_key", "")


def test_config_show_never_runs_api_key_cmd(
    cli, httpx_mock: HTTPXMock, write_config, tmp_path
) -> None:
    marker = tmp_path / "key-command-ran"
    write_config(small_with(f'api_key_cmd = "touch {marker}"'))
    for args in (["config", "show"], ["config", "show", "--json"]):
        result = cli(*args)
        assert result.exit_code == 0, result.stderr
        assert not marker.exists()
    assert "api_key_cmd" in show_lines(cli("config", "show").stdout)["api_key"]
    # the same command does run when a request needs the key (touch prints no key: exit 3)
    result = cli("chat", "q")
    assert result.exit_code == 3
    assert marker.exists()
    assert httpx_mock.get_requests() == []


def test_config_show_with_no_config_file(cli, monkeypatch, tmp_path) -> None:
    result = cli("config", "show", "--json")
    assert result.exit_code == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["profile"] is None
    assert shown["config_exists"] is False
    assert shown["settings"]["server_url"]["value"] is None


# -- 5. completion --------------------------------------------------------------------------------
@contextmanager
def listener() -> Iterator[tuple[socket.socket, str]]:
    """A loopback socket nobody should connect to: any connection attempt is counted."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    try:
        yield sock, f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


def connections(sock: socket.socket) -> int:
    count = 0
    while True:
        try:
            conn, _ = sock.accept()
        except BlockingIOError:
            return count
        conn.close()
        count += 1


def complete(config: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OUTSCALE_", "_OUTSCALE"))}
    env.update(variables, OUTSCALE_CONFIG=str(config))
    return subprocess.run(
        [str(SCRIPT)], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=RUN_TIMEOUT, check=False,
    )  # fmt: skip


def bash_complete(config: Path, words: str, **extra: str) -> subprocess.CompletedProcess[str]:
    cword = len(words.split()) if words.endswith(" ") else len(words.split()) - 1
    return complete(
        config, _OUTSCALE_CLI_COMPLETE="complete_bash", COMP_WORDS=words, COMP_CWORD=str(cword),
        **extra,
    )  # fmt: skip


@pytest.fixture
def loopback_config(tmp_path: Path) -> Iterator[tuple[Path, socket.socket, str]]:
    with listener() as (sock, url):
        path = tmp_path / "config.toml"
        path.write_text(BASE.replace(SMALL, url).replace(CODESTRAL, url))
        path.chmod(0o600)
        yield path, sock, url


def test_bash_completes_profile_names(loopback_config) -> None:
    path, sock, url = loopback_config
    done = bash_complete(path, "outscale-cli chat -p ", OUTSCALE_SERVER_URL=url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["small", "codestral"]
    assert done.stderr == ""
    assert connections(sock) == 0


def test_bash_completes_profile_names_by_prefix_and_long_flag(loopback_config) -> None:
    path, _, _ = loopback_config
    done = bash_complete(path, "outscale-cli ping --profile co")
    assert done.stdout.split() == ["codestral"]


def test_bash_completes_models_named_in_the_config(loopback_config) -> None:
    path, sock, url = loopback_config
    for command in ("chat", "fim", "ping"):
        done = bash_complete(path, f"outscale-cli {command} -m ", OUTSCALE_SERVER_URL=url)
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == ["small-2409", "codestral-2405"]
        assert done.stderr == ""
    assert connections(sock) == 0


def test_bash_completes_profile_names_of_config_commands(loopback_config) -> None:
    path, _, _ = loopback_config
    for words in (
        "outscale-cli config remove ",
        "outscale-cli config default ",
        "outscale-cli config show -p ",
    ):
        assert bash_complete(path, words).stdout.split() == ["small", "codestral"], words


def test_completion_reads_the_config_named_by_the_flag(loopback_config, tmp_path) -> None:
    path, _, _ = loopback_config
    other = tmp_path / "other.toml"
    other.write_text(f'[profiles.staging]\nserver_url = "{SMALL}"\n')
    done = bash_complete(path, f"outscale-cli chat --config {other} -p ")
    assert done.stdout.split() == ["staging"]


BROKEN_FILES = {
    "syntax": "[profiles.small\nserver_url = 1\n",
    "typo": '[profiles.small]\nserver-url = "http://127.0.0.1:1"\n',
    "literal-key-0644": '[profiles.small]\nserver_url = "http://127.0.0.1:1"\napi_key = "k"\n',
    "not-utf8": b"\xff\xfe[profiles]\n",
    "directory": None,
}


@pytest.mark.parametrize("broken", list(BROKEN_FILES))
@pytest.mark.parametrize("flag", ["-p", "-m"])
def test_completion_with_a_broken_config_prints_nothing(tmp_path, broken, flag) -> None:
    path = tmp_path / "config.toml"
    content = BROKEN_FILES[broken]
    if content is None:
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
        path.chmod(0o644)
    with listener() as (sock, url):
        done = bash_complete(path, f"outscale-cli chat {flag} ", OUTSCALE_SERVER_URL=url)
        assert done.returncode == 0
        # Typer ends its answer with a newline even when it has no candidate ("\n" is what a
        # valid config with no match prints too): the shell gets no word and no error.
        assert done.stdout.strip() == ""
        assert done.stderr == ""
        assert connections(sock) == 0


def test_zsh_and_fish_complete_profile_names(loopback_config) -> None:
    path, _, _ = loopback_config
    zsh = complete(
        path, _OUTSCALE_CLI_COMPLETE="complete_zsh", _TYPER_COMPLETE_ARGS="outscale-cli chat -p "
    )
    assert zsh.returncode == 0, zsh.stderr
    assert '"small"' in zsh.stdout and '"codestral"' in zsh.stdout
    fish = complete(
        path, _OUTSCALE_CLI_COMPLETE="complete_fish", _TYPER_COMPLETE_FISH_ACTION="get-args",
        _TYPER_COMPLETE_ARGS="outscale-cli chat -p ",
    )  # fmt: skip
    assert fish.returncode == 0, fish.stderr
    assert fish.stdout.split() == ["small", "codestral"]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_committed_completion_scripts_are_fresh(shell: str) -> None:
    committed = (ROOT / "completions" / f"outscale-cli.{shell}").read_text(encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OUTSCALE_", "_OUTSCALE"))}
    done = subprocess.run(
        [str(SCRIPT), "completion", shell], env=env, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == committed, (
        f"regenerate: outscale-cli completion {shell} > completions/outscale-cli.{shell}"
    )
