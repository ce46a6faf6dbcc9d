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


@app.command("run")
@with_connection_but_profile
def run(
    source: Annotated[
        str, typer.Argument(metavar="INPUT", help="The JSONL file of requests (- for stdin)")
    ],
    output: Annotated[
        Optional[Path],  # noqa: UP045 - typer reads these annotations at run time
        typer.Option("--output", "-o", metavar="FILE", help="Write the records here, not stdout"),
    ] = None,
    lines: Annotated[
        bool, typer.Option("--lines", help="Every non-empty line of INPUT is one prompt")
    ] = False,
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
    answers: Annotated[
        bool,
        typer.Option("--answers", help="Write {custom_id, answer, finish_reason, usage} records"),
    ] = False,
    system: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--system", "-s", metavar="TEXT", help="System message for --lines and short-form lines"
        ),
    ] = None,
    temperature: Temperature = None,
    top_p: TopP = None,
    max_tokens: MaxTokens = None,
    min_tokens: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option("--min-tokens", help="Shortest answer (fim)", show_default=False),
    ] = None,
    stop: Stop = None,
    seed: Seed = None,
    *,
    conn: Connection,
) -> None:
    """Run every request of INPUT here, concurrently, across deployments; resumable."""
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
