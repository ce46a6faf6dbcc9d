"""outscale-cli chat: one question, one answer."""

from pathlib import Path
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
    no_stdin: NoStdin = False,
    max_input_bytes: MaxInputBytes = 4 * MIB,
    temperature: Temperature = None,
    top_p: TopP = None,
    max_tokens: MaxTokens = None,
    stop: Stop = None,
    seed: Seed = None,
    safe_prompt: Annotated[
        bool, typer.Option("--safe-prompt", help="Prepend Mistral's safety prompt")
    ] = False,
    presence_penalty: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option("--presence-penalty", help="-2 to 2", show_default=False),
    ] = None,
    frequency_penalty: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option("--frequency-penalty", help="-2 to 2", show_default=False),
    ] = None,
    json_mode: Annotated[
        bool,
        typer.Option("--json-mode", help="Ask for a JSON object (response_format json_object)"),
    ] = False,
    json_schema: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--json-schema",
            metavar="FILE",
            help="Ask for JSON following this schema file",
            show_default=False,
        ),
    ] = None,
    stream: Stream = True,
    json_output: JsonOutput = False,
    usage: Usage = False,
    show_thinking: Annotated[
        bool, typer.Option("--show-thinking", help="Write the model's reasoning to stderr")
    ] = False,
    plain: Annotated[
        bool, typer.Option("--plain", help="No Markdown rendering on a terminal")
    ] = False,
    continue_: Annotated[
        bool, typer.Option("--continue", "-c", help="Continue the last conversation")
    ] = False,
    cid: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--cid", metavar="ID|NAME", help="Continue this conversation"),
    ] = None,
    name: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--name", metavar="NAME", help="Start a conversation with this name"),
    ] = None,
    no_log: Annotated[bool, typer.Option("--no-log", help="Do not record this exchange")] = False,
    interactive: Annotated[
        bool, typer.Option("--interactive", "-i", help="An interactive session (a terminal)")
    ] = False,
    *,
    conn: Connection,
) -> None:
    """Ask a question and print the answer (streamed, Markdown on a terminal)."""
    from outscale_cli.commands.run import Output, conversation_of, session, turn_in
    from outscale_cli.console import Environment
    from outscale_cli.inputs import (
        Source,
        check_arguments,
        check_limit,
        check_size,
        join_prompt,
        read_file,
        read_stdin,
        stdin_available,
    )
    from outscale_cli.recording import with_system
    from outscale_cli.wire import Sampling, chat_body, response_format

    env = Environment.from_process(debug=conn.debug)
    check_limit(max_input_bytes)
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
        response_format=response_format(json_mode, json_schema, max_input_bytes),
    )
    sampling.check()
    recorder, continued = conversation_of(
        env, conn, continue_=continue_, cid=cid, name=name, no_log=no_log
    )
    if continued is not None:
        if conn.model is None and continued.model:
            conn = conn._replace(model=continued.model)  # its model, unless given again
        conn = _its_profile(conn, continued.profile)
        continued = continued._replace(messages=with_system(continued.messages, system))
    if interactive:
        from outscale_cli.errors import UsageError
        from outscale_cli.repl import run_session

        given = {
            "the PROMPT argument": prompt is not None,
            "-f/--file": bool(file),
            "--json": json_output,
            "--usage": usage,
            "--prefix": prefix is not None,
        }
        if any(given.values()):
            dropped = ", ".join(name for name, on in given.items() if on)
            raise UsageError(f"chat -i takes its questions at its own prompt: drop {dropped}",
                             hint="or ask without -i: outscale-cli chat 'QUESTION'")  # fmt: skip

        terminal = Output(stream=stream, plain=plain, show_thinking=show_thinking)
        run_session(env, conn, sampling=sampling, system=system, recorder=recorder,
                    continued=continued, out=terminal)  # fmt: skip
        return
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
            s.model(), text, system=system, prefix=prefix, sampling=sampling, stream=stream,
            earlier=continued.messages if continued else None,
        )  # fmt: skip
        turn_in(s, "chat", body, text, out, recorder, continuing=continued is not None)


def _its_profile(conn: Connection, profile: str | None) -> Connection:
    """A continued conversation goes back to the deployment (profile) it was held with, unless
    this command names a deployment (-p, --server-url, OUTSCALE_PROFILE, OUTSCALE_SERVER_URL)
    or that profile is gone from the config file."""
    import os

    from outscale_cli.config import config_path, read_names
    from outscale_cli.errors import ConfigError

    chosen = conn.profile or conn.server_url or conn.mock
    if profile is None or chosen or os.environ.get("OUTSCALE_PROFILE"):
        return conn
    if os.environ.get("OUTSCALE_SERVER_URL"):
        return conn
    try:
        names = read_names(config_path(conn.config, os.environ))
    except ConfigError:
        return conn  # the settings, read next, say what is wrong with the file
    return conn._replace(profile=profile) if profile in names else conn
