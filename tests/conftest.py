"""Guards shared by every test: nothing in the test process talks to anything but loopback.

pytest-httpx intercepts requests inside the process, so the reserved names the CLI tests use
(`http://vm.test:5000`) never reach a resolver. Should a test forget its mock, this guard turns
the would-be DNS lookup or connection into a failure instead of real traffic. Processes the
tests start load tests/guard/sitecustomize.py, which does the same for them (and turns a lookup
of a name that is not loopback into the resolver's own "unknown host" error, in-process).
"""

from __future__ import annotations

import atexit
import ipaddress
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}

# No test writes the history (or anything else) into the real user's data folder: the
# platform's user data folder is a temporary one, for this process and those it starts.
os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="outscale-tests-data-")
atexit.register(shutil.rmtree, os.environ["XDG_DATA_HOME"], True)
for _name in ("OUTSCALE_HISTORY", "OUTSCALE_NO_HISTORY"):
    os.environ.pop(_name, None)

# The processes the tests start (the CLI, servers) get the same guard: tests/guard holds a
# sitecustomize module that every Python process loads from PYTHONPATH.
_GUARD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "guard")
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (_GUARD, os.environ.get("PYTHONPATH", "")) if p
)


def _is_loopback(host: Any) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return True  # AF_UNIX paths and the like
    host = host.strip("[]").split("%")[0]
    if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class OffLoopback(AssertionError):
    pass


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not _is_loopback(host):
            raise OffLoopback(f"a test tried to resolve {host!r}: only loopback is allowed")
        return real_getaddrinfo(host, *args, **kwargs)

    def check(address: Any) -> None:
        if isinstance(address, tuple) and not _is_loopback(address[0]):
            raise OffLoopback(f"a test tried to connect to {address!r}: only loopback is allowed")

    def connect(self: socket.socket, address: Any) -> None:
        check(address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check(address)
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    yield
