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

The file is checked whole by settings.ConfigFile (a pydantic model, strict: TOML has real
types), with the same value types as the settings; every mistake is exit 3 naming the file,
the line of the key, the key and what was expected. What is ours: the line numbers (tomllib
gives none), the file-mode check of a literal api_key, and api_key_cmd. Completion reads only
the names (`read_names`), with no pydantic: shell completion stays as quick as `--help`.
"""

from __future__ import annotations

import re
import stat
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from outscale_cli.errors import ConfigError

APP_NAME = "outscale-cli"
FILE_NAME = "config.toml"
MAX_FILE_BYTES = 1024 * 1024  # a config file is a few lines; /dev/zero must not be read whole
KEY_FIELDS = ("api_key", "api_key_env", "api_key_cmd")


def default_path() -> Path:
    from platformdirs import user_config_path

    return user_config_path(APP_NAME) / FILE_NAME


def config_path(flag: str | None, environ: Mapping[str, str]) -> Path:
    if flag:
        return Path(flag).expanduser()
    if environ.get("OUTSCALE_CONFIG"):
        return Path(environ["OUTSCALE_CONFIG"]).expanduser()
    return default_path()


# -- reading ---------------------------------------------------------------------------------
def read_text(path: Path) -> str | None:
    """The file's text, or None when there is no file."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a directory") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(f"config file {path} is larger than {MAX_FILE_BYTES:,} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text") from None


