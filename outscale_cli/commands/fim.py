"""outscale-cli fim: fill in the middle, for code (Codestral)."""

from typing import Annotated, Optional

import typer

from outscale_cli.commands.options import Connection, with_connection

SAMPLING = "Sampling"
OUTPUT = "Output"


@with_connection
def fim(
    prompt: Annotated[
        Optional[str],  # noqa: UP045 - typer reads these annotations at run time
        typer.Argument(
            metavar="PROMPT", help="The code before the gap (or use -f, --at or standard input)"
        ),
    ] = None,
    file: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--file", "-f", metavar="PATH", help="Read the code before the gap from a file"
        ),
    ] = None,
    suffix: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--suffix", metavar="TEXT", help="The code after the gap"),
    ] = None,
    suffix_file: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--suffix-file", metavar="PATH", help="Read the code after the gap from a file"
        ),
    ] = None,
    at: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--at",
            metavar="PATH:LINE[:COL]",
            help="Split a file there (1-based): before is the prompt, after the suffix",
        ),
    ] = None,
    no_stdin: Annotated[
        bool,
        typer.Option("--no-stdin", help="Never read standard input [env: OUTSCALE_NO_STDIN=1]"),
    ] = False,
    max_input_bytes: Annotated[
        int,
        typer.Option("--max-input-bytes", metavar="N", help="Refuse larger input (default 4 MiB)"),
    ] = 4 * 1024 * 1024,
    max_tokens: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "--max-tokens",
            help="Longest completion, in tokens",
            rich_help_panel=SAMPLING,
            show_default=False,
        ),
    ] = None,
    min_tokens: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "--min-tokens",
            help="Shortest completion, in tokens",
            rich_help_panel=SAMPLING,
            show_default=False,
        ),
    ] = None,
    stop: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option(
            "--stop",
            metavar="TEXT",
            help="Stop at TEXT; repeatable",
            rich_help_panel=SAMPLING,
            show_default=False,
        ),
    ] = None,
    temperature: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option(
            "--temperature", "-t", help="0 to 1.5", rich_help_panel=SAMPLING, show_default=False
        ),
    ] = None,
    top_p: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option(
            "--top-p",
            help="Nucleus sampling, above 0 up to 1",
            rich_help_panel=SAMPLING,
            show_default=False,
        ),
    ] = None,
    seed: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "--seed",
            help="Random seed, sent as random_seed",
            rich_help_panel=SAMPLING,
            show_default=False,
        ),
    ] = None,
    stream: Annotated[
        bool,
        typer.Option(
            "--stream/--no-stream",
            help="Stream the completion as it is written",
            rich_help_panel=OUTPUT,
        ),
    ] = True,
    json_output: Annotated[
        bool,
        typer.Option(
            "--json", help="Print the whole response object as JSON", rich_help_panel=OUTPUT
        ),
    ] = False,
    usage: Annotated[
        bool,
        typer.Option(
            "--usage",
            help="Tokens, time to first token and speed, on stderr",
            rich_help_panel=OUTPUT,
        ),
    ] = False,
    *,
    conn: Connection,
) -> None:
    """Complete code between a prompt and a suffix; prints exactly the completion."""
    import os

    from outscale_cli.commands.run import Output, complete, session
    from outscale_cli.console import Environment
    from outscale_cli.errors import UsageError
    from outscale_cli.inputs import (
        check_arguments,
        check_size,
        read_file,
        read_stdin,
        split_at,
        stdin_available,
    )
    from outscale_cli.wire import Sampling, fim_body

    env = Environment.from_process(debug=conn.debug)
    no_stdin = no_stdin or os.environ.get("OUTSCALE_NO_STDIN", "") not in ("", "0")
    check_arguments(**{"the PROMPT argument": prompt, "--suffix": suffix, "--stop": stop})
    sampling = Sampling(
        temperature=temperature,
        top_p=top_p,
        max_tokens=max_tokens,
        min_tokens=min_tokens,
        stop=tuple(stop or ()),
        seed=seed,
    )
    sampling.check()
    if suffix is not None and suffix_file is not None:
        raise UsageError("--suffix and --suffix-file exclude each other: choose one")
    given = [name for name, value in (("PROMPT", prompt), ("--file", file), ("--at", at)) if value]
    if len(given) > 1:
        raise UsageError(f"give the prompt one way only, not {' and '.join(given)}")
    if at is not None:
        if suffix is not None or suffix_file is not None:
            raise UsageError("--at gives the suffix already: drop --suffix/--suffix-file")
        text, suffix = split_at(at, env, max_input_bytes)
    elif prompt is not None:
        text = prompt
    elif file is not None:
        text = read_file(file, env, max_input_bytes).text
    elif stdin_available(env, no_stdin):
        text = read_stdin(env, max_input_bytes).text
    else:
        text = ""
    if suffix_file is not None:
        suffix = read_file(suffix_file, env, max_input_bytes).text
    check_size(len(text.encode()) + len((suffix or "").encode()), "the input", max_input_bytes)
    if not text and not suffix:
        raise UsageError(
            "the prompt is empty: give a PROMPT argument, -f FILE, --at PATH:LINE or stdin",
            hint='e.g. outscale-cli fim "def add(a, b):" --suffix "return c"',
        )

    out = Output(stream=stream, json=json_output, usage=usage, markdown=False)
    with session(env, conn, command="fim") as s:
        body = fim_body(s.model(), text, suffix=suffix, sampling=sampling, stream=stream)
        complete(s, "fim/completions", body, out)
