"""Connection settings on pydantic-settings: every field typed and validated, and one precedence.

    flags (init values) > environment (ENV_NAMES) > the chosen profile of the config file
    > the fields' defaults

`Settings.settings_customise_sources` states that order; pydantic-settings merges the sources
and validates the result. What is ours: the server URL's normalisation, the environment names
(OUTSCALE_MODEL_NAME, SSL_CERT_FILE, the proxy variables: not one prefix), the profile as a
source (config.py reads the TOML), and the translation of a validation error into one line
naming where the bad value came from: the flag (exit 2), the variable or `config.toml:LINE`
(exit 3). This module imports pydantic: only commands that run import it, never `--help`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Optional
from urllib.parse import urlsplit, urlunsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    model_validator,
)
from pydantic import ValidationError as PydanticValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from outscale_cli.errors import CliError, ConfigError, UsageError

if TYPE_CHECKING:
    from outscale_cli.config import ProfileRef

MAX_SECONDS = 1_000_000.0  # about 11 days: any longer is a typo, and overflows some timers
MAX_RETRIES = 100

# field -> the environment variables that set it, the first one set wins
ENV_NAMES: dict[str, tuple[str, ...]] = {
    "server_url": ("OUTSCALE_SERVER_URL",),
    "model": ("OUTSCALE_MODEL_NAME",),
    "timeout": ("OUTSCALE_TIMEOUT",),
    "connect_timeout": ("OUTSCALE_CONNECT_TIMEOUT",),
    "max_time": ("OUTSCALE_MAX_TIME",),
    "retries": ("OUTSCALE_RETRIES",),
    "api_key": ("OUTSCALE_API_KEY",),
    "ca_bundle": ("SSL_CERT_FILE",),
    # httpx applies these itself (by the URL's scheme, and NO_PROXY): see client.proxy_of
    "proxy": ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"),
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
    "insecure": "--insecure",
    "client_cert": "--client-cert",
    "client_key": "--client-key",
    "proxy": "--proxy",
}


# -- the value types, shared with the config file's profiles (config.py) --------------------
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
        raise ValueError("its port is not a number from 0 to 65535") from None
    path = parts.path.rstrip("/")
    while path.endswith("/v1"):
        path = path[: -len("/v1")].rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def redact_url(url: str | None) -> str | None:
    """The URL as it may be shown: a password in it (http://user:pw@host) becomes ********."""
    if not url or "@" not in url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, f"{user}:********@{host}", parts.path, parts.query, ""))


def url_password(url: str | None) -> str | None:
    return urlsplit(url).password if url and "@" in url else None


def _proxy_url(raw: str) -> str:
    text = raw.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("it must be an http:// or https:// URL")
    return text


def _existing_file(raw: str) -> str:
    path = os.path.expanduser(raw.strip())
    if not os.path.isfile(path):
        raise ValueError("no such file")
    return path


def _not_blank(raw: str) -> str:
    text = raw.strip()
    if not text:
        raise ValueError("it is empty")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise ValueError("it holds control characters")
    return text


def header_safe(text: str) -> bool:
    """Whether `text` can be sent as an HTTP header value: printable ASCII (and tabs)."""
    return all(0x20 <= ord(c) < 0x7F or c == "\t" for c in text)


def _blank_key_is_none(raw: Any) -> Any:
    if isinstance(raw, str) and not raw.strip():
        return None
    return raw


def _sendable_key(key: SecretStr) -> SecretStr:
    text = key.get_secret_value().strip()
    if not header_safe(text):
        raise ValueError(
            "the key holds control characters or non-ASCII, which cannot be sent in an HTTP "
            "header (check how it was copied)"
        )
    return SecretStr(text)


_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def _headers(raw: dict[str, str]) -> dict[str, str]:
    for name, value in raw.items():
        if not _HEADER_NAME.match(name):
            raise ValueError(f"{name!r} is not a header name")
        if not header_safe(value):
            raise ValueError(f"the value of {name} holds control characters or non-ASCII")
    return dict(raw)


