"""Changes to the config file that keep what the user wrote (comments, order, layout).

tomlkit edits the document in place; the result is checked like any config file before it is
written, and written atomically: a temporary file beside it (mode 0600), fsync, rename, fsync
of the folder. An interruption at any point leaves the old file whole.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

from outscale_cli.config import Config, check_text
from outscale_cli.errors import ConfigError


def _load_document(path: Path) -> Any:
    import tomlkit
    from tomlkit.exceptions import ParseError

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return tomlkit.document()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    try:
        return tomlkit.parse(text)
    except ParseError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _save(path: Path, document: Any) -> Config:
    import tomlkit

    text = tomlkit.dumps(document)
    checked = check_text(text, path)  # never write what the reader would refuse
    write_atomic(path, text.encode("utf-8"))
    return checked


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that no reader and no crash ever sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:
        folder = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(folder)
    except OSError:
        pass
    finally:
        os.close(folder)


def add_profile(path: Path, name: str, values: dict[str, Any], make_default: bool) -> bool:
    """Create or update profile `name` with `values`; True when it already existed."""
    import tomlkit

    document = _load_document(path)
    profiles = document.get("profiles")
    if profiles is None:
        profiles = tomlkit.table(is_super_table=True)
        document["profiles"] = profiles
    existed = name in profiles
    if existed:
        table = profiles[name]
        for key in ("api_key", "api_key_env", "api_key_cmd"):  # one way to get the key
            if key in values and any(k in table for k in ("api_key", "api_key_env", "api_key_cmd")):
                for old in ("api_key", "api_key_env", "api_key_cmd"):
                    table.pop(old, None)
        for key, value in values.items():
            table[key] = value
    else:
        table = tomlkit.table()
        for key, value in values.items():
            table[key] = value
        profiles[name] = table
    if make_default or "default_profile" not in document:
        _set_default(document, name)
    _save(path, document)
    return existed


def _set_default(document: Any, name: str) -> None:
    document["default_profile"] = name  # tomlkit puts a new plain key before the tables


def remove_profile(path: Path, name: str) -> bool:
    """Remove `name`; True when it was the default (which is then unset)."""
    import tomlkit

    document = _load_document(path)
    profiles = document.get("profiles")
    if profiles is None or name not in profiles:
        raise ConfigError(f"no profile {name!r} in {path}")
    text = _cut_table(tomlkit.dumps(document), name)
    if text is None:  # not a [profiles.NAME] block of its own (an inline table): tomlkit
        del profiles[name]
    else:
        document = tomlkit.parse(text)
    was_default = bool(document.get("default_profile") == name)
    if was_default:
        del document["default_profile"]
    _save(path, document)
    return was_default


_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]")


def _cut_table(text: str, name: str) -> str | None:
    """The text without the [profiles.NAME] block (its sub-tables too) and the comment lines
    just above its header; the comments above the next header stay with the next table.
    (tomlkit would file those under the removed table and delete them with it.)"""
    lines = text.splitlines(keepends=True)

    def header(line: str) -> str | None:
        match = _HEADER.match(line)
        return re.sub(r"\s*\.\s*", ".", match.group(1)).replace('"', "") if match else None

    own = f"profiles.{name}"
    start = next((i for i, line in enumerate(lines) if header(line) == own), None)
    if start is None:
        return None
    end = start + 1
    while end < len(lines):
        found = header(lines[end])
        if found is not None and found != own and not found.startswith(own + "."):
            break
        end += 1
    if end < len(lines):  # give back the comment block that leads into the next table
        while end - 1 > start and lines[end - 1].lstrip().startswith("#"):
            end -= 1
    while start > 0 and lines[start - 1].lstrip().startswith("#"):
        start -= 1
    return "".join(lines[:start] + lines[end:])


def set_default(path: Path, name: str) -> None:
    document = _load_document(path)
    profiles = document.get("profiles") or {}
    if name not in profiles:
        known = ", ".join(profiles) or "none yet"
        raise ConfigError(f"unknown profile {name!r} (known: {known})")
    _set_default(document, name)
    _save(path, document)
