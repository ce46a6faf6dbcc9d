"""The config file: named profiles of deployments, read, checked and chosen from.

    default_profile = "small"

    [profiles.small]
    server_url = "http://10.0.0.12:5000"
    model = "small-2409"
    api_key_env = "MISTRAL_API_KEY"     # or api_key_cmd = "pass show mistral", or api_key
    timeout = 60
    retries = 3
    headers = { "X-Team" = "data" }

Where: --config PATH, else OUTSCALE_CONFIG, else the platform's user config dir
(`$XDG_CONFIG_HOME/outscale-cli/config.toml` on Linux). A missing file is no error: it is
an empty config, and the environment alone decides, as before profiles existed.
Every mistake in the file is exit 3 naming the file, the line, the key and what was expected.
Nothing here is imported, and no TOML is parsed, unless a config file exists.
"""

from __future__ import annotations

import re
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from outscale_cli.errors import ConfigError

APP_NAME = "outscale-cli"
FILE_NAME = "config.toml"

# key -> (the types accepted, what to say was expected)
PROFILE_KEYS: dict[str, tuple[tuple[type, ...], str]] = {
    "server_url": ((str,), 'a URL string such as "http://10.0.0.12:5000"'),
    "model": ((str,), 'a model id string such as "small-2409"'),
    "api_key_env": ((str,), "the name of an environment variable, as a string"),
    "api_key_cmd": ((str,), "a command line, as a string"),
    "api_key": ((str,), "the key, as a string"),
    "timeout": ((int, float), "a number of seconds greater than 0"),
    "connect_timeout": ((int, float), "a number of seconds greater than 0"),
    "max_time": ((int, float), "a number of seconds greater than 0"),
    "retries": ((int,), "a whole number, 0 or more"),
    "ca_bundle": ((str,), "the path of a PEM file of CA certificates"),
    "insecure": ((bool,), "true or false"),
    "client_cert": ((str,), "the path of a PEM client certificate"),
    "client_key": ((str,), "the path of a PEM private key"),
    "proxy": ((str,), "an http:// or https:// proxy URL"),
    "headers": ((dict,), "a table of header names to string values"),
}
TOP_KEYS = {"default_profile", "profiles"}


def default_path() -> Path:
    from platformdirs import user_config_path

    return user_config_path(APP_NAME) / FILE_NAME


def config_path(flag: str | None, environ: Mapping[str, str]) -> Path:
    if flag:
        return Path(flag).expanduser()
    if environ.get("OUTSCALE_CONFIG"):
        return Path(environ["OUTSCALE_CONFIG"]).expanduser()
    return default_path()


@dataclass
class Config:
    path: Path
    exists: bool = False
    default_profile: str | None = None
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)

    def profile(self, name: str) -> dict[str, Any]:
        if name not in self.profiles:
            known = ", ".join(self.profiles) or "none yet"
            raise ConfigError(
                f"unknown profile {name!r} (known: {known})",
                hint=f"add it with 'outscale-cli config add {name} --server-url URL', "
                f"or see {self.path}",
            )
        return self.profiles[name]

    def profiles_with_model(self, model: str) -> list[str]:
        return [name for name, p in self.profiles.items() if p.get("model") == model]


