"""outscale-cli chat: one question, one answer."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from outscale_cli.commands.options import Connection, with_connection

SAMPLING = "Sampling"
OUTPUT = "Output"


@with_connection
def chat(
    prompt: Annotated[
        Optional[str],  # noqa: UP045 - typer reads these annotations at run time
        typer.Argument(
            metavar="PROMPT", help="The question; joined after -f files and standard input"
        ),
    ] = None,
    file: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option(
            "--file",
            "-f",
            metavar="PATH",
            help="Read prompt text from a file (- for stdin); repeatable",
        ),
    ] = None,
    system: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--system", "-s", metavar="TEXT", help="A system message, sent first"),
    ] = None,
    prefix: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--prefix",
            metavar="TEXT",
            help="Make the answer start with TEXT; print what follows it",
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
    max_tokens: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "--max-tokens",
            help="Longest answer, in tokens",
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
    seed: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "--seed",
            help="Random seed, sent as random_seed",
            rich_help_panel=SAMPLING,
            show_default=False,
        ),
    ] = None,
    safe_prompt: Annotated[
        bool,
        typer.Option(
            "--safe-prompt", help="Prepend Mistral's safety prompt", rich_help_panel=SAMPLING
        ),
    ] = False,
    presence_penalty: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option(
            "--presence-penalty", help="-2 to 2", rich_help_panel=SAMPLING, show_default=False
        ),
    ] = None,
    frequency_penalty: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option(
            "--frequency-penalty", help="-2 to 2", rich_help_panel=SAMPLING, show_default=False
        ),
    ] = None,
    json_mode: Annotated[
        bool,
        typer.Option(
            "--json-mode",
            help="Ask for a JSON object (response_format json_object)",
            rich_help_panel=SAMPLING,
        ),
    ] = False,
    json_schema: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--json-schema",
            metavar="FILE",
            help="Ask for JSON following this schema file",
            rich_help_panel=SAMPLING,
            show_default=False,
        ),
    ] = None,
    stream: Annotated[
        bool,
        typer.Option(
            "--stream/--no-stream",
            help="Stream the answer as it is written",
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
    show_thinking: Annotated[
        bool,
        typer.Option(
            "--show-thinking", help="Write the model's reasoning to stderr", rich_help_panel=OUTPUT
        ),
    ] = False,
    plain: Annotated[
        bool,
        typer.Option("--plain", help="No Markdown rendering on a terminal", rich_help_panel=OUTPUT),
    ] = False,
    *,
    conn: Connection,
) -> None:
    """Ask a question and print the answer (streamed, Markdown on a terminal)."""
    import os

    from outscale_cli.commands.run import Output, complete, session
    from outscale_cli.console import Environment
    from outscale_cli.inputs import (
        Source,
        check_arguments,
        check_size,
        join_prompt,
        read_file,
        read_stdin,
        stdin_available,
    )
    from outscale_cli.wire import Sampling, chat_body, response_format

    env = Environment.from_process(debug=conn.debug)
    no_stdin = no_stdin or os.environ.get("OUTSCALE_NO_STDIN", "") not in ("", "0")
    check_arguments(
        **{"the PROMPT argument": prompt, "--system": system, "--prefix": prefix, "--stop": stop}
    )
    sampling = Sampling(
        temperature=temperature,
        top_p=top_p,
        max_tokens=max_tokens,
        stop=tuple(stop or ()),
        seed=seed,
        safe_prompt=safe_prompt,
        presence_penalty=presence_penalty,
        frequency_penalty=frequency_penalty,
        response_format=response_format(json_mode, json_schema),
    )
    sampling.check()
    files = file or []
    sources = [read_file(path, env, max_input_bytes) for path in files]
    if "-" not in files and stdin_available(env, no_stdin):
        sources.append(read_stdin(env, max_input_bytes))
    if prompt is not None:
        sources.append(Source("the PROMPT argument", prompt))
    text = join_prompt(sources)
    check_size(len(text.encode()), "the prompt", max_input_bytes)

    out = Output(
        stream=stream,
        json=json_output,
        usage=usage,
        show_thinking=show_thinking,
        plain=plain,
        prefix=prefix,
    )
    with session(env, conn, command="chat") as s:
        body = chat_body(
            s.model(), text, system=system, prefix=prefix, sampling=sampling, stream=stream
        )
        complete(s, "chat/completions", body, out)
