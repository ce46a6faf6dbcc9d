"""Connection settings: where each value comes from, and what it means.

Precedence, highest first: command-line flags, OUTSCALE_* environment variables, then (one
more source, for the config-file profiles to come) a profile mapping, then defaults.
`load_settings` walks the sources in that order for each field and records which one won.

Plain Python on purpose: pydantic-settings would cost ~130 ms of imports on every call
(measured: `python -c "import pydantic_settings"`), more than the whole request to a
loopback server, and these few fields need no more than a parser each.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from outscale_cli.errors import ConfigError, UsageError

# field -> environment variable
ENV_NAMES = {
    "server_url": "OUTSCALE_SERVER_URL",
    "model": "OUTSCALE_MODEL_NAME",
    "timeout": "OUTSCALE_TIMEOUT",
    "connect_timeout": "OUTSCALE_CONNECT_TIMEOUT",
    "max_time": "OUTSCALE_MAX_TIME",
    "retries": "OUTSCALE_RETRIES",
    "api_key": "OUTSCALE_API_KEY",
    "ca_bundle": "SSL_CERT_FILE",
}
# field -> flag, for messages
FLAG_NAMES = {
    "server_url": "--server-url",
    "model": "--model",
    "timeout": "--timeout",
    "connect_timeout": "--connect-timeout",
    "max_time": "--max-time",
    "retries": "--retries",
    "ca_bundle": "--ca-bundle",
    "client_cert": "--client-cert",
    "client_key": "--client-key",
    "proxy": "--proxy",
}
DEFAULTS: dict[str, Any] = {"timeout": 120.0, "connect_timeout": 10.0}


class Secret:
    """A value that never shows itself: not in str(), repr(), f-strings or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Settings:
    server_url: str | None = None  # normalised: scheme://host[:port][/prefix], no /v1, no /
    model: str | None = None
    timeout: float = DEFAULTS["timeout"]
    connect_timeout: float = DEFAULTS["connect_timeout"]
    max_time: float | None = None  # the whole command, like curl's --max-time
    retries: int | None = None  # None: the command's own default
    api_key: Secret | None = None
    ca_bundle: str | None = None
    insecure: bool = False
    client_cert: str | None = None
    client_key: str | None = None
    proxy: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)  # extra headers (gateways)
    profile: str | None = None  # the config-file profile in use
    sources: Mapping[str, str] = field(default_factory=dict)  # field -> "flag", "env", ...

    @property
    def api_base(self) -> str:
        if not self.server_url:
            raise ConfigError(
                "no server URL: set OUTSCALE_SERVER_URL or pass --server-url",
                hint="e.g. export OUTSCALE_SERVER_URL=http://10.0.0.12:5000, "
                "or try the built-in stand-in with --mock",
            )
        return self.server_url + "/v1"


_HOST = re.compile(r"^(?:[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?|[0-9A-Fa-f:.]+)$")


def normalise_server_url(raw: str) -> str:
    """Accept what users paste: with or without `/`, `/v1`, a path prefix, even no scheme."""
    text = raw.strip()
    if not text:
        raise ValueError("it is empty")
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"the scheme must be http or https, not {parts.scheme!r}")
    if not parts.hostname:
        raise ValueError("it names no host")
    if not _HOST.match(parts.hostname):
        raise ValueError(f"{parts.hostname!r} is not a host name or address")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise ValueError("its port is not a number") from None
    path = parts.path.rstrip("/")
    while path.endswith("/v1"):
        path = path[: -len("/v1")].rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _parse_url(raw: Any) -> str:
    return normalise_server_url(str(raw))


def _parse_model(raw: Any) -> str | None:
    text = str(raw).strip()
    return text or None


def _parse_seconds(raw: Any) -> float:
    value = float(raw)
    if not math.isfinite(value) or value <= 0:
        raise ValueError("it must be a number of seconds greater than 0")
    return value


def _parse_file(raw: Any) -> str:
    path = os.path.expanduser(str(raw))
    if not os.path.isfile(path):
        raise ValueError("no such file")
    return path


def _parse_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("it must be true or false")


def _parse_proxy(raw: Any) -> str:
    text = str(raw).strip()
    if urlsplit(text).scheme not in ("http", "https") or not urlsplit(text).hostname:
        raise ValueError("it must be an http:// or https:// URL")
    return text


def _parse_retries(raw: Any) -> int:
    text = str(raw).strip()
    if not text.isdigit():
        raise ValueError("it must be a whole number, 0 or more")
    return int(text)


def _parse_key(raw: Any) -> Secret | None:
    if callable(raw):  # a profile's api_key_env / api_key_cmd, resolved only when it wins
        raw = raw()
    text = raw.reveal() if isinstance(raw, Secret) else str(raw)
    text = text.strip()
    return Secret(text) if text else None


def _parse_headers(raw: Any) -> dict[str, str]:
    if not isinstance(raw, Mapping):
        raise ValueError("it must be a table of header names to values")
    return {str(k): str(v) for k, v in raw.items()}


PARSERS: dict[str, Callable[[Any], Any]] = {
    "server_url": _parse_url,
    "model": _parse_model,
    "timeout": _parse_seconds,
    "connect_timeout": _parse_seconds,
    "max_time": _parse_seconds,
    "retries": _parse_retries,
    "api_key": _parse_key,
    "headers": _parse_headers,
    "ca_bundle": _parse_file,
    "insecure": _parse_bool,
    "client_cert": _parse_file,
    "client_key": _parse_file,
    "proxy": _parse_proxy,
}


def load_settings(
    flags: Mapping[str, Any],
    environ: Mapping[str, str],
    profile: Mapping[str, Any] | None = None,
    profile_name: str | None = None,
) -> Settings:
    """Resolve every field from flags > environment > profile > defaults."""
    sources: list[tuple[str, Mapping[str, Any]]] = [
        ("flag", {k: v for k, v in flags.items() if v is not None}),
        ("env", {f: environ[name] for f, name in ENV_NAMES.items() if environ.get(name)}),
    ]
    if profile is not None:
        sources.append(("profile", profile))
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for name, parse in PARSERS.items():
        for source, mapping in sources:
            if name not in mapping:
                continue
            try:
                values[name] = parse(mapping[name])
            except ValueError as exc:
                raise _bad_value(name, source, mapping[name], exc) from None
            origin[name] = source
            break
        else:
            if name in DEFAULTS:
                origin[name] = "default"
    return Settings(**values, profile=profile_name, sources=origin)


def _bad_value(name: str, source: str, raw: Any, exc: ValueError) -> Exception:
    reason = str(exc)
    if reason.startswith("could not convert") or reason.startswith("invalid literal"):
        reason = "it must be a number"
    shown = "(hidden)" if name == "api_key" else repr(str(raw))
    if source == "flag":
        return UsageError(f"invalid value {shown} for {FLAG_NAMES.get(name, name)}: {reason}")
    where = ENV_NAMES[name] if source == "env" else f"the profile's {name}"
    return ConfigError(f"invalid value {shown} in {where}: {reason}")
