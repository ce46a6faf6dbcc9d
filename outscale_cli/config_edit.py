"""Changes to the config file that keep what the user wrote (comments, order, layout).

Each edit is one read-modify-write under an exclusive lock (flock on the file's folder), so
edits made at the same time all land. tomlkit edits the document in place: a new key goes at the
end of its own table, before the comments that introduce the next one; a changed key keeps its
place and its comment. The result is checked like any config file before it is written, and
written atomically through a symlink to its target: a temporary file beside the target (mode
0600), fsync, rename, fsync of the folder; then read back, and the edit is reported done only if
the file holds it. An interruption at any point leaves the old file whole. A file that cannot be
written is a configuration error (exit 3) naming the path and the reason.
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from outscale_cli.config import Config, check_text
from outscale_cli.errors import ConfigError

LOCK_WAIT = 10.0  # seconds an edit waits for another one to finish
KEY_FIELDS = ("api_key", "api_key_env", "api_key_cmd")


def target_of(path: Path) -> Path:
    """The file an edit writes: the target of a symlink (dotfile managers link config files)."""
    return Path(os.path.realpath(path))


@contextmanager
def locked(path: Path) -> Iterator[Path]:
    """Hold the edit lock of the config file at `path`; yields the file to write."""
    target = target_of(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        folder = os.open(target.parent, os.O_RDONLY)
    except OSError as exc:
        raise _unwritable(path, exc) from None
    try:
        _lock(folder, path)
        yield target
    finally:
        os.close(folder)  # releases the lock


def _lock(fd: int, path: Path) -> None:
    import fcntl

    deadline = time.monotonic() + LOCK_WAIT
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise _unwritable(path, exc) from None
        if time.monotonic() > deadline:
            raise ConfigError(
                f"cannot edit {path}: another edit has held it for {LOCK_WAIT:g} s",
                hint="try again when the other outscale-cli command has finished",
            )
        time.sleep(0.02)


def _unwritable(path: Path, exc: OSError) -> ConfigError:
    return ConfigError(
        f"cannot write config file {path}: {exc.strerror or exc}",
        hint="choose another file with --config PATH (or OUTSCALE_CONFIG)",
    )


def _load_document(path: Path) -> Any:
    import tomlkit
    from tomlkit.exceptions import ParseError

    from outscale_cli.config import read_text

    text = read_text(path)
    if text is None:
        return tomlkit.document()
    try:
        return tomlkit.parse(text)
    except ParseError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _save(shown: Path, target: Path, document: Any) -> Config:
    import tomlkit

    text = tomlkit.dumps(document)
    checked = check_text(text, shown)  # never write what the reader would refuse
    data = text.encode("utf-8")
    try:
        write_atomic(target, data)
        landed = target.read_bytes()
    except OSError as exc:
        raise _unwritable(shown, exc) from None
    if landed != data:
        raise ConfigError(f"the edit of {shown} did not land: the file holds something else")
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


# -- placing keys where they belong ----------------------------------------------------------
def _set_key(table: Any, key: str, value: Any) -> None:
    """Set `key` in a tomlkit table: in place (keeping its comment) when it is there, else
    after the table's last key, before the comments and blank lines that end the table (in
    tomlkit's model they belong to it, but they introduce what follows)."""
    import tomlkit

    if isinstance(value, dict):  # headers: an inline table, as the README writes it
        inline = tomlkit.inline_table()
        inline.update(value)
        item = inline
    else:
        item = tomlkit.item(value)
    if key in table:
        old = table.item(key)
        if hasattr(old, "trivia") and hasattr(item, "trivia"):
            item.trivia.comment_ws = old.trivia.comment_ws
            item.trivia.comment = old.trivia.comment
        table[key] = item
        return
    container = getattr(table, "value", table)
    body = getattr(container, "body", None)
    insert_at = getattr(container, "_insert_at", None)
    last_key = max((i for i, (k, _) in enumerate(body or []) if k is not None), default=-1)
    if insert_at is None or body is None or last_key == len(body) - 1:
        table.append(key, item)
    else:
        insert_at(last_key + 1, key, item)


def add_profile(path: Path, name: str, values: dict[str, Any], make_default: bool) -> bool:
    """Create or update profile `name` with `values`; True when it already existed."""
    import tomlkit

    with locked(path) as target:
        document = _load_document(target)
        profiles = document.get("profiles")
        if profiles is None:
            profiles = tomlkit.table(is_super_table=True)
            document["profiles"] = profiles
        existed = name in profiles
        if existed:
            table = profiles[name]
            if any(k in values for k in KEY_FIELDS):  # one way to get the key
                for old in KEY_FIELDS:
                    if old in table and old not in values:
                        del table[old]
        else:
            table = tomlkit.table()
            profiles[name] = table
        for key, value in values.items():
            _set_key(table, key, value)
        if make_default or "default_profile" not in document:
            _set_default(document, name)
        _save(path, target, document)
    return existed


def _set_default(document: Any, name: str) -> None:
    if "default_profile" in document:
        _set_key(document, "default_profile", name)
    else:
        document["default_profile"] = name  # tomlkit puts a new plain key before the tables


def remove_profile(path: Path, name: str) -> bool:
    """Remove `name`; True when it was the default (which is then unset)."""
    import tomlkit

    with locked(path) as target:
        document = _load_document(target)
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
        _save(path, target, document)
    return was_default


_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]")


def _cut_table(text: str, name: str) -> str | None:
    """The text without the [profiles.NAME] block (its sub-tables too) and the comment lines
    just above its header. The comment lines that end the block belong to what follows it,
    the next table or the end of the file, and stay (tomlkit would delete them with it)."""
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
    keep_from = end  # give back the comments (and blank lines) that end the block
    while keep_from - 1 > start and (
        lines[keep_from - 1].lstrip().startswith("#") or not lines[keep_from - 1].strip()
    ):
        keep_from -= 1
    while keep_from < end and not lines[keep_from].strip():
        keep_from += 1  # blank lines before those comments go with the block
    while start > 0 and lines[start - 1].lstrip().startswith("#"):
        start -= 1
    return "".join(lines[:start] + lines[keep_from:])


def set_default(path: Path, name: str) -> None:
    with locked(path) as target:
        document = _load_document(target)
        profiles = document.get("profiles") or {}
        if name not in profiles:
            known = ", ".join(profiles) or "none yet"
            raise ConfigError(f"unknown profile {name!r} (known: {known})")
        _set_default(document, name)
        _save(path, target, document)


def set_history(path: Path, recording: bool) -> None:
    """`history = false` at the top of the file (off); on removes it (recording is the
    default)."""
    with locked(path) as target:
        document = _load_document(target)
        if recording:
            if "history" not in document:
                return
            del document["history"]
        elif document.get("history") is False:
            return
        elif "history" in document:
            _set_key(document, "history", False)
        else:
            document["history"] = False  # tomlkit puts a new plain key before the tables
        _save(path, target, document)
