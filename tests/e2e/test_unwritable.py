"""Standard streams that are closed or cannot be written, through the real process.

A stdout that cannot be written (closed, full) is exit 10 with one line naming the reason; a
reader that went away (EPIPE) is a quiet 0; a closed or failing stderr never changes the exit
code; a closed stdin is empty input.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator

import pytest

from outscale_cli.mock.server import MockConfig

from .helpers import RUN_TIMEOUT, Served, clean_env, cli_command, refused_url, serve

NO_SPACE = "No space left on device"


@pytest.fixture(scope="module")
def stand_in() -> Iterator[Served]:
    with serve(MockConfig()) as served:
        yield served


@pytest.fixture(scope="module")
def failing() -> Iterator[Served]:
    with serve(MockConfig(fail_status=503)) as served:
        yield served


def closing(*fds: int) -> Callable[[], None]:
    def close() -> None:
        for fd in fds:
            os.close(fd)

    return close


def run(
    *args: str,
    stdout: int | None = None,
    stderr: int | None = None,
    stdin: int | None = subprocess.DEVNULL,
    close: tuple[int, ...] = (),
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """The CLI with its streams as given: a file descriptor, or closed (`close`)."""
    return subprocess.run(
        [*cli_command(), *args],
        stdin=stdin,
        stdout=stdout if stdout is not None else subprocess.PIPE,
        stderr=stderr if stderr is not None else subprocess.PIPE,
        env=clean_env(env),
        preexec_fn=closing(*close) if close else None,
        timeout=RUN_TIMEOUT,
        check=False,
    )


@pytest.fixture
def full() -> Iterator[int]:
    fd = os.open("/dev/full", os.O_WRONLY)
    yield fd
    os.close(fd)


def one_error(stderr: bytes) -> str:
    """The one error line (or --json error object's message) on stderr."""
    lines = stderr.decode().splitlines()
    assert len(lines) == 1, lines
    line = lines[0]
    if line.startswith("{"):
        line = "outscale-cli: error: " + json.loads(line)["error"]["message"]
    assert line.startswith("outscale-cli: error: cannot write the answer: "), lines
    return line


CLOSED_STDOUT = [
    ["--version"],
    ["--help"],
    ["chat", "--help"],
    ["chat", "hi"],
    ["chat", "--no-stream", "hi"],
    ["chat", "--json", "hi"],
    ["fim", "def f():"],
    ["models"],
    ["ping"],
    ["config", "path"],
    ["completion", "bash"],
]


@pytest.mark.parametrize("args", CLOSED_STDOUT, ids=" ".join)
def test_a_closed_stdout_is_exit_10(stand_in: Served, args: list[str]) -> None:
    result = run(*args, stdout=subprocess.DEVNULL, close=(1,), env=stand_in.env())
    assert result.returncode == 10, result.stderr
    assert "standard output is closed" in one_error(result.stderr)


@pytest.mark.parametrize("args", CLOSED_STDOUT, ids=" ".join)
def test_a_full_stdout_is_exit_10_naming_the_reason(
    stand_in: Served, full: int, args: list[str]
) -> None:
    result = run(*args, stdout=full, env=stand_in.env())
    assert result.returncode == 10, result.stderr
    assert one_error(result.stderr).endswith(NO_SPACE)


def test_a_full_stdout_with_json_errors_is_one_json_object(stand_in: Served, full: int) -> None:
    result = run("chat", "--json", "hi", stdout=full, env=stand_in.env())
    assert result.returncode == 10
    error = json.loads(result.stderr)["error"]
    assert error["type"] == "output" and error["exit_code"] == 10
    assert NO_SPACE in error["message"]


@pytest.mark.parametrize("how", ["closed", "full"])
@pytest.mark.parametrize(
    ("server", "code"), [("refused", 4), ("failing", 6)], ids=["refused", "503"]
)
def test_a_closed_or_full_stderr_keeps_the_exit_code(
    failing: Served, full: int, how: str, server: str, code: int
) -> None:
    with refused_url() as refused:
        url = refused if server == "refused" else failing.url
        args = ("chat", "--server-url", url, "-m", "small-2409", "--retries", "0", "hi")
        if how == "closed":
            result = run(*args, stderr=subprocess.DEVNULL, close=(2,))
        else:
            result = run(*args, stderr=full)
    assert result.returncode == code
    assert result.stdout == b""


def test_a_full_stderr_with_an_answer_is_still_a_success(stand_in: Served, full: int) -> None:
    result = run("chat", "--usage", "hi", stderr=full, env=stand_in.env())
    assert result.returncode == 0
    assert b"Stand-in answer" in result.stdout


def test_a_closed_stdin_is_empty_input(stand_in: Served) -> None:
    empty = run("chat", "-f", "-", stdin=subprocess.DEVNULL, close=(0,), env=stand_in.env())
    assert empty.returncode == 2
    assert b"the prompt is empty" in empty.stderr
    answered = run("chat", "hi", stdin=subprocess.DEVNULL, close=(0,), env=stand_in.env())
    assert answered.returncode == 0, answered.stderr
    assert b"Stand-in answer" in answered.stdout


def test_a_reader_that_goes_away_is_a_quiet_success(stand_in: Served) -> None:
    process = subprocess.Popen(
        [*cli_command(), "chat", "--server-url", stand_in.url, "-m", "small-2409", "hi"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env({"OUTSCALE_NO_STDIN": "1"}),
    )
    with process:
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()  # the reader left before the answer came
        stderr = process.stderr.read()
        assert process.wait(timeout=RUN_TIMEOUT) == 0
    assert stderr == b""
