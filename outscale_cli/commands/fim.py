"""outscale-cli fim: fill in the middle, for code (Codestral)."""

from typing import Annotated, Optional

import typer

from outscale_cli.commands.options import (
    MIB,
    Connection,
    JsonOutput,
    MaxInputBytes,
    MaxTokens,
    NoStdin,
    Seed,
    Stop,
    Stream,
    Temperature,
    TopP,
    Usage,
    with_connection,
)


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
    no_stdin: NoStdin = False,
    max_input_bytes: MaxInputBytes = 4 * MIB,
    max_tokens: MaxTokens = None,
    min_tokens: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option("--min-tokens", help="Shortest answer, in tokens", show_default=False),
    ] = None,
    stop: Stop = None,
    temperature: Temperature = None,
    top_p: TopP = None,
    seed: Seed = None,
    stream: Stream = True,
    json_output: JsonOutput = False,
    usage: Usage = False,
    no_log: Annotated[bool, typer.Option("--no-log", help="Do not record this exchange")] = False,
    *,
    conn: Connection,
) -> None:
    """Complete code between a prompt and a suffix; prints exactly the completion."""
    from outscale_cli.commands.run import Output, conversation_of, session, turn_in
    from outscale_cli.console import Environment
    from outscale_cli.errors import UsageError
    from outscale_cli.inputs import (
        check_arguments,
        check_limit,
        check_size,
        read_file,
        read_stdin,
        split_at,
        stdin_available,
    )
    from outscale_cli.wire import Sampling, fim_body

    env = Environment.from_process(debug=conn.debug)
    check_limit(max_input_bytes)
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
    recorder, _ = conversation_of(env, conn, no_log=no_log)
    with session(env, conn, command="fim") as s:
        body = fim_body(s.model(), text, suffix=suffix, sampling=sampling, stream=stream)
        turn_in(s, "fim", body, text, out, recorder)
