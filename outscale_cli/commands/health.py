"""The health check behind `ping`: one deployment, or many at once, until a deadline."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from outscale_cli.commands.run import (
    concurrently,
    find_model,
    fleet_failure,
    model_cards,
    no_model,
    open_session,
    single_model,
)
from outscale_cli.console import Environment
from outscale_cli.errors import (
    BadResponse,
    CliError,
    ConnectionFailed,
    Interrupted,
    ModelNotServed,
    ServerError,
    TimedOut,
)
from outscale_cli.settings import Settings

# Failures that can heal while we wait (a VM booting, a model loading); others cannot.
TRANSIENT = (ConnectionFailed, TimedOut, ServerError, BadResponse, ModelNotServed)
WAIT_STEP = 1.0


@dataclass
class Check:
    settings: Settings | None  # None: the profile could not be resolved (see error)
    profile: str | None
    mock: bool = False
    report: dict[str, Any] = field(default_factory=dict)
    error: CliError | None = None
    done: bool = False  # an attempt has finished (False: still running when interrupted)

    @classmethod
    def of(cls, profile: str, found: Settings | CliError) -> Check:
        """A profile's check; a profile whose settings failed fails with that error."""
        if isinstance(found, CliError):
            check = cls(None, profile, error=found, done=True)
            check.report = {"profile": profile, "ok": False, "server_url": None, "model": None,
                            "check": None, "latency_ms": None, "error": found.message}  # fmt: skip
            return check
        return cls(found, profile)

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.report.get("ok"))


def run_check(env: Environment, check: Check) -> None:
    """One attempt: fills check.report, and check.error when not healthy."""
    if check.settings is None:
        return  # its settings failed: nothing to try
    try:
        _attempt(env, check)
    finally:
        check.done = True


def _attempt(env: Environment, check: Check) -> None:
    assert check.settings is not None
    report: dict[str, Any] = {
        "ok": False,
        "server_url": check.settings.shown_url,
        "model": check.settings.model,
        "check": None,
        "latency_ms": None,
    }
    if check.profile is not None:
        report = {"profile": check.profile, **report}
    check.report, check.error = report, None
    try:
        with open_session(
            env, check.settings, mock=check.mock, command="ping", default_retries=0
        ) as s:
            report["server_url"] = s.settings.shown_url
            wanted = s.settings.model
            report["model"] = wanted
            started = time.perf_counter()
            try:
                report["check"] = "models"
                cards = model_cards(s.list_models())
            except ServerError as exc:
                if exc.http_status not in (404, 405):
                    raise
                # No /v1/models (Outscale): prove the model with a one-token completion.
                report["check"] = "chat"
                if not wanted:
                    raise no_model(None) from None
                started = time.perf_counter()
                s.client.post_json(
                    "chat/completions",
                    {
                        "model": wanted,
                        "messages": [{"role": "user", "content": "ping"}],
                        "max_tokens": 1,
                    },
                )
            else:
                found = find_model(cards, wanted) if wanted else single_model(cards)
                ids = ", ".join(c["id"] for c in cards) or "nothing"
                if found is None and wanted:
                    raise ModelNotServed(
                        f"model {wanted} is not served at {s.settings.shown_url}; it serves: {ids}",
                        hint="pick one of those with -m, or check OUTSCALE_MODEL_NAME",
                    )
                if found is None:
                    raise no_model([c["id"] for c in cards])
                report["model"] = found
            report["latency_ms"] = round((time.perf_counter() - started) * 1000)
            report["ok"] = True
    except CliError as exc:
        check.error = exc
        report["error"] = exc.message


def check_until(env: Environment, checks: list[Check], wait: float) -> None:
    """Run every check (concurrently when several), again for the unhealthy ones until all
    are healthy or `wait` seconds have passed. Interrupted, the checks still running are
    marked so (their reports say "interrupted") and the interruption goes on up."""
    deadline = time.monotonic() + wait
    pending = list(checks)
    try:
        while True:
            for c in pending:
                c.done = c.settings is None
            concurrently([lambda c=c: run_check(env, c) for c in pending])  # type: ignore[misc]
            pending = [c for c in pending if not c.ok]
            retry = [c for c in pending if isinstance(c.error, TRANSIENT)]
            left = deadline - time.monotonic()
            if not pending or not retry or len(retry) < len(pending) or left <= 0:
                return
            for c in retry:
                env.debug_line(f"not healthy yet ({c.error.message if c.error else ''})")
            time.sleep(min(WAIT_STEP, left))
    except KeyboardInterrupt:
        for c in checks:
            if not c.done:
                c.error = Interrupted("interrupted before it answered")
                c.report = {**c.report, "ok": False, "latency_ms": None, "error": c.error.message}
        raise


def print_checks(env: Environment, checks: list[Check], *, json_output: bool, fleet: bool) -> None:
    """Reports on stdout: one JSON object each, a table on a terminal (fleet), or lines."""
    if json_output:
        env.out("".join(json.dumps(c.report) + "\n" for c in checks))
    elif fleet and env.stdout_isatty:
        _print_table(env, checks)
    else:
        env.out("".join(_line(c, fleet) + "\n" for c in checks if c.ok or fleet))


def verdict(checks: list[Check], *, fleet: bool) -> CliError | None:
    """None when every check is healthy; else the error to exit with. A fleet's failures are
    in its reports already: its error only names them (never each a second time)."""
    failed = [c for c in checks if not c.ok]
    if not failed:
        return None
    if not fleet:
        return failed[0].error or CliError("the check failed")
    failures = [(str(c.profile), c.error or CliError("the check failed")) for c in failed]
    return fleet_failure(failures, len(checks), "are not healthy")


def _line(c: Check, with_profile: bool) -> str:
    r = c.report
    where = f"{r['model'] or '(no model)'} at {r['server_url'] or '(no server URL)'}"
    if not c.ok:
        if r["server_url"] is None and r["model"] is None:  # its settings could not be read
            where = "(settings)"
        return f"fail {c.profile} {where}: {c.error.message if c.error else ''}"
    ok = f"ok {where} ({r['check']}, {r['latency_ms']} ms)"
    return f"ok {c.profile} {ok[3:]}" if with_profile else ok


def _print_table(env: Environment, checks: list[Check]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    grid = Table(box=None, header_style="bold", pad_edge=False)
    for title in ("profile", "server", "model", "check", "latency", "status"):
        grid.add_column(title, justify="right" if title == "latency" else "left")
    for c in checks:
        r = c.report
        latency = f"{r['latency_ms']} ms" if r.get("latency_ms") is not None else ""
        message = c.error.message if c.error else "fail"
        status = Text("ok", style="green") if c.ok else Text(message, style="red")
        grid.add_row(
            str(c.profile), str(r["server_url"] or ""), str(r["model"] or ""),
            str(r["check"] or ""), latency, status,
        )  # fmt: skip
    Console(file=env.stdout).print(grid)