ServerUrl = Annotated[str, AfterValidator(normalise_server_url)]
ModelId = Annotated[str, AfterValidator(_not_blank)]
Seconds = Annotated[float, Field(gt=0, le=MAX_SECONDS, allow_inf_nan=False)]
Retries = Annotated[int, Field(ge=0, le=MAX_RETRIES)]
ExistingFile = Annotated[str, AfterValidator(_existing_file)]
ProxyUrl = Annotated[str, AfterValidator(_proxy_url)]
ApiKey = Annotated[SecretStr, AfterValidator(_sendable_key)]
Headers = Annotated[dict[str, str], AfterValidator(_headers)]


def _profile_name(name: str) -> str:
    if not name or any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        raise ValueError("a profile name is not empty and holds no spaces or control characters")
    return name


def _variable_name(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError(f"{name!r} is not an environment variable name")
    return name


def _command(command: str) -> str:
    import shlex

    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ValueError(f"it cannot be parsed: {exc}") from None
    if not argv:
        raise ValueError("it is empty")
    return command


ProfileName = Annotated[str, AfterValidator(_profile_name)]
VariableName = Annotated[str, AfterValidator(_variable_name)]
Command = Annotated[str, AfterValidator(_command)]


class Profile(BaseModel):
    """One [profiles.NAME] table of the config file (config.py reads it; strict: TOML has
    real types, so `timeout = "60"` or `timeout = true` is a mistake, not a conversion)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)

    server_url: Optional[ServerUrl] = None  # noqa: UP045
    model: Optional[ModelId] = None  # noqa: UP045
    api_key_env: Optional[VariableName] = None  # noqa: UP045
    api_key_cmd: Optional[Command] = None  # noqa: UP045
    api_key: Optional[ApiKey] = None  # noqa: UP045
    timeout: Optional[Seconds] = None  # noqa: UP045
    connect_timeout: Optional[Seconds] = None  # noqa: UP045
    max_time: Optional[Seconds] = None  # noqa: UP045
    retries: Optional[Retries] = None  # noqa: UP045
    ca_bundle: Optional[ExistingFile] = None  # noqa: UP045
    insecure: Optional[bool] = None  # noqa: UP045
    client_cert: Optional[ExistingFile] = None  # noqa: UP045
    client_key: Optional[ExistingFile] = None  # noqa: UP045
    proxy: Optional[ProxyUrl] = None  # noqa: UP045
    headers: Optional[Headers] = None  # noqa: UP045

    @model_validator(mode="after")
    def one_key(self) -> Profile:
        if sum(getattr(self, k) is not None for k in ("api_key", "api_key_env", "api_key_cmd")) > 1:
            raise ValueError("give one of api_key, api_key_env, api_key_cmd, not several")
        return self


class ConfigFile(BaseModel):
    """The whole config file."""

    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)

    default_profile: Optional[str] = None  # noqa: UP045
    history: Optional[bool] = None  # noqa: UP045 - false: exchanges are not recorded
    profiles: dict[ProfileName, Profile] = Field(default_factory=dict)


# What each setting takes, in words: the end of every message about a bad value.
EXPECTED = {
    "server_url": 'a URL string such as "http://10.0.0.12:5000"',
    "model": 'a model id string such as "small-2409"',
    "timeout": f"a number of seconds greater than 0, at most {MAX_SECONDS:,.0f}",
    "connect_timeout": f"a number of seconds greater than 0, at most {MAX_SECONDS:,.0f}",
    "max_time": f"a number of seconds greater than 0, at most {MAX_SECONDS:,.0f}",
    "retries": f"a whole number, 0 or more (at most {MAX_RETRIES})",
    "api_key": "a key of printable ASCII characters",
    "api_key_env": "the name of an environment variable, as a string",
    "api_key_cmd": "a command line, as a string",
    "ca_bundle": "the path of a PEM file of CA certificates",
    "insecure": "true or false",
    "client_cert": "the path of a PEM client certificate",
    "client_key": "the path of a PEM private key",
    "proxy": "an http:// or https:// proxy URL",
    "headers": "a table of header names to string values",
}


class Settings(BaseSettings):
    """The effective settings of one command. `sources` tells where each value came from
    ("flag", "env", "profile", "default"); `profile` names the config-file profile in use."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", hide_input_in_errors=True)

    server_url: Optional[ServerUrl] = None  # noqa: UP045 - normalised: scheme://host[:port][/prefix]
    model: Optional[ModelId] = None  # noqa: UP045
    timeout: Seconds = 120.0  # the longest silence from the server
    connect_timeout: Seconds = 10.0
    max_time: Optional[Seconds] = None  # noqa: UP045 - the whole command, like curl's
    retries: Optional[Retries] = None  # noqa: UP045 - None: the command's own default
    api_key: Annotated[Optional[ApiKey], BeforeValidator(_blank_key_is_none)] = None  # noqa: UP045
    ca_bundle: Optional[ExistingFile] = None  # noqa: UP045
    insecure: bool = False
    client_cert: Optional[ExistingFile] = None  # noqa: UP045
    client_key: Optional[ExistingFile] = None  # noqa: UP045
    proxy: Optional[ProxyUrl] = None  # noqa: UP045
    headers: Headers = Field(default_factory=dict)  # extra headers (gateways)

    _profile: Optional[str] = PrivateAttr(None)  # noqa: UP045
    _sources: dict[str, str] = PrivateAttr(default_factory=dict)
    _variables: dict[str, str] = PrivateAttr(default_factory=dict)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Highest first: flags (init values), the environment, the profile; then defaults."""
        call = _CALL.get()
        if call is None:  # Settings(...) outside load_settings: flags and this process's env
            return init_settings, EnvSource(settings_cls, os.environ)
        call.env = EnvSource(settings_cls, call.environ)
        sources: list[PydanticBaseSettingsSource] = [init_settings, call.env]
        if call.profile is not None:
            call.profile_source = ProfileSource(
                settings_cls, call.profile, call.resolve_key, call.key_timeout
            )
            sources.append(call.profile_source)
        return tuple(sources)

    @property
    def profile(self) -> str | None:
        return self._profile

    @property
    def sources(self) -> Mapping[str, str]:
        return self._sources

    @property
    def variables(self) -> Mapping[str, str]:
        """field -> the environment variable its value came from."""
        return self._variables

    @property
    def shown_url(self) -> str | None:
        """The server URL as it may be shown (its password, if any, hidden)."""
        return redact_url(self.server_url)

    @property
    def api_base(self) -> str:
        if not self.server_url:
            raise ConfigError(
                "no server URL: set OUTSCALE_SERVER_URL or pass --server-url",
                hint="e.g. export OUTSCALE_SERVER_URL=http://10.0.0.12:5000, "
                "or try the built-in stand-in with --mock",
            )
        return self.server_url + "/v1"


# -- the sources of ours -----------------------------------------------------------------------
class EnvSource(PydanticBaseSettingsSource):
    """The environment, read through our own names (ENV_NAMES): the variables are not one
    prefix, and no other variable may set a field (a stray HEADERS or INSECURE must not)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self._environ = environ
        self.variables: dict[str, str] = {}  # field -> the variable that set it

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        for name in ENV_NAMES.get(field_name, ()):
            value = self._environ.get(name)
            if value:  # an empty variable is no value
                return value, name, False
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for field_name, info in self.settings_cls.model_fields.items():
            value, name, _ = self.get_field_value(info, field_name)
            if value is not None:
                found[field_name] = value
                self.variables[field_name] = name
        return found


