"""One exception family; each error carries its exit status, a message and a hint.

    CliError                  exit 1 unless a subclass says otherwise
    ├── UsageError            2  bad flags, values or input
    ├── ConfigError           3  no server URL, no model, a bad setting
    ├── ConnectionFailed      4  refused, DNS, TLS, reset before any byte
    ├── TimedOut              5  connect or read timeout
    ├── ServerError           6  an error status, or an error object inside a stream
    ├── BadResponse           7  malformed answer, broken stream
    ├── ModelNotServed        8  ping: the server answers without the model
    ├── PartialFailure        9  batch: the run finished, some records hold errors
    ├── OutputFailed          10 stdout could not be written (closed, full, I/O error)
    └── Interrupted           130 Ctrl-C

Only client.py turns httpx's exceptions into these; commands raise them and app.py prints
them as `outscale-cli: error: ...` plus an optional `hint: ...` line.
"""

from __future__ import annotations

from typing import Any

from outscale_cli.status import ExitStatus


class CliError(Exception):
    status: ExitStatus = ExitStatus.INTERNAL
    kind = "internal"  # the `type` of a --json error object
    http_status: int | None = None
    request_id: str | None = None
    retries: int | None = None  # how many retries were made before giving up
    retry_after: float | None = None  # seconds the server asked to wait (Retry-After)
    unreachable = False  # the connection itself failed: the server could not be reached

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def as_json(self) -> dict[str, Any]:
        """The --json error object: the same fields for every failure, null where unknown."""
        return {
            "error": {
                "type": self.kind,
                "message": self.message,
                "status": self.http_status,
                "exit_code": int(self.status),
                "request_id": self.request_id,
                "retries": self.retries,
            }
        }


class UsageError(CliError):
    status = ExitStatus.USAGE
    kind = "usage"


class ConfigError(CliError):
    status = ExitStatus.CONFIG
    kind = "config"


class ConnectionFailed(CliError):
    status = ExitStatus.CONNECTION
    kind = "connection"


class TimedOut(CliError):
    status = ExitStatus.TIMEOUT
    kind = "timeout"


class BadResponse(CliError):
    status = ExitStatus.BAD_RESPONSE
    kind = "bad_response"


class ModelNotServed(CliError):
    status = ExitStatus.MODEL_NOT_SERVED
    kind = "model_not_served"


class Interrupted(CliError):
    status = ExitStatus.INTERRUPTED
    kind = "interrupted"


class Terminated(KeyboardInterrupt):
    """Raised by our SIGTERM handler, so a stream ends like on Ctrl-C, with exit 143."""


class Expired(KeyboardInterrupt):
    """Raised by the --max-time alarm, wherever the command is (even inside a blocking read)."""

    def __init__(self, max_time: float) -> None:
        super().__init__()
        self.max_time = max_time


def interruption(exc: KeyboardInterrupt) -> CliError:
    """The error for a signal that stopped the command: Ctrl-C, SIGTERM or --max-time."""
    if isinstance(exc, Expired):
        return TimedOut(
            f"--max-time {exc.max_time:g} s expired: the command took too long",
            hint="raise --max-time (OUTSCALE_MAX_TIME) if the answer is long",
        )
    error = Interrupted("terminated" if isinstance(exc, Terminated) else "interrupted")
    if isinstance(exc, Terminated):
        error.status = ExitStatus.TERMINATED
    return error


class PartialFailure(CliError):
    """A batch ran to its end, and some of its records hold errors."""

    status = ExitStatus.PARTIAL
    kind = "partial"


class OutputFailed(CliError):
    """The answer could not be written: stdout closed, full, or failing (not EPIPE, which is
    the reader's choice: OutputClosed)."""

    status = ExitStatus.OUTPUT_FAILED
    kind = "output"


class OutputClosed(CliError):
    """The reader of stdout went away (`... | head -1`): not a failure of ours."""

    status = ExitStatus.OK
    kind = "output_closed"


