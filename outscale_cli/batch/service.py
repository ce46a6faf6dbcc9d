"""Mistral's batch service (La Plateforme, or the stand-in): submit, status, wait, results,
cancel, list. The same input file and the same output format as `batch run`.

    submit   the input checked by batch run's reader, converted to Mistral's lines in a
             temporary file, uploaded from disk (POST /v1/files, purpose=batch), then the job
             created (POST /v1/batch/jobs); --wait: wait, then results
    wait     polls with a growing interval (1 s up to 30 s): QUEUED, RUNNING and
             CANCELLATION_REQUESTED are in flight, any other status (unknown ones too) finished
    results  the output and error files downloaded as they come, merged into one JSONL, every
             custom_id once

Exit status of wait and results: 0 when the job ended SUCCESS with no failed request, 9 when
it has failed requests, 6 when the job ended FAILED, TIMEOUT_EXCEEDED, CANCELLED (or any other
end), naming the status and the job's errors.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from outscale_cli.batch.output import Outcome
from outscale_cli.batch.reader import ENDPOINTS, Defaults, IdStore, check, requests
from outscale_cli.commands.options import Connection
from outscale_cli.console import Environment
from outscale_cli.errors import (
    BadResponse,
    CliError,
    ConfigError,
    PartialFailure,
    ServerError,
    UsageError,
)

IN_FLIGHT = frozenset({"QUEUED", "RUNNING", "CANCELLATION_REQUESTED"})
FIRST_INTERVAL, LONGEST_INTERVAL = 1.0, 30.0


@dataclass
class SubmitOptions:
    source: str
    plain: bool = False
    endpoint: str = "chat"
    system: str | None = None
    sampling: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    timeout_hours: int | None = None
    json_output: bool = False
    wait: bool = False
    interval: float | None = None
    output: Path | None = None
    answers: bool = False


@contextmanager
def service(conn: Connection, env: Environment) -> Iterator[Any]:
    """A session on the batch service; its key is required (the stand-in of --mock takes
    none)."""
    from outscale_cli.commands.run import open_session, settings_of

    settings = settings_of(conn)
    if settings.api_key is None and not conn.mock:
        raise ConfigError(
            "the batch service needs an API key: none is set",
            hint="set OUTSCALE_API_KEY, or use a profile with api_key_env (-p plateforme)",
        )
    with open_session(env, settings, mock=conn.mock, command="batch") as session:
        yield session


# -- submit --------------------------------------------------------------------------------------
def submit(conn: Connection, options: SubmitOptions) -> None:
    env = Environment.from_process(debug=conn.debug)
    if options.endpoint not in ENDPOINTS:
        raise UsageError(f"--endpoint takes chat or fim, not {options.endpoint!r}")
    _check_metadata(options.metadata)
    if options.timeout_hours is not None and not 1 <= options.timeout_hours <= 168:
        raise UsageError(f"--timeout-hours takes 1 to 168 (got {options.timeout_hours})")
    if not options.wait:
        flags = {
            "-o": options.output is not None,
            "--answers": options.answers,
            "--interval": options.interval is not None,
        }
        given = [flag for flag, on in flags.items() if on]
        if given:
            raise UsageError(
                f"{', '.join(given)} go with --wait (the results come when the job ends)",
                hint="add --wait, or get them later: outscale-cli batch results JOB_ID -o FILE",
            )
    defaults = Defaults(sampling=options.sampling, system=options.system)
    stdin = getattr(env.stdin, "buffer", None) if options.source == "-" else None
    checked = check(options.source, options.endpoint, plain=options.plain, defaults=defaults,
                    stdin=stdin)  # fmt: skip
    try:
        with tempfile.TemporaryDirectory(prefix="outscale-submit-") as folder:
            lines = Path(folder) / "batch.jsonl"
            without_model = _write_mistral_lines(checked, options, defaults, lines)
            with service(conn, env) as session:
                model = session.settings.model
                if without_model and not model:
                    raise ConfigError(
                        f"{without_model} lines name no model, and no model is set for the job",
                        hint="give -m MODEL (or the profile's model)",
                    )
                name = "batch.jsonl" if options.source == "-" else Path(options.source).name
                from outscale_cli.client import Upload

                uploaded = session.client.upload(
                    "files", Upload(str(lines), _jsonl_name(name), {"purpose": "batch"})
                )
                job_body: dict[str, Any] = {
                    "endpoint": ENDPOINTS[options.endpoint],
                    "input_files": [_field(uploaded, "id")],
                }
                if model:
                    job_body["model"] = model
                if options.metadata:
                    job_body["metadata"] = options.metadata
                if options.timeout_hours is not None:
                    job_body["timeout_hours"] = options.timeout_hours
                try:
                    job = session.client.post_json("batch/jobs", job_body, once=True)
                except CliError:
                    _forget(session, env, _field(uploaded, "id"))
                    raise
                job_id = _field(job, "id")
                if options.json_output and not options.wait:
                    env.out(json.dumps(job, ensure_ascii=False, indent=2) + "\n")
                elif not options.wait:
                    env.out(job_id + "\n")
                else:
                    env.info(f"batch: job {job_id} submitted ({checked.requests} requests)")
                    job = _wait(session, env, job_id, options.interval)
                    _results(session, env, job, options.output, options.answers)
    finally:
        checked.close()


def _write_mistral_lines(checked: Any, options: SubmitOptions, defaults: Defaults,
                         path: Path) -> int:  # fmt: skip
    """Mistral's {custom_id, body} lines of the checked input; how many name no model."""
    without_model = 0
    with path.open("w", encoding="utf-8") as out:
        for request in requests(checked, options.endpoint, plain=options.plain,
                                defaults=defaults):  # fmt: skip
            if "model" not in request.body:
                without_model += 1
            line = {"custom_id": request.custom_id, "body": request.body}
            out.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
    return without_model


