"""outscale-cli mock-server: run the stand-in deployment in the foreground."""

from pathlib import Path
from typing import Annotated, Optional

import typer


def mock_server(
    host: Annotated[str, typer.Option("--host", help="Address to listen on")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", help="Port to listen on (0: any free port)")
    ] = 8000,
    model: Annotated[
        Optional[list[str]],  # noqa: UP045 - typer reads these annotations at run time
        typer.Option(
            "--model",
            "-m",
            metavar="ID",
            help="A model to serve; repeatable "
            "(default: small-2409, codestral-2405, ministral-8b-2410)",
        ),
    ] = None,
    pace: Annotated[
        float, typer.Option("--pace", metavar="SECONDS", help="Delay between streamed tokens")
    ] = 0.02,
    latency: Annotated[
        float,
        typer.Option("--latency", metavar="SECONDS", help="Delay before each completion's answer"),
    ] = 0.0,
    jitter: Annotated[
        float,
        typer.Option("--jitter", metavar="SECONDS", help="...plus a random delay up to this"),
    ] = 0.0,
    batch_pace: Annotated[
        float,
        typer.Option(
            "--batch-pace",
            metavar="SECONDS",
            help="Batch service: seconds a job spends on each line",
        ),
    ] = 0.01,
    length: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option("--length", metavar="TOKENS", help="Pad or cut answers to this many tokens"),
    ] = None,
    fail_status: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "--fail-status",
            metavar="CODE",
            help="Answer completions and /v1/models with this HTTP error status",
        ),
    ] = None,
    fail_times: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "--fail-times", metavar="N", help="...only the first N times (default: always)"
        ),
    ] = None,
    retry_after: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--retry-after", metavar="VALUE", help="Retry-After header sent with failures"
        ),
    ] = None,
    break_after: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "--break-after", metavar="N", help="Drop streams after N tokens, without [DONE]"
        ),
    ] = None,
    no_models: Annotated[
        bool,
        typer.Option("--no-models", help="Answer 404 on /v1/models, as Outscale deployments do"),
    ] = False,
    api_key_env: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--api-key-env",
            metavar="VAR",
            help="Require the Bearer key held by this environment variable",
        ),
    ] = None,
    replay: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--replay",
            metavar="FILE",
            help="Answer chat requests with a recorded .sse or .json body",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Do not log requests")] = False,
) -> None:
    """Run the stand-in deployment (the same one --mock starts) until Ctrl-C."""
    import os
    import threading

    from outscale_cli import startup
    from outscale_cli.console import Environment
    from outscale_cli.errors import ConfigError, UsageError
    from outscale_cli.mock.server import DEFAULT_MODELS, MockConfig, MockServer, check_knobs

    env = Environment.from_process()
    check_knobs(port=port, pace=pace, length=length, latency=latency, jitter=jitter,
                batch_pace=batch_pace,
                fail_status=fail_status, fail_times=fail_times,
                break_after=break_after)  # fmt: skip
    key = None
    if api_key_env is not None:
        key = os.environ.get(api_key_env)
        if not key:
            raise ConfigError(f"--api-key-env names {api_key_env}, which is not set")
    if replay is not None and not replay.is_file():
        raise UsageError(f"--replay {replay}: no such file")
    config = MockConfig(
        models=tuple(model or DEFAULT_MODELS),
        pace=pace,
        length=length,
        latency=latency,
        jitter=jitter,
        batch_pace=batch_pace,
        fail_status=fail_status,
        fail_times=fail_times,
        retry_after=retry_after,
        break_after=break_after,
        no_models=no_models,
        api_key=key,
        replay=replay,
        log=not quiet,
        keep_records=False,  # nobody reads them here: a long run would only grow
    )
    try:
        server = MockServer(config, host, port)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    startup.loaded()  # the work begins (before the address is out: a script may stop it then)
    env.out(server.url + "\n")  # stdout: the address, for scripts (with --port 0 too)
    env.info(
        f"stand-in deployment serving {', '.join(config.models)} at {server.url} (Ctrl-C to stop)"
    )
    server.start()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass  # Ctrl-C is how this command is meant to end
    finally:
        server.stop()
