"""outscale-cli batch: a file of requests, run here across deployments (`batch run`)."""

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from outscale_cli.commands.options import (
    Connection,
    MaxTokens,
    Seed,
    Stop,
    Temperature,
    TopP,
    complete_profiles,
    with_connection,
    with_connection_but_profile,
)

app = typer.Typer(
    help="Batches of requests in Mistral's batch file format.",
    no_args_is_help=True,
    add_completion=False,
)

Endpoint = Annotated[
    str,
    typer.Option("--endpoint", metavar="chat|fim", help="The endpoint every line is for"),
]
Source = Annotated[
    str, typer.Argument(metavar="INPUT", help="The JSONL file of requests (- for stdin)")
]
Lines = Annotated[bool, typer.Option("--lines", help="Every non-empty line of INPUT is one prompt")]
System = Annotated[
    Optional[str],  # noqa: UP045 - typer reads these annotations at run time
    typer.Option(
        "--system", "-s", metavar="TEXT", help="System message for --lines and short-form lines"
    ),
]
MinTokens = Annotated[
    Optional[int],  # noqa: UP045
    typer.Option("--min-tokens", help="Shortest answer (fim)", show_default=False),
]
Output = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option("--output", "-o", metavar="FILE", help="Write the records here, not stdout"),
]
Answers = Annotated[
    bool,
    typer.Option("--answers", help="Write {custom_id, answer, finish_reason, usage} records"),
]


@app.command("run")
@with_connection_but_profile
def run(
    source: Source,
    output: Output = None,
    lines: Lines = False,
    endpoint: Endpoint = "chat",
    profile: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option(
            "--profile",
            "-p",
            metavar="NAME",
            help="A deployment (a profile of the config file); repeat to spread the work",
            autocompletion=complete_profiles,
        ),
    ] = None,
    spread: Annotated[
        bool, typer.Option("--spread", help="Spread over every profile serving the model")
    ] = False,
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-j", metavar="N", help="Requests in flight, each")
    ] = 4,
    rate: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option("--rate", metavar="N", help="At most N requests a second", show_default=False),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Complete -o FILE: send only what it lacks")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check the input, count it, show line 1's request")
    ] = False,
    unordered: Annotated[
        bool, typer.Option("--unordered", help="Write each record as soon as it is done")
    ] = False,
    answers: Answers = False,
    system: System = None,
    temperature: Temperature = None,
    top_p: TopP = None,
    max_tokens: MaxTokens = None,
    min_tokens: MinTokens = None,
    stop: Stop = None,
    seed: Seed = None,
    *,
    conn: Connection,
) -> None:
    """Run every request of INPUT here, concurrently, across deployments; resumable."""
    from outscale_cli import startup

    if not dry_run:  # the HTTP engine loads while the input is checked (startup.py)
        startup.load_in_thread("httpx_aiohttp")
    from outscale_cli.batch.run import BatchOptions, run_batch

    options = BatchOptions(
        source=source,
        output=output,
        plain=lines,
        endpoint=endpoint,
        profiles=list(profile or []),
        spread=spread,
        concurrency=concurrency,
        rate=rate,
        resume=resume,
        dry_run=dry_run,
        ordered=not unordered,
        answers=answers,
        system=system,
        sampling=_sampling(
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens,
            min_tokens=min_tokens,
            stop=stop,
            seed=seed,
        ),
    )
    run_batch(conn, options)


def _sampling(**flags: Any) -> dict[str, Any]:
    """The flags given, as API fields (checked like chat's and fim's)."""
    from outscale_cli.wire import Sampling

    sampling = Sampling(
        temperature=flags["temperature"],
        top_p=flags["top_p"],
        max_tokens=flags["max_tokens"],
        min_tokens=flags["min_tokens"],
        stop=tuple(flags["stop"] or ()),
        seed=flags["seed"],
    )
    sampling.check()
    return sampling.fields()


