"""The entry point (`outscale-cli`, `python -m outscale_cli`).

`--version` is answered before Typer is imported: a version check in a script should cost
no more than starting Python.
"""

import sys


def main() -> None:
    if sys.argv[1:] in (["--version"], ["-V"]):
        from outscale_cli import __version__
        from outscale_cli.console import guard_streams

        guard_streams()
        try:
            sys.stdout.write(f"outscale-cli {__version__}\n")
            sys.stdout.flush()
        except BaseException as exc:  # noqa: B036 - reported as every command reports
            from outscale_cli.app import report

            sys.exit(report(exc, debug=False))
        return
    from outscale_cli.app import app

    app()


if __name__ == "__main__":
    main()
