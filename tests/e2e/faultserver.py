"""A loopback server that fails on purpose, over raw sockets, one way per path prefix.

The client is pointed at http://127.0.0.1:PORT/<fault>, so a request to
/<fault>/v1/chat/completions selects the fault; the stand-in cannot misbehave at this level
(reset connections, stalls, bytes that are not UTF-8, cut chunked bodies).
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any


def chunk(delta: str | None, finish: str | None = None) -> bytes:
    payload: dict[str, Any] = {
        "id": "f-1",
        "object": "chat.completion.chunk",
        "model": "small-2409",
        "choices": [{"index": 0, "delta": {"content": delta}, "finish_reason": finish}],
    }
    if finish:
        payload["usage"] = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def chunked(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def head(status: str, content_type: str, extra: str = "", length: int | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status}", f"Content-Type: {content_type}", "Connection: close"]
    lines.append(
        f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    )
    if extra:
        lines.append(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class FaultServer:
    """Serve until stopped; `hits[fault]` counts the requests each fault received."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.hits: dict[str, int] = {}
        self.stop_event = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def url(self, fault: str) -> str:
        return f"http://127.0.0.1:{self.port}/{fault}"

    def __enter__(self) -> FaultServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_event.set()
        self.sock.close()

    def _serve(self) -> None:
        while not self.stop_event.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            request = _read_request(conn)
            fault = request.split(b" ", 2)[1].decode().strip("/").split("/")[0]
            with self._lock:
                self.hits[fault] = self.hits.get(fault, 0) + 1
                count = self.hits[fault]
            FAULTS.get(fault, _not_found)(conn, count, self.stop_event)
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        part = conn.recv(65536)
        if not part:
            return data
        data += part
    headers, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in headers.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    while len(body) < length:
        part = conn.recv(65536)
        if not part:
            break
        body += part
    return headers


Handler = Callable[[socket.socket, int, threading.Event], None]


def _not_found(conn: socket.socket, count: int, stop: threading.Event) -> None:
    conn.sendall(head("404 Not Found", "application/json", length=2) + b"{}")


