"""outscale-cli models: what the server serves (or every profile's server)."""

from typing import Annotated

import typer

from outscale_cli.commands.options import Connection, with_connection


@with_connection
def models(
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the server's list object as received")
    ] = False,
    all_profiles: Annotated[
        bool, typer.Option("--all", help="List the models of every profile, concurrently")
    ] = False,
    *,
    conn: Connection,
) -> None:
    """List the served models (one id per line when piped, a table on a terminal)."""
    import json
    from typing import Any

    from outscale_cli.commands.run import (
        concurrently,
        every_profile,
        fleet_failure,
        model_cards,
        open_session,
        settings_of,
    )
    from outscale_cli.console import Environment
    from outscale_cli.errors import CliError, Interrupted, ServerError, UsageError
    from outscale_cli.settings import Settings

    env = Environment.from_process(debug=conn.debug)

    def fetch(settings: Settings) -> Any:
        with open_session(env, settings, mock=conn.mock, command="models") as s:
            try:
                return s.list_models()
            except ServerError as exc:
                if exc.http_status in (404, 405):
                    exc.message = (
                        f"{exc.message.split(':')[0]}: the server at {s.settings.shown_url} "
                        "does not list its models (Outscale deployments do not serve /v1/models)"
                    )
                    exc.hint = "use 'outscale-cli ping' to check that the deployment answers"
                raise

    if not all_profiles:
        listing = fetch(settings_of(conn))
        if json_output:
            env.out(json.dumps(listing, ensure_ascii=False, indent=2) + "\n")
        elif env.stdout_isatty:
            from outscale_cli.render import print_models_table

            print_models_table(env.stdout, model_cards(listing))
        else:
            env.out("".join(f"{card['id']}\n" for card in model_cards(listing)))
        return

    if conn.mock:
        raise UsageError("--all lists the profiles of the config file: drop --mock")
    every = every_profile(conn)
    results: dict[str, tuple[Any, CliError | None]] = {}

    def attempt(name: str, found: Settings | CliError) -> None:
        if isinstance(found, CliError):
            results[name] = (None, found)
            return
        try:
            results[name] = (fetch(found), None)
        except CliError as exc:
            results[name] = (None, exc)

    interrupted: KeyboardInterrupt | None = None
    try:
        concurrently([lambda n=n, f=f: attempt(n, f) for n, f in every])  # type: ignore[misc]
    except KeyboardInterrupt as exc:  # keep the results already in
        interrupted = exc
    failures: list[tuple[str, CliError]] = []
    lines: list[str] = []
    for name, found in every:
        listing, error = results.get(name, (None, Interrupted("interrupted before it answered")))
        if error is not None or isinstance(found, CliError):
            assert error is not None
            failures.append((name, error))
            if json_output:  # stdout carries each failure; stderr only the final error
                record: dict[str, Any] = {"profile": name, "error": error.message}
                lines.append(json.dumps(record) + "\n")
            elif not isinstance(error, Interrupted):
                env.error(f"profile {name}: {error.message}")
            continue
        if json_output:
            record = {"profile": name, "server_url": found.shown_url}
            lines.append(json.dumps({**record, "models": listing}, ensure_ascii=False) + "\n")
        else:
            ids = [card["id"] for card in model_cards(listing)]
            lines.extend(f"{name}\t{model_id}\n" for model_id in ids)
    env.out("".join(lines))
    if interrupted is not None:
        raise interrupted
    if failures:
        raise fleet_failure(failures, len(every), "failed")
