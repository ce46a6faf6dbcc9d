"""outscale-cli completion: the shell completion scripts (also committed in completions/)."""

from typing import Annotated

import typer

COMPLETE_VAR = "_OUTSCALE_CLI_COMPLETE"
SHELLS = ("bash", "zsh", "fish")


def script(shell: str) -> str:
    """The completion script for `shell`, generated from the app by Typer."""
    from typer.completion import get_completion_script  # type: ignore[attr-defined]

    return get_completion_script(prog_name="outscale-cli", complete_var=COMPLETE_VAR, shell=shell)


def completion(
    shell: Annotated[str, typer.Argument(metavar="SHELL", help="bash, zsh or fish")],
) -> None:
    """Print the completion script for SHELL (see the README to install it)."""
    from outscale_cli.console import Environment
    from outscale_cli.errors import UsageError

    if shell not in SHELLS:
        raise UsageError(f"no completion for {shell!r}: choose one of {', '.join(SHELLS)}")
    Environment.from_process().out(script(shell) + "\n")