def reset(conn: socket.socket, count: int, stop: threading.Event) -> None:
    """Close with a TCP reset before sending any byte."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def slow_headers(conn: socket.socket, count: int, stop: threading.Event) -> None:
    stop.wait(30)


def stalled_stream(conn: socket.socket, count: int, stop: threading.Event) -> None:
    conn.sendall(
        head("200 OK", "text/event-stream") + chunked(chunk("Half ")) + chunked(chunk("an"))
    )
    stop.wait(30)


TRICKLED = ("one ", "two ", "three ", "four ", "five ", "six ", "seven ", "eight ", "nine ", "ten")


def trickling_stream(conn: socket.socket, count: int, stop: threading.Event) -> None:
    conn.sendall(head("200 OK", "text/event-stream"))
    for word in TRICKLED:
        time.sleep(0.3)
        conn.sendall(chunked(chunk(word)))
    conn.sendall(chunked(chunk("", "stop")) + chunked(b"data: [DONE]\n\n") + chunked(b""))


def trickle_forever(conn: socket.socket, count: int, stop: threading.Event) -> None:
    """A first word at once, then one every 0.3 s, never finishing: only --max-time ends it."""
    conn.sendall(head("200 OK", "text/event-stream") + chunked(chunk("one ")))
    while not stop.wait(0.3):
        conn.sendall(chunked(chunk("more ")))


def endless_stream(conn: socket.socket, count: int, stop: threading.Event) -> None:
    conn.sendall(head("200 OK", "text/event-stream"))
    event = chunked(chunk("word "))
    while not stop.is_set():
        conn.sendall(event * 50)
        time.sleep(0.001)


def broken_stream(conn: socket.socket, count: int, stop: threading.Event) -> None:
    """Two events, then the connection drops in the middle of a chunk."""
    body = chunked(chunk("Half ")) + chunked(chunk("an"))
    conn.sendall(head("200 OK", "text/event-stream") + body + b'40\r\ndata: {"id')


def undecodable_event(conn: socket.socket, count: int, stop: threading.Event) -> None:
    body = chunked(chunk("Half ")) + chunked(b"data: {not json\n\n") + chunked(b"")
    conn.sendall(head("200 OK", "text/event-stream") + body)


def error_event(conn: socket.socket, count: int, stop: threading.Event) -> None:
    error = b'data: {"object": "error", "message": "model overloaded", "type": "x", "code": 3000}'
    body = chunked(chunk("Half ")) + chunked(error + b"\n\n") + chunked(b"")
    conn.sendall(head("200 OK", "text/event-stream") + body)


def invalid_utf8(conn: socket.socket, count: int, stop: threading.Event) -> None:
    bad = b'data: {"choices": [{"index": 0, "delta": {"content": "caf\xe9"}}]}\n\n'
    body = chunked(chunk("Half ")) + chunked(bad) + chunked(b"")
    conn.sendall(head("200 OK", "text/event-stream") + body)


def wrong_content_type(conn: socket.socket, count: int, stop: threading.Event) -> None:
    page = b"<html><body>Welcome to nginx!</body></html>"
    conn.sendall(head("200 OK", "text/html", length=len(page)) + page)


def empty_200(conn: socket.socket, count: int, stop: threading.Event) -> None:
    conn.sendall(head("200 OK", "application/json", length=0))


def retry_after_once(conn: socket.socket, count: int, stop: threading.Event) -> None:
    """503 with Retry-After: 1 the first time, then a whole answer."""
    if count == 1:
        conn.sendall(
            head("503 Service Unavailable", "application/json", "Retry-After: 1", 2) + b"{}"
        )
        return
    body = json.dumps(
        {
            "id": "f-2",
            "object": "chat.completion",
            "model": "small-2409",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "after"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
    ).encode()
    conn.sendall(head("200 OK", "application/json", length=len(body)) + body)


FAULTS: dict[str, Handler] = {
    "reset": reset,
    "slow-headers": slow_headers,
    "stalled-stream": stalled_stream,
    "trickling-stream": trickling_stream,
    "trickle-forever": trickle_forever,
    "endless-stream": endless_stream,
    "broken-stream": broken_stream,
    "undecodable-event": undecodable_event,
    "error-event": error_event,
    "invalid-utf8": invalid_utf8,
    "wrong-content-type": wrong_content_type,
    "empty-200": empty_200,
    "retry-after": retry_after_once,
}

# Error statuses, each answered with each error-body shape of mistral-api.md.
ERROR_BODIES: dict[str, tuple[bytes, str]] = {
    # shape: (body, the part of it the message must show)
    "documented": (
        b'{"object": "error", "message": "Invalid model: nope", "type": "invalid_model",'
        b' "param": null, "code": "1500"}',
        "Invalid model: nope",
    ),
    "detail-string": (b'{"detail": "Unauthorized"}', "Unauthorized"),
    "message-request-id": (b'{"message": "Unauthorized", "request_id": "req-42"}', "Unauthorized"),
    "empty": (b"", ""),
    "detail-list": (
        b'{"detail": [{"loc": ["body", "temperature"], "msg": "Input should be less than'
        b' or equal to 1.5", "type": "less_than_equal"}]}',
        "temperature: Input should be less than or equal to 1.5",
    ),
    "message-object": (
        b'{"object": "error", "message": {"detail": [{"loc": ["body", "top_p"], "msg": "bad",'
        b' "type": "x"}]}, "type": "invalid_request_error", "param": null, "code": null}',
        "top_p: bad",
    ),
    "message-stringified": (
        b'{"object": "error", "message": "{\\"detail\\": \\"quota exceeded\\"}", "type": "x",'
        b' "param": null, "code": 1234}',
        "quota exceeded",
    ),
}
ERROR_STATUSES = (400, 401, 403, 404, 422, 429, 500, 502, 503, 504)


def _status_fault(status: int, body: bytes) -> Handler:
    from http import HTTPStatus

    def answer(conn: socket.socket, count: int, stop: threading.Event) -> None:
        line = f"{status} {HTTPStatus(status).phrase}"
        conn.sendall(head(line, "application/json", length=len(body)) + body)

    return answer


for _status in ERROR_STATUSES:
    for _shape, (_body, _) in ERROR_BODIES.items():
        FAULTS[f"status-{_status}-{_shape}"] = _status_fault(_status, _body)
