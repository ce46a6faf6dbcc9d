"""Loaded by every Python process the tests start (tests/conftest.py puts this folder first on
PYTHONPATH): the process may resolve and connect to loopback only.

A name that is not loopback fails to resolve here, in-process, exactly as an unknown host does
(socket.gaierror), so the tests of resolution failures make no real DNS lookup; a connection
to an address that is not loopback fails as an unreachable network would.
"""

import errno
import ipaddress
import socket

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def _is_loopback(host):
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


_real_getaddrinfo = socket.getaddrinfo
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _getaddrinfo(host, *args, **kwargs):
    if host is not None and not _is_loopback(host):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known (test guard)")
    return _real_getaddrinfo(host, *args, **kwargs)


def _refuse(address):
    if isinstance(address, tuple) and not _is_loopback(address[0]):
        raise OSError(errno.ENETUNREACH, "Network is unreachable (test guard: loopback only)")


def _connect(self, address):
    _refuse(address)
    return _real_connect(self, address)


def _connect_ex(self, address):
    _refuse(address)
    return _real_connect_ex(self, address)


socket.getaddrinfo = _getaddrinfo
socket.socket.connect = _connect
socket.socket.connect_ex = _connect_ex