class ProfileSource(PydanticBaseSettingsSource):
    """The chosen profile of the config file (already read and checked by config.py). Its key
    is looked up (api_key_env) or run (api_key_cmd) only when no source above gave one."""

    def __init__(
        self,
        settings_cls: type[BaseSettings],
        profile: ProfileRef,
        resolve_key: bool,
        key_timeout: tuple[float, str],
    ) -> None:
        super().__init__(settings_cls)
        self.profile = profile
        self._resolve_key = resolve_key
        self._key_timeout = key_timeout
        self.key_from: str | None = None  # the profile key that gave api_key

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.profile.values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        values = {
            k: v
            for k, v in self.profile.values.items()
            if k in self.settings_cls.model_fields and k != "api_key"
        }
        if "api_key" not in self.current_state and self._resolve_key:
            found = self.profile.key(*self._key_timeout)
            if found is not None:
                self.key_from, values["api_key"] = found
        return values


@dataclass
class _Call:
    """What one load_settings call gives its sources (settings_customise_sources is a class
    method: the per-call inputs reach it through a context variable)."""

    environ: Mapping[str, str]
    profile: ProfileRef | None
    resolve_key: bool
    key_timeout: tuple[float, str] = (30.0, "30 s")  # how long api_key_cmd may take, why
    env: EnvSource | None = None
    profile_source: ProfileSource | None = None


