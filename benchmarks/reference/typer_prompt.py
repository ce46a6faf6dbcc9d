"""Reference: the smallest interactive prompt a user would write on the same libraries as
`outscale-cli chat -i` (a Typer command that opens a prompt_toolkit session), for the time
to the prompt."""

import typer
from prompt_toolkit import PromptSession


def main() -> None:
    session: PromptSession[str] = PromptSession()
    while True:
        try:
            session.prompt("> ")
        except EOFError:
            return


if __name__ == "__main__":
    typer.run(main)