# -- Mistral's batch service ------------------------------------------------------------------
JobId = Annotated[str, typer.Argument(metavar="JOB_ID", help="The batch job's id")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the job object as JSON")]
Interval = Annotated[
    Optional[float],  # noqa: UP045
    typer.Option("--interval", metavar="SECONDS",
                 help="Poll every SECONDS (default: 1 s, growing to 30 s)", show_default=False),
]  # fmt: skip


@app.command("submit")
@with_connection
def submit(
    source: Source,
    lines: Lines = False,
    endpoint: Endpoint = "chat",
    metadata: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--metadata", metavar="KEY=VALUE", help="The job's metadata; repeatable"),
    ] = None,
    timeout_hours: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "--timeout-hours",
            metavar="N",
            help="The job's time limit (1 to 168)",
            show_default=False,
        ),
    ] = None,  # fmt: skip
    wait_for_it: Annotated[
        bool, typer.Option("--wait", help="Then wait for the job and write its results")
    ] = False,
    interval: Interval = None,
    output: Output = None,
    answers: Answers = False,
    json_output: JsonFlag = False,
    system: System = None,
    temperature: Temperature = None,
    top_p: TopP = None,
    max_tokens: MaxTokens = None,
    min_tokens: MinTokens = None,
    stop: Stop = None,
    seed: Seed = None,
    *,
    conn: Connection,
) -> None:
    """Upload INPUT to Mistral's batch service and start a job; prints the job id."""
    from outscale_cli.batch.service import SubmitOptions, parse_metadata
    from outscale_cli.batch.service import submit as run_submit

    options = SubmitOptions(
        source=source,
        plain=lines,
        endpoint=endpoint,
        system=system,
        sampling=_sampling(
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens,
            min_tokens=min_tokens,
            stop=stop,
            seed=seed,
        ),  # fmt: skip
        metadata=parse_metadata(metadata or []),
        timeout_hours=timeout_hours,
        json_output=json_output,
        wait=wait_for_it,
        interval=interval,
        output=output,
        answers=answers,
    )
    _check_interval(interval)
    run_submit(conn, options)


@app.command("status")
@with_connection
def status(job_id: JobId, json_output: JsonFlag = False, *, conn: Connection) -> None:
    """A job's status, counters, times and errors."""
    from outscale_cli.batch.service import status as show

    show(conn, job_id, json_output)


@app.command("wait")
@with_connection
def wait(
    job_id: JobId, interval: Interval = None, json_output: JsonFlag = False, *, conn: Connection
) -> None:
    """Wait until a job has finished (Ctrl-C stops waiting, not the job)."""
    from outscale_cli.batch.service import wait as run_wait

    _check_interval(interval)
    run_wait(conn, job_id, interval, json_output)


@app.command("results")
@with_connection
def results(
    job_id: JobId, output: Output = None, answers: Answers = False, *, conn: Connection
) -> None:
    """Download a finished job's results, in batch run's output format."""
    from outscale_cli.batch.service import results as fetch

    fetch(conn, job_id, output, answers)


@app.command("cancel")
@with_connection
def cancel(job_id: JobId, json_output: JsonFlag = False, *, conn: Connection) -> None:
    """Ask the service to cancel a job."""
    from outscale_cli.batch.service import cancel as run_cancel

    run_cancel(conn, job_id, json_output)


@app.command("list")
@with_connection
def list_jobs(
    status_filter: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--status", metavar="STATUS", help="Only jobs in this status; repeatable"),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="The list object as JSON")] = False,
    *,
    conn: Connection,
) -> None:
    """The batch jobs: id, status, model, done/total, created."""
    from outscale_cli.batch.service import list_jobs as run_list

    run_list(conn, [s.upper() for s in status_filter or []], json_output)


def _check_interval(interval: Optional[float]) -> None:  # noqa: UP045
    from outscale_cli.errors import UsageError

    if interval is not None and not 0.1 <= interval <= 3600:  # also refuses nan
        raise UsageError(f"--interval takes 0.1 to 3600 seconds (got {interval:g})")