def load_config(path: Path) -> Config:
    """Read and check the file; a missing file is an empty config."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Config(path)
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a directory") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text") from None
    data = _parse_toml(text, path)
    return _check(data, text, path)


def _parse_toml(text: str, path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{path}: not valid TOML: {exc}",
            hint="fix the line named above, or recreate the file with 'outscale-cli config add'",
        ) from None


def _check(data: dict[str, Any], text: str, path: Path) -> Config:
    locate = _Locator(text, path)
    for key in data:
        if key not in TOP_KEYS:
            raise ConfigError(
                f"{locate.key(None, key)}: unknown key {key!r}: expected "
                "'default_profile' or [profiles.NAME] tables"
            )
    profiles = data.get("profiles", {})
    if not isinstance(profiles, dict):
        raise ConfigError(f"{locate.key(None, 'profiles')}: 'profiles' must be tables")
    checked: dict[str, dict[str, Any]] = {}
    for name, table in profiles.items():
        if not isinstance(table, dict):
            raise ConfigError(
                f"{locate.key('profiles', name)}: profile {name!r} must be a table "
                f"[profiles.{name}]"
            )
        checked[name] = _check_profile(name, table, locate, path)
    default = data.get("default_profile")
    if default is not None:
        if not isinstance(default, str):
            raise ConfigError(
                f"{locate.key(None, 'default_profile')}: default_profile: expected the name "
                "of a profile, as a string"
            )
        if default not in checked:
            known = ", ".join(checked) or "none"
            raise ConfigError(
                f"{locate.key(None, 'default_profile')}: default_profile names {default!r}, "
                f"which is not a profile (known: {known})"
            )
    return Config(path, True, default, checked)


def _check_profile(
    name: str, table: dict[str, Any], locate: _Locator, path: Path
) -> dict[str, Any]:
    from outscale_cli.settings import PARSERS

    section = f"profiles.{name}"
    for key, value in table.items():
        where = f"{locate.key(section, key)}: [{section}] {key}"
        if key not in PROFILE_KEYS:
            expected = ", ".join(PROFILE_KEYS)
            raise ConfigError(f"{where}: unknown key; expected one of: {expected}")
        types, expected = PROFILE_KEYS[key]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise ConfigError(f"{where}: expected {expected}, got {value!r}")
        if key in PARSERS:
            try:
                PARSERS[key](value)
            except ValueError as exc:
                raise ConfigError(f"{where}: {exc}; expected {expected}") from None
        if isinstance(value, dict):  # headers
            for header, header_value in value.items():
                if not isinstance(header_value, str) or not _HEADER_NAME.match(header):
                    raise ConfigError(
                        f"{where}: header {header!r} must be a token with a string value"
                    )
        if key == "api_key" and _readable_by_others(path):
            raise ConfigError(
                f"{where}: a literal api_key is accepted only in a file readable by its "
                "owner alone",
                hint=f"chmod 600 {path}, or use api_key_env / api_key_cmd instead",
            )
    if (
        "api_key" in table
        and ("api_key_env" in table or "api_key_cmd" in table)
        or ("api_key_env" in table and "api_key_cmd" in table)
    ):
        raise ConfigError(
            f"{locate.key('profiles', name)}: [{section}]: give one of api_key, api_key_env, "
            "api_key_cmd, not several"
        )
    return dict(table)


_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def _readable_by_others(path: Path) -> bool:
    try:
        mode = path.stat().st_mode
    except OSError:
        return True
    return bool(mode & (stat.S_IRWXG | stat.S_IRWXO))


class _Locator:
    """Finds the line of a key in the file's text, for error messages (tomllib gives none)."""

    def __init__(self, text: str, path: Path) -> None:
        self._lines = text.splitlines()
        self._path = path

    def key(self, section: str | None, key: str) -> str:
        line = self._find(section, key)
        return f"{self._path}:{line}" if line else str(self._path)

    def _find(self, section: str | None, key: str) -> int | None:
        current: str | None = None
        header = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]")
        wanted_header = f"{section}.{key}" if section else key
        for number, line in enumerate(self._lines, start=1):
            match = header.match(line)
            if match:
                current = re.sub(r"\s*\.\s*", ".", match.group(1)).replace('"', "")
                if current == wanted_header:
                    return number
                continue
            stripped = line.strip()
            if current == section or (section is None and current is None):
                name = stripped.split("=", 1)[0].strip().strip('"').strip("'")
                if "=" in stripped and name == key:
                    return number
        return None


def key_from_command(command: str, profile: str) -> str:
    """Run api_key_cmd without a shell; its stdout, stripped, is the key."""
    import shlex
    import subprocess

    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ConfigError(f"profile {profile}: api_key_cmd cannot be parsed: {exc}") from None
    if not argv:
        raise ConfigError(f"profile {profile}: api_key_cmd is empty")
    try:
        done = subprocess.run(argv, capture_output=True, timeout=30, check=False)
    except FileNotFoundError:
        raise ConfigError(f"profile {profile}: api_key_cmd: {argv[0]}: command not found") from None
    except subprocess.TimeoutExpired:
        raise ConfigError(f"profile {profile}: api_key_cmd took more than 30 s") from None
    except OSError as exc:
        raise ConfigError(f"profile {profile}: api_key_cmd failed: {exc.strerror}") from None
    if done.returncode != 0:
        raise ConfigError(f"profile {profile}: api_key_cmd exited with status {done.returncode}")
    key = done.stdout.decode("utf-8", "replace").strip()
    if not key:
        raise ConfigError(f"profile {profile}: api_key_cmd printed no key")
    return key


def profile_source(
    profile: Mapping[str, Any], name: str, environ: Mapping[str, str]
) -> dict[str, Any]:
    """The profile as a settings source. Its key is looked up (environment variable) or run
    (command) only if it is the key that wins: OUTSCALE_API_KEY beats it."""
    values = {k: v for k, v in profile.items() if k not in ("api_key_env", "api_key_cmd")}
    if "api_key_env" in profile:
        var = profile["api_key_env"]

        def from_env() -> str:
            if not environ.get(var):
                raise ConfigError(
                    f"profile {name}: api_key_env names {var}, which is not set",
                    hint=f"export {var}=... first",
                )
            return environ[var]

        values["api_key"] = from_env
    elif "api_key_cmd" in profile:
        command = profile["api_key_cmd"]
        values["api_key"] = lambda: key_from_command(command, name)
    return values


def choose_profile(
    config: Config,
    *,
    flag: str | None,
    environ: Mapping[str, str],
    model_flag: str | None,
    server_flag: str | None,
) -> tuple[str | None, str]:
    """(the profile to use or None, why): flag/env, routing by -m, default_profile, none."""
    if flag:
        config.profile(flag)
        return flag, "flag"
    if environ.get("OUTSCALE_PROFILE"):
        name = environ["OUTSCALE_PROFILE"]
        config.profile(name)
        return name, "env"
    if model_flag and not server_flag and not environ.get("OUTSCALE_SERVER_URL"):
        candidates = config.profiles_with_model(model_flag)
        if len(candidates) == 1:
            return candidates[0], "model"
        if len(candidates) > 1:
            if config.default_profile in candidates:
                return config.default_profile, "model"
            raise ConfigError(
                f"model {model_flag} is declared by several profiles: {', '.join(candidates)}",
                hint="choose one with -p/--profile",
            )
    if config.default_profile:
        return config.default_profile, "default_profile"
    return None, "none"
