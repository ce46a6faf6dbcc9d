"""`batch run`, from options to exit status: check the input, choose the deployments, resume,
send, summarise."""

from __future__ import annotations

import os
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from outscale_cli.batch.engine import Deployment, Engine, Tally
from outscale_cli.batch.output import Writer, hold, resume
from outscale_cli.batch.progress import Progress
from outscale_cli.batch.reader import ENDPOINTS, Defaults, check, requests
from outscale_cli.commands.options import Connection
from outscale_cli.console import Environment
from outscale_cli.errors import ConfigError, Expired, PartialFailure, Terminated, UsageError

MAX_CONCURRENCY = 1024


@dataclass
class BatchOptions:
    source: str
    output: Path | None = None
    plain: bool = False
    endpoint: str = "chat"
    profiles: list[str] = field(default_factory=list)
    spread: bool = False
    concurrency: int = 4
    rate: float | None = None
    resume: bool = False
    dry_run: bool = False
    ordered: bool = True
    answers: bool = False
    system: str | None = None
    sampling: dict[str, Any] = field(default_factory=dict)


def run_batch(conn: Connection, options: BatchOptions) -> None:
    env = Environment.from_process(debug=conn.debug)
    _check_options(options)
    defaults = Defaults(sampling=options.sampling, system=options.system)
    with ExitStack() as stack:
        stdin = getattr(env.stdin, "buffer", None) if options.source == "-" else None
        checked = check(
            options.source, options.endpoint, plain=options.plain, defaults=defaults, stdin=stdin,
            fingerprints=options.resume,
        )  # fmt: skip
        stack.callback(checked.close)
        deployments = _deployments(conn, options, env, stack)
        if options.dry_run:
            _show_dry_run(env, options, checked, deployments)
            return
        tally = Tally(total=checked.requests)
        if options.output is not None:
            held = hold(options.output)
            stack.callback(os.close, held)
        if options.resume:
            assert options.output is not None
            resumed = resume(options.output, checked.ids, answers=options.answers,
                             model=deployments[0].model)  # fmt: skip
            if os.stat(options.output).st_ino != os.fstat(held).st_ino:  # rewritten: hold it too
                stack.callback(os.close, hold(options.output))
            tally.skipped = resumed.kept
            tally.total -= resumed.kept
            if resumed.torn:
                env.warn(f"{options.output}: its torn last line was cut off (sent again)")
        elif options.output is not None:
            _truncate(options.output)
        writer = Writer(options.output, answers=options.answers, run_id=uuid.uuid4().hex[:12])
        stack.callback(writer.close)
        todo = (
            r
            for r in requests(checked, options.endpoint, plain=options.plain, defaults=defaults)
            if not (options.resume and checked.ids.is_done(r.custom_id))
        )
        retries = conn.retries if conn.retries is not None else _profile_retries(deployments)
        progress = Progress(env, tally, deployments)
        engine = Engine(
            env,
            deployments,
            endpoint=options.endpoint,
            writer=writer,
            retries=retries,
            rate=options.rate,
            ordered=options.ordered,
            answers=options.answers,
            tally=tally,
            on_change=progress.update,
            max_time=deployments[0].settings.max_time,
        )
        stopped = False
        try:
            engine.run(todo)
        except (KeyboardInterrupt, Terminated, Expired):
            stopped = True
            raise
        finally:
            progress.finish()
            if stopped and options.output is not None:
                env.info("hint: send the rest with the same command and --resume")
        if tally.failed:
            raise PartialFailure(
                f"{tally.failed} of {tally.total} requests failed: their records hold the errors",
                hint="send them again with the same command and --resume"
                if options.output
                else "write to a file with -o, then --resume sends the failed ones again",
            )


def _check_options(options: BatchOptions) -> None:
    if options.endpoint not in ENDPOINTS:
        raise UsageError(f"--endpoint takes chat or fim, not {options.endpoint!r}")
    if not 1 <= options.concurrency <= MAX_CONCURRENCY:
        raise UsageError(f"--concurrency takes 1 to {MAX_CONCURRENCY} (got {options.concurrency})")
    if options.rate is not None and not 0.001 <= options.rate <= 100_000:  # also refuses nan
        raise UsageError(f"--rate takes 0.001 to 100,000 requests a second (got {options.rate})")
    if options.resume and options.output is None:
        raise UsageError("--resume completes an output file: give it with -o FILE")
    if options.spread and options.profiles:
        raise UsageError("--spread chooses the profiles itself: drop -p, or drop --spread")
    if options.output is not None and options.source != "-":
        try:
            same = options.output.exists() and os.path.samefile(options.output, options.source)
        except OSError:
            same = False
        if same:
            raise UsageError("-o names the input file itself: write the records elsewhere")


