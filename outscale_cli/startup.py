"""Start-up: what the program does so that a command's work begins sooner.

- The cyclic garbage collector waits while the program loads (pause, loaded). Loading typer,
  prompt_toolkit, pydantic-settings, httpx and aiohttp makes hundreds of thousands of objects
  that all live as long as the process. Each collection during the imports walks them all
  again and frees nothing: 10-15% of the time `chat -i` takes to show its prompt, and of
  `batch run`'s start (benchmarks/README.md, "Start-up and the collector"). So the entry point
  pauses the collector first thing, and it resumes, once, where a command's work begins: a
  client opened, a batch's engine started, the interactive prompt drawn, the stand-in
  serving; for the commands that load nothing more, as soon as they are built. What was
  loaded until then is frozen (`gc.freeze`): later collections walk only what the work makes,
  which also keeps them short in a long batch.
- An import that waits outside the interpreter runs in a thread (load_in_thread).
- Work the command need not wait for runs behind it, and the process waits for it before it
  ends (behind, finish): the history's close.
- The classes on a command's path are NamedTuples (immutable ones) or plain classes, not
  dataclasses: building a dataclass runs the compiler, 0.6-2.4 ms each here, and a chat's
  path had 13 of them (valgrind: 6.9 M instructions fewer for a chat without them).
"""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable


def pause() -> None:
    gc.disable()


def loaded() -> None:
    """The command has loaded what it needs: collections resume (once; a no-op after, and
    when nothing was paused, as in tests that call the app in-process)."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


_behind: list[threading.Thread] = []  # threads of work left behind, finished by finish()
BEHIND_WAIT = 10.0  # seconds the process waits for them at most, in all


def behind(work: Callable[[], object], name: str) -> None:
    """Run `work` in a thread while the command goes on; the process waits for it before it
    ends (finish()). Where no thread can be started, `work` runs now."""
    import threading

    _behind[:] = [t for t in _behind if t.is_alive()]
    thread = threading.Thread(target=work, name=name, daemon=True)
    try:
        thread.start()
    except RuntimeError:  # "can't start new thread"
        work()
        return
    _behind.append(thread)


def finish() -> None:
    """Wait for the work left behind, BEHIND_WAIT seconds at most. A signal meanwhile (Ctrl-C,
    SIGTERM) ends the wait and the process, with the command's own exit status: the work
    left behind is such that being cut short is safe (the history's close)."""
    if not _behind:
        return
    import signal
    import time

    try:  # (the command's own handler is gone by now: SIGTERM would kill, with its status)
        previous = signal.signal(signal.SIGTERM, _stop_waiting)
    except ValueError:  # not the main thread (an embedding test runner): leave it be
        previous = None
    deadline = time.monotonic() + BEHIND_WAIT
    try:
        while _behind:
            _behind.pop().join(max(0.0, deadline - time.monotonic()))
    except BaseException:  # noqa: BLE001, S110 - the command is over: nothing to say
        pass
    finally:
        _behind.clear()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _stop_waiting(signum: int, frame: object) -> None:
    raise SystemExit  # caught in finish(): the process ends with the command's status


def load_in_thread(module: str) -> None:
    """Import `module` in a daemon thread, beside what the command does meanwhile.

    Worth it where an import waits on something outside the interpreter: aiohttp builds two
    TLS contexts as it is imported, reading the system's CA store (~100 ms on our 2-core VM),
    and OpenSSL does that without the interpreter's lock, on the other core. Whoever imports
    the module later gets it from this thread (Python's import lock makes it wait, at worst);
    should it fail here, that import fails again and says why."""
    import importlib
    import threading

    def load() -> None:
        try:
            importlib.import_module(module)
        except Exception:  # noqa: BLE001, S110 - the later import reports it
            pass

    threading.Thread(target=load, name=f"load {module}", daemon=True).start()