_CALL: ContextVar[_Call | None] = ContextVar("outscale_cli_settings_call", default=None)


@contextmanager
def _calling(call: _Call) -> Iterator[None]:
    token = _CALL.set(call)
    try:
        yield
    finally:
        _CALL.reset(token)


def load_settings(
    flags: Mapping[str, Any],
    environ: Mapping[str, str],
    profile: ProfileRef | None = None,
    *,
    resolve_key: bool = True,
) -> Settings:
    """The settings from flags > environment > profile > defaults, with where each came
    from. A bad value is a UsageError (a flag) or a ConfigError (the environment, the file)."""
    given = {k: v for k, v in flags.items() if v is not None}
    key_timeout = (30.0, "30 s")
    if resolve_key and profile is not None and "api_key_cmd" in profile.values:
        # The command runs under this command's deadline (--max-time, counted from the
        # start), or the connect timeout when there is none: the settings say which.
        first = load_settings(flags, environ, profile, resolve_key=False)
        key_timeout = _time_left(first)
    call = _Call(environ, profile, resolve_key, key_timeout)
    with _calling(call):
        try:
            settings = Settings(**given)
        except PydanticValidationError as exc:
            raise _refusal(exc, given, call) from None
    env_found = call.env.variables if call.env is not None else {}
    profile_found = call.profile_source.profile.values if call.profile_source else {}
    sources: dict[str, str] = {}
    for name, info in Settings.model_fields.items():
        if name in given:
            sources[name] = "flag"
        elif name in env_found:
            sources[name] = "env"
        elif name in profile_found or (
            name == "api_key" and call.profile_source and call.profile_source.key_from
        ):
            sources[name] = "profile"
        elif info.get_default(call_default_factory=True):  # the defaults worth naming
            sources[name] = "default"
    settings._sources = sources
    settings._variables = dict(env_found)
    settings._profile = profile.name if profile is not None else None
    return settings


def _time_left(settings: Settings) -> tuple[float, str]:
    """Seconds the command has left for what comes before its requests, and whose they are."""
    import time

    from outscale_cli.console import STARTED

    if settings.max_time is None:
        return settings.connect_timeout, f"--connect-timeout {settings.connect_timeout:g}"
    left = max(0.01, STARTED + settings.max_time - time.monotonic())
    return left, f"what was left of --max-time {settings.max_time:g}"


def _refusal(exc: PydanticValidationError, flags: Mapping[str, Any], call: _Call) -> CliError:
    """One line for the first bad value, naming where it came from and what was expected."""
    error = exc.errors()[0]
    name = str(error["loc"][0]) if error["loc"] else "?"
    reason = value_reason(error, name)
    if name in flags:
        shown = _shown(name, flags[name])
        return UsageError(f"invalid value {shown} for {FLAG_NAMES.get(name, name)}: {reason}")
    env = call.env
    if env is not None and name in env.variables:
        var = env.variables[name]
        shown = _shown(name, call.environ.get(var))
        return ConfigError(f"invalid value {shown} in {var}: {reason}")
    source = call.profile_source
    if source is not None:
        key = source.key_from if name == "api_key" and source.key_from else name
        return ConfigError(f"{source.profile.where(key)}: {reason}")
    return ConfigError(f"invalid value for {name}: {reason}")


def value_reason(error: Mapping[str, Any], name: str, *, got: bool = False) -> str:
    """Why a value was refused: our own validators' words if they spoke, then what the field
    expects (and, with `got`, the value refused when no validator of ours saw it)."""
    expected = f"expected {EXPECTED.get(name, 'another value')}"
    cause = (error.get("ctx") or {}).get("error")
    if error.get("type") == "value_error" and cause is not None:
        return f"{cause}; {expected}"
    if got and name != "api_key" and "input" in error:
        return f"{expected}, got {error['input']!r}"
    return expected


def _shown(name: str, raw: Any) -> str:
    return "(hidden)" if name == "api_key" else repr(str(raw))


# -- the settings of a command: the config file's profile chosen, then loaded -----------------
def resolve_settings(
    flags: Mapping[str, Any],
    environ: Mapping[str, str],
    *,
    profile: str | None = None,
    config: str | None = None,
) -> Settings:
    """Flags > environment > the chosen profile of the config file > defaults."""
    from outscale_cli.config import choose

    chosen = choose(flags, environ, profile_flag=profile, config_flag=config)
    return load_settings(flags, environ, chosen.profile)