def _truncate(path: Path) -> None:
    try:
        with open(path, "wb"):
            pass
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


def _deployments(
    conn: Connection, options: BatchOptions, env: Environment, stack: ExitStack
) -> list[Deployment]:
    """Where the requests go: the usual settings, or each -p profile, or every profile
    serving the model (--spread); with --mock, the stand-in."""
    from outscale_cli.commands.run import MOCK_DEFAULT_MODEL, MOCK_FALLBACK_MODEL, settings_of
    from outscale_cli.settings import resolve_settings

    j = options.concurrency
    if conn.mock:
        if options.profiles or options.spread:
            raise UsageError("--mock is one stand-in deployment: drop -p and --spread")
        from outscale_cli.mock.server import MockConfig, MockServer

        server = stack.enter_context(MockServer(MockConfig(keep_records=False)))
        settings = settings_of(conn)
        model = settings.model or MOCK_DEFAULT_MODEL.get(options.endpoint, MOCK_FALLBACK_MODEL)
        settings = settings.model_copy(update={"server_url": server.url, "model": model})
        return [Deployment("stand-in", settings, model, j)]
    names = list(dict.fromkeys(options.profiles))
    if options.spread:
        names = _serving(conn, conn.model or settings_of(conn).model)
    if not names:
        settings = settings_of(conn)
        return [Deployment(settings.profile or "default", settings, _model(settings, None), j)]
    if len(names) > 1:
        overriding = [v for v in ("OUTSCALE_SERVER_URL",) if os.environ.get(v)] + (
            ["--server-url"] if conn.server_url else []
        )
        if overriding:
            raise UsageError(
                f"{' and '.join(overriding)} would send every profile's requests to one server "
                f"({', '.join(names)} all to it)",
                hint="unset OUTSCALE_SERVER_URL (or drop --server-url) to spread over profiles",
            )
    found = []
    for name in names:
        settings = resolve_settings(conn.flags(), os.environ, profile=name, config=conn.config)
        settings.api_base  # noqa: B018 - raises the "no server URL" error here, naming nothing
        found.append(Deployment(name, settings, _model(settings, name), j))
    models = {d.model for d in found}
    if len(models) > 1:
        served = ", ".join(f"{d.name}: {d.model}" for d in found)
        raise UsageError(
            f"the profiles serve different models ({served}): a batch spreads one model's work",
            hint="choose profiles of one model, or give -m MODEL",
        )
    return found


def _serving(conn: Connection, model: str | None) -> list[str]:
    from outscale_cli.config import config_path, load_config

    if not model:
        raise UsageError("--spread needs the model: give -m MODEL (or a default profile's)")
    config = load_config(config_path(conn.config, os.environ))
    names = config.profiles_with_model(model)
    if not names:
        raise ConfigError(
            f"no profile of {config.path} serves {model}",
            hint=f"add one with 'outscale-cli config add NAME --server-url URL -m {model}'",
        )
    return names


def _model(settings: Any, profile: str | None) -> str:
    if settings.model:
        return str(settings.model)
    where = f"profile {profile} names no model" if profile else "no model set"
    raise ConfigError(
        f"{where}: a batch sends every request to one model",
        hint="give -m MODEL (or OUTSCALE_MODEL_NAME, or the profile's model)",
    )


def _profile_retries(deployments: list[Deployment]) -> int:
    retries = [d.settings.retries for d in deployments if d.settings.retries is not None]
    return min(retries) if retries else 2


def _show_dry_run(
    env: Environment, options: BatchOptions, checked: Any, deployments: list[Deployment]
) -> None:
    import json

    first = checked.first
    where = ", ".join(f"{d.name} ({d.settings.shown_url}, {d.model})" for d in deployments)
    body = first.body if "model" in first.body else {**first.body, "model": deployments[0].model}
    url = f"{deployments[0].settings.shown_url}{ENDPOINTS[options.endpoint]}"
    env.out(
        f"{checked.requests} requests ({options.endpoint}) in {options.source}, nothing sent; "
        f"to {len(deployments)} deployment{'s' * (len(deployments) > 1)}: {where}\n"
        f"line {first.number} (custom_id {first.custom_id}): POST {url}\n"
        + json.dumps(body, ensure_ascii=False, indent=2)
        + "\n"
    )
