"""The entry point (`outscale-cli`, `python -m outscale_cli`).

`--version` is answered before Typer is imported: a version check in a script should cost
no more than starting Python.
"""

import sys


def main() -> None:
    if sys.argv[1:] in (["--version"], ["-V"]):
        import os

        from outscale_cli import __version__

        try:  # one write(2), below the console module (its imports cost 40 ms)
            os.write(1, f"outscale-cli {__version__}\n".encode())
        except BrokenPipeError:
            return  # the reader went away: quiet, as every command
        except OSError as exc:  # closed, full, failing: exit 10, said as every command says it
            import errno

            from outscale_cli.app import report
            from outscale_cli.console import guard_streams
            from outscale_cli.errors import OutputFailed

            guard_streams()
            closed = exc.errno == errno.EBADF
            reason = "standard output is closed" if closed else exc.strerror or str(exc)
            sys.exit(report(OutputFailed(f"cannot write the answer: {reason}"), debug=False))
        return
    from outscale_cli import startup

    startup.pause()  # until the command's work begins (startup.py)
    from outscale_cli.app import app

    try:
        app()
    finally:
        startup.finish()  # what the command left running behind it (the history's close)


if __name__ == "__main__":
    main()
