"""outscale-cli models: what the server serves."""

from typing import Annotated

import typer

from outscale_cli.commands.options import Connection, with_connection


@with_connection
def models(
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the server's list object as received")
    ] = False,
    *,
    conn: Connection,
) -> None:
    """List the served models (one id per line when piped, a table on a terminal)."""
    import json

    from outscale_cli.commands.run import model_cards, session
    from outscale_cli.console import Environment
    from outscale_cli.errors import ServerError

    env = Environment.from_process(debug=conn.debug)
    with session(env, conn, command="models") as s:
        try:
            listing = s.list_models()
        except ServerError as exc:
            if exc.http_status in (404, 405):
                exc.message = (
                    f"{exc.message.split(':')[0]}: the server at {s.settings.server_url} "
                    "does not list its models (Outscale deployments do not serve /v1/models)"
                )
                exc.hint = "use 'outscale-cli ping' to check that the deployment answers"
            raise
        if json_output:
            env.out(json.dumps(listing, ensure_ascii=False, indent=2) + "\n")
            return
        cards = model_cards(listing)
        if env.stdout_isatty:
            from outscale_cli.render import print_models_table

            print_models_table(env.stdout, cards)
        else:
            env.out("".join(f"{card['id']}\n" for card in cards))
