"""TLS and proxies against real servers on loopback: the stand-in behind TLS with
certificates made here (trustme), and a real forwarding proxy."""

from __future__ import annotations

import datetime
import os
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from outscale_cli.mock.server import MockConfig, MockServer

MODEL = "small-2409"


def cli(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "outscale-cli"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTSCALE_")}
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                 "http_proxy", "https_proxy", "all_proxy", "NO_PROXY", "no_proxy"):  # fmt: skip
        env.pop(name, None)
    env["OUTSCALE_CONFIG"] = os.devnull + ".absent.toml"
    env.update(env_extra or {})
    result = subprocess.run(
        [str(script), *args], capture_output=True, text=True, env=env,
        stdin=subprocess.DEVNULL, timeout=30,
    )  # fmt: skip
    assert "Traceback" not in result.stderr
    return result


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def tls_stand_in(ca: trustme.CA, cert: trustme.LeafCert, client_ca: bool = False) -> MockServer:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(context)
    if client_ca:
        context.verify_mode = ssl.CERT_REQUIRED
        ca.configure_trust(context)
    return MockServer(MockConfig(models=(MODEL,)), tls=context)


@pytest.fixture
def https_url(ca: trustme.CA) -> Iterator[str]:
    with tls_stand_in(ca, ca.issue_cert("localhost", "127.0.0.1")) as server:
        yield server.url


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def test_trusted_with_ca_bundle(https_url: str, ca_file: str) -> None:
    result = cli("ping", "--server-url", https_url, "-m", MODEL, "--ca-bundle", ca_file)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"ok {MODEL} at https://")


def test_trusted_with_ssl_cert_file(https_url: str, ca_file: str) -> None:
    result = cli(
        "ping", "--server-url", https_url, "-m", MODEL, env_extra={"SSL_CERT_FILE": ca_file}
    )
    assert result.returncode == 0, result.stderr


def test_refused_without_the_ca(https_url: str) -> None:
    result = cli("ping", "--server-url", https_url, "-m", MODEL)
    assert result.returncode == 4
    assert "not trusted" in result.stderr
    assert "--ca-bundle" in result.stderr  # the hint names the fix


def test_refused_on_a_name_mismatch(ca: trustme.CA, ca_file: str) -> None:
    with tls_stand_in(ca, ca.issue_cert("other.example")) as server:
        url = server.url.replace("http://", "https://")
        result = cli("ping", "--server-url", url, "-m", MODEL, "--ca-bundle", ca_file)
    assert result.returncode == 4
    assert "mismatch" in result.stderr.lower() or "not valid for" in result.stderr


def test_refused_when_expired(ca: trustme.CA, ca_file: str) -> None:
    past = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
    cert = ca.issue_cert("127.0.0.1", not_before=past, not_after=past + datetime.timedelta(days=1))
    with tls_stand_in(ca, cert) as server:
        url = server.url.replace("http://", "https://")
        result = cli("ping", "--server-url", url, "-m", MODEL, "--ca-bundle", ca_file)
    assert result.returncode == 4
    assert "expired" in result.stderr


def test_insecure_accepts_and_warns(https_url: str) -> None:
    result = cli("ping", "--server-url", https_url, "-m", MODEL, "--insecure")
    assert result.returncode == 0, result.stderr
    assert "warning: --insecure" in result.stderr


def test_client_certificate_required_and_supplied(ca: trustme.CA, ca_file: str, tmp_path) -> None:
    client = ca.issue_cert("client@example")
    pem = tmp_path / "client.pem"
    client.private_key_and_cert_chain_pem.write_to_path(str(pem))
    with tls_stand_in(ca, ca.issue_cert("127.0.0.1"), client_ca=True) as server:
        url = server.url.replace("http://", "https://")
        refused = cli("ping", "--server-url", url, "-m", MODEL, "--ca-bundle", ca_file)
        accepted = cli(
            "ping", "--server-url", url, "-m", MODEL, "--ca-bundle", ca_file,
            "--client-cert", str(pem),
        )  # fmt: skip
    assert refused.returncode in (4, 7), refused.stderr  # the handshake or first read fails
    assert accepted.returncode == 0, accepted.stderr


def test_missing_ca_bundle_file_is_a_usage_error(https_url: str) -> None:
    result = cli("ping", "--server-url", https_url, "-m", MODEL, "--ca-bundle", "/nonexistent.pem")
    assert result.returncode == 2
    assert "--ca-bundle" in result.stderr


class ForwardingProxy:
    """A plain HTTP forward proxy: absolute-URI requests relayed to loopback targets."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.requests: list[str] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(conn,), daemon=True).start()

    def _relay(self, conn: socket.socket) -> None:
        from urllib.parse import urlsplit

        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                part = conn.recv(65536)
                if not part:
                    return
                data += part
            head, _, body = data.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, version = lines[0].split(" ")
            self.requests.append(f"{method} {target}")
            length = next(
                (int(h.split(":")[1]) for h in lines[1:] if h.lower().startswith("content-length")),
                0,
            )
            while len(body) < length:
                body += conn.recv(65536)
            url = urlsplit(target)
            assert url.hostname in ("127.0.0.1", "localhost")  # loopback only
            headers = [h for h in lines[1:] if not h.lower().startswith(("proxy-", "connection"))]
            request = "\r\n".join([f"{method} {url.path} {version}", *headers, "Connection: close"])
            with socket.create_connection((url.hostname, url.port)) as upstream:
                upstream.sendall(request.encode("latin-1") + b"\r\n\r\n" + body)
                while chunk := upstream.recv(65536):
                    conn.sendall(chunk)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def proxy() -> Iterator[ForwardingProxy]:
    relay = ForwardingProxy()
    yield relay
    relay.close()


@pytest.fixture
def stand_in() -> Iterator[str]:
    with MockServer(MockConfig(models=(MODEL,))) as server:
        yield server.url


def test_proxy_flag_is_used(proxy: ForwardingProxy, stand_in: str) -> None:
    result = cli("chat", "--server-url", stand_in, "-m", MODEL, "--proxy", proxy.url, "Hello")
    assert result.returncode == 0, result.stderr
    assert "Stand-in answer" in result.stdout
    assert proxy.requests == [f"POST {stand_in}/v1/chat/completions"]


def test_http_proxy_variable_is_honoured(proxy: ForwardingProxy, stand_in: str) -> None:
    result = cli("ping", "--server-url", stand_in, "-m", MODEL, env_extra={"HTTP_PROXY": proxy.url})
    assert result.returncode == 0, result.stderr
    assert proxy.requests == [f"GET {stand_in}/v1/models"]


def test_no_proxy_bypasses_it(proxy: ForwardingProxy, stand_in: str) -> None:
    result = cli(
        "ping", "--server-url", stand_in, "-m", MODEL,
        env_extra={"HTTP_PROXY": proxy.url, "NO_PROXY": "127.0.0.1"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert proxy.requests == []
