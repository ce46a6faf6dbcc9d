"""outscale-cli ping: the CI smoke check of one deployment."""

from typing import Annotated

import typer

from outscale_cli.commands.options import Connection, with_connection


@with_connection
def ping(
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON object: ok, server_url, model, ...")
    ] = False,
    *,
    conn: Connection,
) -> None:
    """Check that the server answers and serves the model (exit 0 when healthy)."""
    import json
    import time
    from typing import Any

    from outscale_cli.commands.run import find_model, model_cards, session, single_model
    from outscale_cli.console import Environment
    from outscale_cli.errors import CliError, ConfigError, ModelNotServed, ServerError

    env = Environment.from_process(debug=conn.debug)
    report: dict[str, Any] = {
        "ok": False,
        "server_url": None,
        "model": None,
        "check": None,
        "latency_ms": None,
    }
    try:
        with session(env, conn, command="ping", default_retries=0) as s:
            report["server_url"] = s.settings.server_url
            wanted = s.settings.model
            report["model"] = wanted
            started = time.perf_counter()
            try:
                report["check"] = "models"
                cards = model_cards(s.list_models())
            except ServerError as exc:
                if exc.http_status not in (404, 405):
                    raise
                # No /v1/models (Outscale): prove the model with a one-token completion.
                report["check"] = "chat"
                if not wanted:
                    raise ConfigError(
                        "no model set: set OUTSCALE_MODEL_NAME or pass -m "
                        "(the server does not list its models)"
                    ) from None
                started = time.perf_counter()
                s.client.post_json(
                    "chat/completions",
                    {
                        "model": wanted,
                        "messages": [{"role": "user", "content": "ping"}],
                        "max_tokens": 1,
                    },
                )
            else:
                found = find_model(cards, wanted) if wanted else single_model(cards)
                ids = ", ".join(c["id"] for c in cards) or "nothing"
                if found is None and wanted:
                    raise ModelNotServed(
                        f"model {wanted} is not served at {s.settings.server_url}; "
                        f"it serves: {ids}",
                        hint="pick one of those with -m, or check OUTSCALE_MODEL_NAME",
                    )
                if found is None:
                    raise ConfigError(
                        "no model set: set OUTSCALE_MODEL_NAME or pass -m; "
                        f"the server serves: {ids}"
                    )
                report["model"] = found
            report["latency_ms"] = round((time.perf_counter() - started) * 1000)
            report["ok"] = True
    except CliError as exc:
        if json_output:
            report["error"] = exc.message
            env.out(json.dumps(report) + "\n")
        raise
    if json_output:
        env.out(json.dumps(report) + "\n")
    else:
        env.out(
            f"ok {report['model']} at {report['server_url']} "
            f"({report['check']}, {report['latency_ms']} ms)\n"
        )