def parse_toml(text: str, path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        where = f"{path}:{found.group(1)}" if found else str(path)
        raise ConfigError(
            f"{where}: not valid TOML: {exc}",
            hint="fix the line named above, or recreate the file with 'outscale-cli config add'",
        ) from None


def read_top(path: Path) -> dict[str, Any]:
    """The file's top-level values as written, unchecked (no pydantic): {} when there is no
    file or it cannot be read (the settings, read next, check it and say why)."""
    try:
        text = read_text(path)
        return parse_toml(text, path) if text is not None else {}
    except ConfigError:
        return {}


def read_names(path: Path) -> dict[str, dict[str, Any]]:
    """The profiles' tables as written, for completion, which must stay as light as --help:
    no pydantic, so values are not checked; a file with a mistake seen without them (an
    unknown key, a literal key that others can read) raises ConfigError like a command."""
    text = read_text(path)
    if text is None:
        return {}
    data = parse_toml(text, path)
    profiles = data.get("profiles", {})
    if set(data) - {"default_profile", "history", "profiles"} or not isinstance(profiles, dict):
        raise ConfigError(f"{path}: not a config file of profiles")
    for name, table in profiles.items():
        if not isinstance(table, dict) or set(table) - set(PROFILE_KEYS):
            raise ConfigError(f"{path}: [profiles.{name}] is not a profile")
        if "api_key" in table and _readable_by_others(path):
            raise ConfigError(f"{path}: a literal api_key in a file that others can read")
    return profiles


PROFILE_KEYS = ("server_url", "model", "api_key_env", "api_key_cmd", "api_key", "timeout",
                "connect_timeout", "max_time", "retries", "ca_bundle", "insecure",
                "client_cert", "client_key", "proxy", "headers")  # fmt: skip


def profile_problem(values: Mapping[str, Any]) -> tuple[str, str] | None:
    """(key, reason) of the first value that a profile may not hold ("name": the profile's
    name), or None: what the reader refuses, `config add` refuses before writing."""
    from pydantic import ValidationError

    from outscale_cli.settings import ConfigFile, value_reason

    name = values.get("name", "profile")
    table = {k: v for k, v in values.items() if k != "name"}
    try:
        ConfigFile.model_validate({"profiles": {name: table}})
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = [str(part) for part in error["loc"]]
        if "[key]" in loc:
            return "name", str((error.get("ctx") or {}).get("error") or "not a profile name")
        key = loc[2] if len(loc) > 2 else ""
        return key, value_reason(error, key)
    return None


class Config:
    """The config file, checked."""

    def __init__(self, path: Path, exists: bool = False, *, locate: Locator | None = None):
        self.path, self.exists, self.locate = path, exists, locate
        self.default_profile: str | None = None
        self.profiles: dict[str, dict[str, Any]] = {}  # checked values
        self.history: bool | None = None  # `history = false`: exchanges are not recorded

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

    def where(self, *keys: str) -> str:
        """`path:LINE` of the key (or of the nearest table holding it), else the path."""
        line = self.locate.line(keys) if self.locate is not None else None
        return f"{self.path}:{line}" if line else str(self.path)

    def ref(self, name: str, environ: Mapping[str, str]) -> ProfileRef:
        return ProfileRef(name, self.profile(name), self, environ)


class ProfileRef:
    """One profile as a settings source: its checked values, and its key on demand."""

    def __init__(
        self, name: str, values: dict[str, Any], config: Config, environ: Mapping[str, str]
    ) -> None:
        self.name, self.values, self.config, self.environ = name, values, config, environ

    def where(self, key: str) -> str:
        return f"{self.config.where('profiles', self.name, key)}: [profiles.{self.name}] {key}"

    def key(self, timeout: float = 30.0, budget: str = "30 s") -> tuple[str, Any] | None:
        """(the profile key that gives it, the API key), looking the variable up or running
        the command now (within `timeout` seconds); None when the profile names no key."""
        if "api_key_env" in self.values:
            var = self.values["api_key_env"]
            if not self.environ.get(var):
                raise ConfigError(
                    f"profile {self.name}: api_key_env names {var}, which is not set",
                    hint=f"export {var}=... first",
                )
            return "api_key_env", self.environ[var]
        if "api_key_cmd" in self.values:
            command = self.values["api_key_cmd"]
            return "api_key_cmd", key_from_command(command, self.name, timeout, budget)
        if "api_key" in self.values:
            return "api_key", self.values["api_key"]
        return None


def load_config(path: Path) -> Config:
    """Read and check the file; a missing file is an empty config."""
    text = read_text(path)
    if text is None:
        return Config(path)
    return check_text(text, path)


def check_text(text: str, path: Path) -> Config:
    """The config held by `text` (the file at `path`), checked whole."""
    from pydantic import ValidationError

    data = parse_toml(text, path)
    locate = Locator(text)
    config = Config(path, True, locate=locate)
    from outscale_cli.settings import ConfigFile

    try:
        checked = ConfigFile.model_validate(data)
    except ValidationError as exc:
        errors = sorted(exc.errors(), key=lambda e: locate.line(_keys(e["loc"])) or 0)
        raise ConfigError(_file_error(config, errors[0])) from None
    config.profiles = {
        name: profile.model_dump(exclude_none=True) for name, profile in checked.profiles.items()
    }
    default = checked.default_profile
    if default is not None and default not in config.profiles:
        known = ", ".join(config.profiles) or "none"
        raise ConfigError(
            f"{config.where('default_profile')}: default_profile names {default!r}, "
            f"which is not a profile (known: {known})"
        )
    config.default_profile = default
    config.history = checked.history
    for name, values in config.profiles.items():
        if "api_key" in values and _readable_by_others(path):
            raise ConfigError(
                f"{config.where('profiles', name, 'api_key')}: [profiles.{name}] api_key: a "
                "literal api_key is accepted only in a file readable by its owner alone",
                hint=f"chmod 600 {path}, or use api_key_env / api_key_cmd instead",
            )
    return config


def _keys(loc: tuple[Any, ...]) -> tuple[str, ...]:
    return tuple(str(part) for part in loc if part != "[key]")


def _file_error(config: Config, error: Mapping[str, Any]) -> str:
    """One line for the first mistake of the file: where, which key, what was expected."""
    from outscale_cli.settings import value_reason

    loc = _keys(error["loc"])
    at = config.where(*loc)
    kind = error["type"]
    if len(loc) == 1 and loc[0] == "profiles":
        return f"{at}: 'profiles' must be tables [profiles.NAME]"
    if len(loc) == 1 and loc[0] == "history":
        return f"{at}: history: expected true or false (got {error['input']!r})"
    if len(loc) == 1 and loc[0] == "default_profile":
        return f"{at}: default_profile: expected the name of a profile, as a string"
    if len(loc) == 1:
        expected = "'default_profile', 'history' or [profiles.NAME] tables"
        return f"{at}: unknown key {loc[0]!r}: expected {expected}"
    name = loc[1]
    if "[key]" in error["loc"]:
        return f"{at}: {name!r} is not a profile name: {error['ctx']['error']}"
    if len(loc) == 2 and kind == "value_error":  # the profile as a whole (several keys)
        return f"{at}: [profiles.{name}]: {error['ctx']['error']}"
    if len(loc) == 2:
        return f"{at}: profile {name!r} must be a table [profiles.{name}]"
    key = loc[2]
    if kind == "extra_forbidden":
        return f"{at}: [profiles.{name}] {key}: unknown key; expected one of: " + ", ".join(
            PROFILE_KEYS
        )
    return f"{at}: [profiles.{name}] {key}: {value_reason(error, key, got=True)}"


def _readable_by_others(path: Path) -> bool:
    try:
        mode = path.stat().st_mode
    except OSError:
        return True
    return bool(mode & (stat.S_IRWXG | stat.S_IRWXO))


# -- where each key is written: tomllib gives no line numbers --------------------------------
_PART = r"""\s*(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')\s*"""
_KEY = rf"{_PART}(?:\.{_PART})*"
# Patterns, compiled (and cached by `re`) on first use: only a file with a mistake is located.
_HEADER_LINE = rf"^\s*\[\[?({_KEY})\]\]?"
_KEY_VALUE = rf"^({_KEY})="
_INLINE_KEY = rf"[{{,]({_KEY})="


def _split_key(text: str) -> tuple[str, ...]:
    parts = re.findall(rf"({_PART})(?:\.|$)", text.strip())
    keys = []
    for part in parts:
        part = part.strip()
        if part.startswith('"'):
            import json

            try:
                part = json.loads(part)
            except ValueError:
                part = part[1:-1]
        elif part.startswith("'"):
            part = part[1:-1]
        keys.append(part)
    return tuple(keys)


class Locator:
    """The line of each key of a TOML text: tables, dotted keys and inline tables. Lines are
    counted as TOML counts them, at LF only (never at U+2028, form feeds and the like), and
    nothing inside a multi-line string is taken for a key."""

    def __init__(self, text: str) -> None:
        self._lines: dict[tuple[str, ...], int] = {}
        table: tuple[str, ...] = ()
        open_string: str | None = None
        for number, line in enumerate(text.split("\n"), start=1):
            if open_string is not None:
                if open_string in line:
                    open_string = None
                continue
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            header = re.match(_HEADER_LINE, stripped)
            if header:
                table = _split_key(header.group(1))
                self._lines.setdefault(table, number)
                continue
            pair = re.match(_KEY_VALUE, stripped)
            if not pair:
                continue
            key = table + _split_key(pair.group(1))
            self._lines.setdefault(key, number)
            rest = stripped[pair.end() :]
            for inner in re.finditer(_INLINE_KEY, rest):
                self._lines.setdefault(key + _split_key(inner.group(1)), number)
            open_string = _opens_multiline(rest)

    def line(self, keys: tuple[str, ...]) -> int | None:
        """The line of `keys`, or of the nearest table that holds them."""
        for end in range(len(keys), 0, -1):
            if keys[:end] in self._lines:
                return self._lines[keys[:end]]
        return None


def _opens_multiline(value: str) -> str | None:
    """The delimiter of a multi-line string that `value` opens and does not close."""
    for quote in ('"""', "'''"):
        start = value.find(quote)
        if start >= 0 and value.find(quote, start + 3) < 0:
            return quote
    return None


# -- the key from a command -------------------------------------------------------------------
KEY_OUTPUT_LIMIT = 64 * 1024  # a key is a line; a command printing for ever is cut off


def key_from_command(
    command: str, profile: str, timeout: float = 30.0, budget: str = "30 s"
) -> str:
    """Run api_key_cmd without a shell, within `timeout` seconds (`budget` says whose they
    are); its stdout, stripped, is the key. When it fails, its own stderr is shown (trimmed,
    without the key)."""
    import shlex

    where = f"profile {profile}: api_key_cmd"
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ConfigError(f"{where} cannot be parsed: {exc}") from None
    if not argv:
        raise ConfigError(f"{where} is empty")
    code, out, err = _run_bounded(argv, where, timeout, budget)
    key = out.decode("utf-8", "replace").strip()
    if code != 0:
        said = _trimmed(err.decode("utf-8", "replace"), key)
        raise ConfigError(
            f"{where} exited with status {code}" + (f": {said}" if said else ""),
            hint=f"run it yourself to see why: {_trimmed(command, key)}",
        )
    if not key:
        raise ConfigError(f"{where} printed no key")
    return key


def _run_bounded(
    argv: list[str], where: str, timeout: float, budget: str
) -> tuple[int, bytes, bytes]:
    """(exit status, stdout, stderr) of `argv`, killed (with what it started) when it takes
    longer than `timeout` or prints more than KEY_OUTPUT_LIMIT; never waits past that."""
    import os
    import selectors
    import signal
    import subprocess
    import time

    try:
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: killed whole
        )  # fmt: skip
    except FileNotFoundError:
        raise ConfigError(f"{where}: {argv[0]}: command not found") from None
    except OSError as exc:
        raise ConfigError(f"{where}: cannot run {argv[0]}: {exc.strerror or exc}") from None
    assert process.stdout is not None and process.stderr is not None
    out_fd, err_fd = process.stdout.fileno(), process.stderr.fileno()
    outputs: dict[int, bytearray] = {out_fd: bytearray(), err_fd: bytearray()}
    deadline = time.monotonic() + timeout
    problem = None
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            selector.register(process.stderr, selectors.EVENT_READ)
            while selector.get_map():
                left = deadline - time.monotonic()
                if left <= 0:
                    problem = f"{where} did not finish within {timeout:.1f} s ({budget})"
                    break
                for key, _ in selector.select(min(left, 0.5)):
                    chunk = os.read(key.fd, 65536)
                    if not chunk:
                        selector.unregister(key.fileobj)
                        continue
                    outputs[key.fd] += chunk
                    if len(outputs[key.fd]) > KEY_OUTPUT_LIMIT:
                        problem = f"{where} printed more than {KEY_OUTPUT_LIMIT:,} bytes"
                        break
                if problem:
                    break
        if problem is None:
            try:
                process.wait(timeout=max(0.01, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                problem = f"{where} did not finish within {timeout:.1f} s ({budget})"
    finally:
        if problem is not None or process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except OSError:
                pass
            process.wait()
        process.stdout.close()
        process.stderr.close()
    if problem is not None:
        raise ConfigError(problem, hint="check that it prints the key and ends, alone")
    return process.returncode, bytes(outputs[out_fd]), bytes(outputs[err_fd])


def _trimmed(text: str, key: str, limit: int = 300) -> str:
    """A command's stderr as one short line, without anything it printed on stdout."""
    if key:
        for secret in {key, *key.split()}:
            if len(secret) >= 4:
                text = text.replace(secret, "********")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    said = " / ".join(lines[-3:])
    return said if len(said) <= limit else said[: limit - 1] + "…"


# -- which profile a command uses ---------------------------------------------------------------
class Chosen(NamedTuple):
    config: Config
    name: str | None
    why: str  # "flag", "env", "model", "default_profile" or "none"
    profile: ProfileRef | None


def choose(
    flags: Mapping[str, Any],
    environ: Mapping[str, str],
    *,
    profile_flag: str | None,
    config_flag: str | None,
) -> Chosen:
    """The config file and the profile it gives this command: -p, else OUTSCALE_PROFILE, else
    the one profile declaring the -m model, else default_profile, else none."""
    config = load_config(config_path(config_flag, environ))
    name, why = choose_profile(
        config,
        flag=profile_flag,
        environ=environ,
        model_flag=flags.get("model"),
        server_flag=flags.get("server_url"),
    )
    ref = config.ref(name, environ) if name else None
    return Chosen(config, name, why, ref)


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
