"""The pieces every end-to-end test uses: the real `outscale-cli` process, run with a clean
environment, and real HTTP servers on loopback.

    run_cli(...)        the installed console script, as a user's shell runs it
    serve(config)       the stand-in deployment (outscale_cli.mock) in a thread, recording
                        every request it receives; optionally behind a gateway path prefix
    serve_canned(...)   a server that answers every request with one fixed response
    silent_server()     a server that accepts connections and never says anything
    refused_url()       a port where nothing listens
"""

from __future__ import annotations

import atexit
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from outscale_cli.mock.answers import answer_tokens, chat_text
from outscale_cli.mock.server import MockConfig, MockServer, Record

PROG = "outscale-cli"
RUN_TIMEOUT = 30.0  # seconds: a hung process fails its test instead of hanging the suite
ROOT = Path(__file__).resolve().parents[2]
RECORDED = ROOT / "tests" / "fixtures" / "recorded"
ERROR_PREFIX = f"{PROG}: error: "
POLL = 0.02  # seconds: how often a test server's loop looks for shutdown


# -- the real process -----------------------------------------------------------------------
def cli_command() -> list[str]:
    """The installed console script next to this interpreter, else `python -m outscale_cli`."""
    script = Path(sys.executable).parent / PROG
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "outscale_cli"]


PROXY_VARIABLES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}
_config_home: str | None = None


def empty_config_home() -> str:
    """An empty XDG_CONFIG_HOME, so that no user's config file takes part in a test."""
    global _config_home
    if _config_home is None:
        _config_home = tempfile.mkdtemp(prefix="outscale-e2e-config-")
        atexit.register(shutil.rmtree, _config_home, True)
    return _config_home


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any OUTSCALE_* variable, proxy setting or user
    config file, plus `extra`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("OUTSCALE_") and k.lower() not in PROXY_VARIABLES
    }
    env["XDG_CONFIG_HOME"] = empty_config_home()
    env.update(extra or {})
    return env


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str
    elapsed: float  # seconds, for lower bounds only

    @property
    def error_line(self) -> str:
        lines = self.stderr.splitlines()
        return lines[0] if lines else ""


