"""outscale-cli ping: the CI smoke check of one deployment, or of every profile at once."""

from typing import Annotated, Optional

import typer

from outscale_cli.commands.options import Connection, with_connection


@with_connection
def ping(
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON object: ok, server_url, model, ...")
    ] = False,
    all_profiles: Annotated[
        bool, typer.Option("--all", help="Check every profile of the config file, concurrently")
    ] = False,
    wait: Annotated[
        Optional[float],  # noqa: UP045 - typer reads these annotations at run time
        typer.Option(
            "--wait",
            metavar="SECONDS",
            help="Keep trying until healthy or SECONDS have passed (a VM loading its model)",
            show_default=False,
        ),
    ] = None,
    *,
    conn: Connection,
) -> None:
    """Check that the server answers and serves the model (exit 0 when healthy)."""
    from outscale_cli.commands.health import Check, check_until, print_checks, verdict
    from outscale_cli.commands.run import every_profile, settings_of
    from outscale_cli.console import Environment
    from outscale_cli.errors import UsageError
    from outscale_cli.settings import MAX_SECONDS

    env = Environment.from_process(debug=conn.debug)
    if wait is not None and not 0 <= wait <= MAX_SECONDS:  # also refuses nan
        raise UsageError(f"--wait takes 0 to {MAX_SECONDS:,.0f} seconds (got {wait:g})")
    if all_profiles:
        if conn.mock:
            raise UsageError("--all checks the profiles of the config file: drop --mock")
        checks = [Check.of(name, found) for name, found in every_profile(conn)]
    else:
        checks = [Check(settings_of(conn), None, mock=conn.mock)]
    try:
        check_until(env, checks, wait or 0.0)
    except KeyboardInterrupt:
        if all_profiles:  # keep the results already in
            print_checks(env, checks, json_output=json_output, fleet=True)
        raise
    print_checks(env, checks, json_output=json_output, fleet=all_profiles)
    failure = verdict(checks, fleet=all_profiles)
    if failure is not None:
        raise failure