def every_profile_settings(
    flags: Mapping[str, Any], environ: Mapping[str, str], *, config: str | None = None
) -> list[tuple[str, Settings | CliError]]:
    """For --all: every profile of the config file, in file order, each with its own server
    and model (OUTSCALE_SERVER_URL and OUTSCALE_MODEL_NAME would make them all the same); a
    profile that cannot be resolved (its key variable unset, say) is its own error."""
    from outscale_cli.config import config_path, load_config

    loaded = load_config(config_path(config, environ))
    if not loaded.profiles:
        raise ConfigError(
            f"no profiles in {loaded.path}",
            hint="add one with 'outscale-cli config add NAME --server-url URL'",
        )
    own = {
        k: v for k, v in environ.items() if k not in ("OUTSCALE_SERVER_URL", "OUTSCALE_MODEL_NAME")
    }
    rest = {k: v for k, v in flags.items() if k not in ("server_url", "model")}
    results: list[tuple[str, Settings | CliError]] = []
    for name in loaded.profiles:
        try:
            results.append((name, load_settings(rest, own, loaded.ref(name, own))))
        except CliError as exc:
            results.append((name, exc))
    return results


KEY_FIELDS = ("api_key", "api_key_env", "api_key_cmd")
SHOWN_FIELDS = ("server_url", "model", "timeout", "connect_timeout", "max_time", "retries",
                "ca_bundle", "insecure", "client_cert", "client_key", "proxy")  # fmt: skip
WHY = {
    "flag": "flag --profile",
    "env": "env OUTSCALE_PROFILE",
    "model": "chosen by its model, -m",
    "default_profile": "default_profile",
}


def describe_settings(
    flags: Mapping[str, Any],
    environ: Mapping[str, str],
    *,
    profile: str | None = None,
    config: str | None = None,
) -> dict[str, Any]:
    """Each effective setting with its source, for `config show`: a key is never shown, and
    an api_key_cmd is not run."""
    from outscale_cli.config import choose

    chosen = choose(flags, environ, profile_flag=profile, config_flag=config)
    keyless = {k: v for k, v in environ.items() if k != "OUTSCALE_API_KEY"}
    settings = load_settings(flags, keyless, chosen.profile, resolve_key=False)

    def source(name: str) -> str | None:
        origin = settings.sources.get(name)
        return {
            "flag": f"flag {FLAG_NAMES.get(name, name)}",
            "env": f"env {settings.variables.get(name, name)}",
            "profile": f"profile {chosen.name}",
            "default": "default",
        }.get(origin or "")

    described: dict[str, dict[str, Any]] = {}
    for name in SHOWN_FIELDS:
        value = getattr(settings, name)
        if name in ("server_url", "proxy"):
            value = redact_url(value)
        described[name] = {"value": value, "source": source(name)}
    if settings.retries is None:
        described["retries"] = {"value": 2, "source": "default; ping: 0"}
    described["headers"] = {
        "value": ", ".join(settings.headers) or None,
        "source": source("headers"),
    }
    values = chosen.profile.values if chosen.profile is not None else {}
    described["api_key"] = _describe_key(values, chosen.name, environ)
    return {
        "config_file": str(chosen.config.path),
        "config_exists": chosen.config.exists,
        "profile": chosen.name,
        "profile_source": WHY.get(chosen.why),
        "settings": described,
    }


def _describe_key(
    profile: Mapping[str, Any], name: str | None, environ: Mapping[str, str]
) -> dict[str, Any]:
    if environ.get("OUTSCALE_API_KEY"):
        return {"value": "set", "source": "env OUTSCALE_API_KEY"}
    if "api_key_env" in profile:
        var = profile["api_key_env"]
        if environ.get(var):
            return {"value": "set", "source": f"profile {name}, from env {var}"}
        return {"value": None, "source": f"profile {name}: {var} is not set"}
    if "api_key_cmd" in profile:
        return {"value": "set", "source": f"profile {name}, from api_key_cmd (not run)"}
    if "api_key" in profile:
        return {"value": "set", "source": f"profile {name}"}
    return {"value": None, "source": None}