def run_cli(
    *args: str | bytes,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
    cwd: Path | None = None,
    timeout: float = RUN_TIMEOUT,
) -> Result:
    """Run `outscale-cli ARGS` to completion; stdin is /dev/null unless bytes are given.

    An argument given as bytes reaches the process as those bytes (as a shell passes them).
    """
    started = time.monotonic()
    kwargs: dict[str, Any] = (
        {"input": stdin} if stdin is not None else {"stdin": subprocess.DEVNULL}
    )
    proc = subprocess.run(
        [*cli_command(), *args],
        capture_output=True,
        env=clean_env(env),
        cwd=cwd,
        timeout=timeout,
        check=False,
        **kwargs,
    )
    return Result(
        code=proc.returncode,
        stdout=proc.stdout.decode("utf-8"),
        stderr=proc.stderr.decode("utf-8"),
        elapsed=time.monotonic() - started,
    )


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_cli(*args: str, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start `outscale-cli ARGS` in the background, stdout and stderr piped.

    If this test process was started with SIGINT ignored (a background job), the child would
    inherit that and never see Ctrl-C; give it the default disposition, as a shell would.
    """
    preexec = _default_sigint if signal.getsignal(signal.SIGINT) == signal.SIG_IGN else None
    return subprocess.Popen(
        [*cli_command(), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(env),
        preexec_fn=preexec,
    )


def read_until(fd: int, done: Any, timeout: float = 15.0) -> bytes:
    """Read from `fd` until done(data) is true; fail (never hang) after `timeout` seconds."""
    data = b""
    deadline = time.monotonic() + timeout
    while not done(data):
        left = deadline - time.monotonic()
        assert left > 0, f"nothing more after {timeout} s; got {data!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            piece = os.read(fd, 65536)
            assert piece, f"the output ended early; got {data!r}"
            data += piece
    return data


def assert_error(result: Result, code: int, *needles: str, stdout: str = "") -> str:
    """The documented failure shape: exit code, one error line, maybe one hint line."""
    assert result.code == code, result
    assert result.stdout == stdout, result
    assert "Traceback" not in result.stderr, result
    lines = result.stderr.splitlines()
    assert lines and lines[0].startswith(ERROR_PREFIX), result
    assert len(lines) <= 2, result
    if len(lines) == 2:
        assert lines[1].startswith("hint: "), result
    for needle in needles:
        assert needle in lines[0], (needle, result)
    return lines[0]


# -- what the stand-in answers ----------------------------------------------------------------
def expected_chat(prompt: str, model: str = "small-2409", length: int | None = None) -> str:
    """The stand-in's answer text to a chat whose last user message is `prompt`."""
    body = {"messages": [{"role": "user", "content": prompt}]}
    pieces, _ = answer_tokens(chat_text(body, model), prefix=None, length=length, max_tokens=None)
    return "".join(pieces)


def piped(text: str) -> str:
    """What `chat` prints when piped: the answer, with a final newline if it had none."""
    return text if text.endswith("\n") else text + "\n"


def url_env(url: str, model: str | None = "small-2409") -> dict[str, str]:
    """The two documented variables, pointing at `url`."""
    env = {"OUTSCALE_SERVER_URL": url}
    if model is not None:
        env["OUTSCALE_MODEL_NAME"] = model
    return env


# -- servers --------------------------------------------------------------------------------
Request = Record  # what a test server received: method, path, headers, body; .json()


@dataclass
class Served:
    url: str
    records: list[Request] = field(default_factory=list)
    config: MockConfig | None = None

    def env(self, model: str | None = "small-2409", **extra: str) -> dict[str, str]:
        env = {"OUTSCALE_SERVER_URL": self.url}
        if model is not None:
            env["OUTSCALE_MODEL_NAME"] = model
        env.update(extra)
        return env

    def posts(self) -> list[Request]:
        return [r for r in self.records if r.method == "POST"]


@contextmanager
def serve(config: MockConfig | None = None, *, prefix: str = "") -> Iterator[Served]:
    """The stand-in on 127.0.0.1:<free port>, recording requests; `url` includes `prefix`."""
    config = config or MockConfig()
    with MockServer(config, prefix=prefix) as server:
        yield Served(server.url, server.records, config)


@dataclass
class Canned:
    status: int = 200
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


class _CannedHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    canned: Canned
    records: list[Request]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def _answer(self) -> None:
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.records.append(Request(self.command, self.path, headers, raw))
        canned = self.canned
        self.send_response(canned.status)
        if canned.content_type is not None:
            self.send_header("Content-Type", canned.content_type)
        self.send_header("Content-Length", str(len(canned.body)))
        for name, value in canned.headers.items():
            self.send_header(name, value)
        self.end_headers()
        try:
            self.wfile.write(canned.body)
        except OSError:
            self.close_connection = True

    do_GET = _answer  # noqa: N815
    do_POST = _answer  # noqa: N815


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


@contextmanager
def serve_canned(canned: Canned) -> Iterator[Served]:
    """A server answering every request with `canned`, recording what it receives."""
    records: list[Request] = []
    handler = type("Canned", (_CannedHandler,), {"canned": canned, "records": records})
    httpd = _QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": POLL}, daemon=True
    )
    thread.start()
    try:
        yield Served(f"http://127.0.0.1:{httpd.server_address[1]}", records)
    finally:
        httpd.shutdown()
        httpd.server_close()


@dataclass
class Silent:
    url: str
    connected: threading.Event  # set once a client has connected


@contextmanager
def silent_server() -> Iterator[Silent]:
    """A server that accepts connections, reads what comes, and never answers a byte."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.settimeout(POLL)
    connected = threading.Event()
    stop = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:  # the poll timed out
                continue
            held.append(conn)
            connected.set()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield Silent(f"http://127.0.0.1:{sock.getsockname()[1]}", connected)
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in held:
            conn.close()
        sock.close()


@contextmanager
def refused_url() -> Iterator[str]:
    """A port held (so nobody else takes it) but not listening: connections are refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()