def _jsonl_name(name: str) -> str:
    return name if name.endswith(".jsonl") else name + ".jsonl"


def _check_metadata(metadata: dict[str, str]) -> None:
    for key, value in metadata.items():
        if not key or len(key) > 32:
            raise UsageError(f"--metadata key {key!r} must be 1 to 32 characters")
        if len(value) > 512:
            raise UsageError(f"--metadata value of {key} must be at most 512 characters")


def parse_metadata(items: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"--metadata takes KEY=VALUE, not {item!r}")
        found[key.strip()] = value
    return found


def _field(obj: Any, name: str) -> str:
    if not isinstance(obj, dict) or not isinstance(obj.get(name), str):
        raise BadResponse(f"the batch service's answer has no {name!r}")
    return str(obj[name])


# -- status, wait, cancel, list -----------------------------------------------------------------
def status(conn: Connection, job_id: str, json_output: bool) -> None:
    check_job_id(job_id)
    env = Environment.from_process(debug=conn.debug)
    with service(conn, env) as session:
        job = _get(session, job_id)
    if json_output:
        env.out(json.dumps(job, ensure_ascii=False, indent=2) + "\n")
    else:
        env.out(describe(job))


def wait(conn: Connection, job_id: str, interval: float | None, json_output: bool) -> None:
    check_job_id(job_id)
    env = Environment.from_process(debug=conn.debug)
    with service(conn, env) as session:
        job = _wait(session, env, job_id, interval)
    if json_output:
        env.out(json.dumps(job, ensure_ascii=False, indent=2) + "\n")
    raise_for_end(job)


def cancel(conn: Connection, job_id: str, json_output: bool) -> None:
    check_job_id(job_id)
    env = Environment.from_process(debug=conn.debug)
    with service(conn, env) as session:
        job = session.client.post_json(f"batch/jobs/{job_id}/cancel", {})
    if json_output:
        env.out(json.dumps(job, ensure_ascii=False, indent=2) + "\n")
    else:
        env.out(f"{job_id} {job.get('status')}\n")


def _forget(session: Any, env: Environment, file_id: str) -> None:
    """The uploaded file of a job that could not be created is deleted (else it stays on the
    service); if even that fails, its id is said."""
    try:
        session.client.delete_json(f"files/{file_id}")
    except CliError:
        env.warn(f"the uploaded file {file_id} stays on the service (no job uses it)")


STATUSES = ("QUEUED", "RUNNING", "SUCCESS", "FAILED", "TIMEOUT_EXCEEDED",
            "CANCELLATION_REQUESTED", "CANCELLED")  # fmt: skip


def list_jobs(conn: Connection, statuses: list[str], json_output: bool) -> None:
    unknown = [s for s in statuses if s not in STATUSES]
    if unknown:
        raise UsageError(f"--status takes {', '.join(STATUSES)} (got {', '.join(unknown)})")
    env = Environment.from_process(debug=conn.debug)
    params: dict[str, Any] = {"status": statuses} if statuses else {}
    with service(conn, env) as session:
        listing = session.client.get_json("batch/jobs", params=params)
    if json_output:
        env.out(json.dumps(listing, ensure_ascii=False, indent=2) + "\n")
        return
    jobs = listing.get("data") if isinstance(listing, dict) else None
    for job in jobs or []:
        if isinstance(job, dict):
            done = f"{job.get('completed_requests', 0)}/{job.get('total_requests', 0)}"
            created = _when(job.get("created_at"))
            env.out(f"{job.get('id')}\t{job.get('status')}\t{job.get('model') or ''}\t"
                    f"{done}\t{created}\n")  # fmt: skip