class ServerError(CliError):
    """The server said no: an HTTP error status, or an error object in a stream."""

    status = ExitStatus.HTTP_ERROR
    kind = "http_status"

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        hint: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.http_status = http_status
        self.request_id = request_id


_HINTS = {
    401: "check OUTSCALE_API_KEY: the server refused the credentials (or wants some)",
    403: "check OUTSCALE_API_KEY: this key may not use that model or route",
    404: "check the server URL and the model id (-m / OUTSCALE_MODEL_NAME)",
    405: "check the server URL: this route is not served there",
    413: "the prompt is too large for the server; send less input",
    422: "a request field was refused; check the option named above",
    429: "rate limited: wait a little, or raise --retries",
}


def hint_for_status(status: int) -> str | None:
    if status in _HINTS:
        return _HINTS[status]
    if 500 <= status < 600:
        return "the server failed; try again later or check the deployment's health"
    return None


def reason_phrase(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def server_error(status: int, body: bytes, request_id: str | None = None) -> ServerError:
    """Build the error for an HTTP error status from its body, whatever its shape."""
    detail = message_from_body(body)
    text = f"{status} {reason_phrase(status)}"
    if detail and detail.lower() not in (reason_phrase(status).lower(), text.lower()):
        text += f": {detail}"  # (a page that says only "503 Service Unavailable" adds nothing)
    found_id = request_id or _request_id_from_body(body)
    return ServerError(text, http_status=status, hint=hint_for_status(status), request_id=found_id)


def message_from_body(body: bytes | str) -> str | None:
    """The most specific human message in an error body (any of the API's shapes), or None."""
    if isinstance(body, bytes):
        text = body.decode("utf-8", errors="replace")
    else:
        text = body
    text = text.strip()
    if not text:
        return None
    import json  # here, not at the top: every command imports this module, few need json

    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # (a body nested too deeply for the decoder)
        if text.startswith("<"):  # a proxy's HTML page: its title, never its markup
            return _text_of_html(text) or None
        return _first_line(text)
    return message_from_object(data) or None


def _text_of_html(html: str) -> str:
    import re

    for tag in ("title", "h1"):
        found = re.search(rf"<{tag}[^>]*>(.*?)</{tag}>", html, re.IGNORECASE | re.DOTALL)
        if found and found.group(1).strip():
            return _first_line(re.sub(r"<[^>]+>", " ", found.group(1)))
    return _first_line(re.sub(r"<[^>]+>", " ", html))


def message_from_object(data: Any) -> str:
    """Dig the message out of a decoded error object; tolerate every shape seen in the wild."""
    if data is None:
        return ""
    if isinstance(data, str):
        stripped = data.strip()
        if stripped[:1] in ("{", "["):
            import json

            try:
                return message_from_object(json.loads(stripped)) or _first_line(stripped)
            except (ValueError, RecursionError):
                pass
        return _first_line(stripped)
    if isinstance(data, list):
        parts = [message_from_object(item) for item in data]
        return "; ".join(p for p in parts if p)
    if isinstance(data, dict):
        if "msg" in data:  # one item of a validation error list: {"loc", "msg", "type"}
            loc = data.get("loc")
            msg = message_from_object(data["msg"])
            if isinstance(loc, list) and loc:
                field = ".".join(str(p) for p in loc if p != "body")
                return f"{field}: {msg}" if field else msg
            return msg
        for key in ("error", "detail", "message"):
            if key in data and data[key] not in (None, "", [], {}):
                found = message_from_object(data[key])
                if found:
                    param = data.get("param")
                    if isinstance(param, str) and param and param not in found:
                        found += f" (field: {param})"
                    return found
        return ""
    return str(data)


def _request_id_from_body(body: bytes) -> str | None:
    import json

    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if isinstance(data, dict) and isinstance(data.get("request_id"), str):
        return str(data["request_id"])
    return None


def _first_line(text: str, limit: int = 300) -> str:
    for line in text.splitlines():
        line = line.strip()
        if line:
            return line if len(line) <= limit else line[: limit - 1] + "…"
    return ""
