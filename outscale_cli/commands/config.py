"""outscale-cli config: manage the profiles of the config file."""

from typing import Annotated, Any, Optional

import typer

from outscale_cli.commands.options import complete_profiles

app = typer.Typer(
    help="Manage the profiles of the config file (one per deployment).",
    no_args_is_help=True,
    add_completion=False,
)

ConfigFlag = Annotated[
    Optional[str],  # noqa: UP045 - typer reads these annotations at run time
    typer.Option("--config", metavar="PATH", help="The config file [env: OUTSCALE_CONFIG]"),
]
ProfileName = Annotated[
    str, typer.Argument(metavar="NAME", help="The profile", autocompletion=complete_profiles)
]


def _path(flag: Optional[str]) -> Any:  # noqa: UP045
    import os

    from outscale_cli.config import config_path

    return config_path(flag, os.environ)


def _env() -> Any:
    from outscale_cli.console import Environment

    return Environment.from_process()


@app.command("add")
def add(
    name: ProfileName,
    server_url: Annotated[
        str, typer.Option("--server-url", metavar="URL", help="The deployment's URL")
    ],
    model: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--model", "-m", metavar="ID", help="Its model id"),
    ] = None,
    api_key_env: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--api-key-env", metavar="VAR", help="Environment variable holding the key"),
    ] = None,
    api_key_cmd: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--api-key-cmd", metavar="CMD", help="Command printing the key (no shell)"),
    ] = None,
    timeout: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option("--timeout", metavar="SECONDS", help="Longest silence from the server"),
    ] = None,
    retries: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option("--retries", metavar="N", help="Retries of failed requests"),
    ] = None,
    header: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--header", "-H", metavar="'NAME: VALUE'", help="Extra header; repeatable"),
    ] = None,
    default: Annotated[bool, typer.Option("--default", help="Make it the default profile")] = False,
    config: ConfigFlag = None,
) -> None:
    """Add a profile, or update the settings given of an existing one."""
    from outscale_cli.config import profile_problem
    from outscale_cli.config_edit import add_profile
    from outscale_cli.errors import UsageError

    if api_key_env and api_key_cmd:
        raise UsageError("--api-key-env and --api-key-cmd exclude each other: choose one")
    if timeout is not None and timeout.is_integer() and abs(timeout) < 2**53:
        timeout = int(timeout)  # written as `timeout = 30`, as a person writes it
    values: dict[str, Any] = {"server_url": server_url}
    for key, value in (
        ("model", model),
        ("api_key_env", api_key_env),
        ("api_key_cmd", api_key_cmd),
        ("timeout", timeout),
        ("retries", retries),
    ):
        if value is not None:
            values[key] = value
    if header:
        headers = {}
        for item in header:
            key, sep, value = item.partition(":")
            if not sep or not key.strip():
                raise UsageError(f"--header takes 'NAME: VALUE', not {item!r}")
            headers[key.strip()] = value.strip()
        values["headers"] = headers
    # What the reader would refuse is refused here, before anything is written.
    problem = profile_problem({"name": name, **values})
    if problem is not None:
        key, reason = problem
        shown = name if key == "name" else values.get(key)
        raise UsageError(f"invalid value {str(shown)!r} for {ADD_FLAGS.get(key, key)}: {reason}")
    path = _path(config)
    existed = add_profile(path, name, values, default)
    _env().info(f"{'updated' if existed else 'added'} profile {name} in {path}")


ADD_FLAGS = {
    "name": "the profile NAME",
    "server_url": "--server-url",
    "model": "--model",
    "api_key_env": "--api-key-env",
    "api_key_cmd": "--api-key-cmd",
    "timeout": "--timeout",
    "retries": "--retries",
    "headers": "--header",
}


@app.command("remove")
def remove(name: ProfileName, config: ConfigFlag = None) -> None:
    """Remove a profile."""
    from outscale_cli.config_edit import remove_profile

    path = _path(config)
    was_default = remove_profile(path, name)
    note = " (it was the default: no default profile now)" if was_default else ""
    _env().info(f"removed profile {name} from {path}{note}")


@app.command("default")
def default(name: ProfileName, config: ConfigFlag = None) -> None:
    """Make a profile the default one."""
    from outscale_cli.config_edit import set_default

    path = _path(config)
    set_default(path, name)
    _env().info(f"default profile: {name}")


@app.command("list")
def list_profiles(config: ConfigFlag = None) -> None:
    """List the profiles: name, server URL, model; * marks the default."""
    from outscale_cli.config import load_config
    from outscale_cli.settings import redact_url

    loaded = load_config(_path(config))
    rows = [
        (
            ("*" if name == loaded.default_profile else " ") + " " + name,
            str(redact_url(p.get("server_url")) or ""),
            str(p.get("model", "")),
        )
        for name, p in loaded.profiles.items()
    ]
    widths = [max((len(r[i]) for r in rows), default=0) for i in range(3)]
    _env().out(
        "".join(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]}".rstrip() + "\n" for r in rows)
    )


@app.command("path")
def path(config: ConfigFlag = None) -> None:
    """Print where the config file is (it may not exist yet)."""
    _env().out(f"{_path(config)}\n")


@app.command("show")
def show(
    profile: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--profile",
            "-p",
            metavar="NAME",
            help="Show this profile's effective settings",
            autocompletion=complete_profiles,
        ),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object")] = False,
    config: ConfigFlag = None,
) -> None:
    """Show each effective setting and where it comes from (env, profile, default)."""
    import json
    import os

    from outscale_cli.settings import describe_settings

    described = describe_settings({}, os.environ, profile=profile, config=config)
    env = _env()
    if json_output:
        env.out(json.dumps(described, indent=2) + "\n")
        return
    lines = [f"config file      {described['config_file']}"]
    chosen = described["profile"]
    lines.append(
        f"profile          {chosen} ({described['profile_source']})" if chosen else
        "profile          none (the environment alone)"
    )  # fmt: skip
    for key, item in described["settings"].items():
        value = "none" if item["value"] is None else str(item["value"])
        source = f"({item['source']})" if item["source"] else ""
        lines.append(f"{key:<16} {value} {source}".rstrip())
    env.out("\n".join(lines) + "\n")