def check_job_id(job_id: str) -> None:
    """A job id is letters, digits, '-' and '_' (a UUID on La Plateforme): anything else would
    reach another route of the API once put in the URL."""
    import re

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}", job_id):
        raise UsageError(
            f"{job_id!r} is not a batch job id",
            hint="list the jobs with 'outscale-cli batch list'",
        )


def _get(session: Any, job_id: str) -> dict[str, Any]:
    job = session.client.get_json(f"batch/jobs/{job_id}")
    if not isinstance(job, dict) or "status" not in job:
        raise BadResponse("the batch service's job has no status")
    return job


def _wait(session: Any, env: Environment, job_id: str, interval: float | None) -> dict[str, Any]:
    """Poll until the job is no longer in flight; Ctrl-C stops waiting, not the job."""
    started = time.monotonic()
    pause = interval or FIRST_INTERVAL
    bar = _Bar(env)
    try:
        while True:
            job = _get(session, job_id)
            bar.show(job, time.monotonic() - started)
            if job.get("status") not in IN_FLIGHT:
                break
            time.sleep(pause)
            if interval is None:
                pause = min(LONGEST_INTERVAL, pause * 1.5)
    except KeyboardInterrupt as exc:
        bar.stop()
        from outscale_cli.errors import interruption

        error = interruption(exc)
        error.message = f"stopped waiting; the job {job_id} goes on"
        error.hint = (
            f"wait again with 'outscale-cli batch wait {job_id}', "
            f"or cancel it with 'outscale-cli batch cancel {job_id}'"
        )
        raise error from None
    bar.stop()
    env.info(_summary(job, time.monotonic() - started))
    return job


class _Bar:
    """A progress bar on a terminal (done/total, succeeded, failed, elapsed); nothing else."""

    def __init__(self, env: Environment) -> None:
        self._bar: Any = None
        self._task: Any = None
        if env.stderr_isatty:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as Bar

            self._bar = Bar(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[ok]} succeeded, {task.fields[failed]} failed"),
                TimeElapsedColumn(), console=Console(file=env.stderr),
            )  # fmt: skip
            self._bar.start()
            self._task = self._bar.add_task("batch", total=None, ok=0, failed=0)

    def show(self, job: dict[str, Any], elapsed: float) -> None:
        if self._bar is None:
            return
        self._bar.update(
            self._task,
            description=f"batch {job.get('status', '?')}",
            total=job.get("total_requests") or None,
            completed=job.get("completed_requests") or 0,
            ok=job.get("succeeded_requests") or 0,
            failed=job.get("failed_requests") or 0,
        )

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def raise_for_end(job: dict[str, Any]) -> None:
    """The exit status of a finished job (see the module's docstring)."""
    status_name = str(job.get("status"))
    failed = job.get("failed_requests") or 0
    if status_name == "SUCCESS":
        if failed:
            raise PartialFailure(
                f"the job {job.get('id')} ended SUCCESS with {failed} failed requests: their "
                "records hold the errors"
            )
        return
    errors = "; ".join(
        f"{e.get('message')}" + (f" (x{e['count']})" if e.get("count", 1) != 1 else "")
        for e in job.get("errors") or []
        if isinstance(e, dict)
    )
    raise ServerError(
        f"the job {job.get('id')} ended {status_name}" + (f": {errors}" if errors else ""),
        hint="see 'outscale-cli batch status ID' and 'batch results ID' for what was done",
    )


def describe(job: dict[str, Any]) -> str:
    lines = [
        f"job          {job.get('id')}",
        f"status       {job.get('status')}",
        f"requests     {job.get('completed_requests', 0)} of {job.get('total_requests', 0)} "
        f"done: {job.get('succeeded_requests', 0)} succeeded, "
        f"{job.get('failed_requests', 0)} failed",
        f"model        {job.get('model') or '-'}",
        f"endpoint     {job.get('endpoint')}",
        f"created      {_when(job.get('created_at'))}",
        f"started      {_when(job.get('started_at'))}",
        f"completed    {_when(job.get('completed_at'))}",
        f"output file  {job.get('output_file') or '-'}",
        f"error file   {job.get('error_file') or '-'}",
    ]
    if job.get("metadata"):
        lines.append(f"metadata     {json.dumps(job['metadata'], ensure_ascii=False)}")
    for error in job.get("errors") or []:
        if isinstance(error, dict):
            lines.append(f"error        {error.get('message')} (x{error.get('count', 1)})")
    return "\n".join(lines) + "\n"


def _when(stamp: Any) -> str:
    if not isinstance(stamp, int):
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(stamp))


def _summary(job: dict[str, Any], elapsed: float) -> str:
    return (
        f"batch: job {job.get('id')} {job.get('status')}, {job.get('total_requests', 0)} "
        f"requests, {job.get('succeeded_requests', 0)} succeeded, "
        f"{job.get('failed_requests', 0)} failed, waited {elapsed:.0f}s"
    )


# -- results ---------------------------------------------------------------------------------------
def results(conn: Connection, job_id: str, output: Path | None, answers: bool) -> None:
    check_job_id(job_id)
    env = Environment.from_process(debug=conn.debug)
    with service(conn, env) as session:
        job = _get(session, job_id)
        if job.get("status") in IN_FLIGHT:
            raise UsageError(
                f"the job {job_id} is still {job.get('status')}: its results are not there yet",
                hint=f"wait for it: outscale-cli batch wait {job_id}",
            )
        _results(session, env, job, output, answers)


def _results(session: Any, env: Environment, job: dict[str, Any], output: Path | None,
             answers: bool) -> None:  # fmt: skip
    """Download the job's output and error files, write them as one JSONL (batch run's
    format, every custom_id once), and end with the job's exit status."""
    from outscale_cli.batch.output import Writer

    job_id = str(job.get("id"))
    if output is not None:
        try:
            with open(output, "wb"):
                pass
        except OSError as exc:
            raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
    writer = Writer(output, answers=answers, run_id=job_id[:12])
    seen = IdStore()
    odd = failed = 0
    try:
        with tempfile.TemporaryDirectory(prefix="outscale-results-") as folder:
            for key in ("output_file", "error_file"):
                file_id = job.get(key)
                if not isinstance(file_id, str) or not file_id:
                    continue
                path = Path(folder) / key
                with path.open("wb") as into:
                    session.client.download(f"files/{file_id}/content", into)
                lines, errors = _merge(path, writer, seen, job_id, answers, env)
                odd, failed = odd + lines, failed + errors
    finally:
        seen.close()
        writer.close()
    if odd:
        env.warn(f"{odd} lines of the job's files could not be read: kept as they are")
    raise_for_end(job)
    if failed:  # the job's counters said none: its records say otherwise
        raise PartialFailure(
            f"the job {job_id} ended SUCCESS, and {failed} of its records hold errors",
            hint="see them in the records' error field",
        )


def _merge(path: Path, writer: Any, seen: IdStore, job_id: str, answers: bool,
           env: Environment) -> tuple[int, int]:  # fmt: skip
    """Write each record of one downloaded file; (how many lines could not be parsed, how
    many records hold an error)."""
    odd = failed = 0
    with path.open("rb") as handle:
        for raw in handle:
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
                custom_id = record["custom_id"]
                if not isinstance(custom_id, str):
                    raise TypeError
            except (ValueError, RecursionError, KeyError, TypeError):
                odd += 1
                writer.write_raw(raw if raw.endswith(b"\n") else raw + b"\n")
                continue
            if seen.add(custom_id, 0) is not None:
                env.warn(f"custom_id {custom_id!r} is in the job's files twice: kept once")
                continue
            outcome = _outcome(record, job_id)
            failed += outcome.error is not None
            writer.write(outcome)
    return odd, failed


def _outcome(record: dict[str, Any], job_id: str) -> Outcome:
    """One line of Mistral's output or error file as our record; failed when its `error` is a
    string or an object, or its status is 400 or more (as Mistral's own helper reads it)."""
    response = record.get("response") if isinstance(record.get("response"), dict) else None
    status = response.get("status_code") if response else None
    body = response.get("body") if response else None
    raw_error = record.get("error")
    error: CliError | None = None
    if raw_error not in (None, {}, "") or (isinstance(status, int) and status >= 400):
        message = raw_error if isinstance(raw_error, str) else None
        if isinstance(raw_error, dict):
            message = str(raw_error.get("message") or raw_error)
        from outscale_cli.errors import message_from_object

        message = message or message_from_object(body) or "the request failed"
        if isinstance(status, int):
            error = ServerError(f"{status}: {message}", http_status=status)
        else:  # the service's own words for a request it could not carry out
            error = ServerError(message)
    outcome = Outcome(str(record["custom_id"]), status if isinstance(status, int) else None,
                      body, error, "", 0, origin={"job": job_id})  # fmt: skip
    if isinstance(record.get("id"), str):
        outcome.record_id = record["id"]
    if error is None and isinstance(body, dict):
        from outscale_cli.stream import Completion

        completion = Completion()
        try:
            completion.add_response(body)
            outcome.text, outcome.finish_reason = completion.text, completion.finish_reason
            outcome.usage = completion.usage
        except BadResponse:
            pass
    return outcome
