"""A request's task that raises something other than a failed request (a bug) stops the run
with it: reported as an internal error, never lost as "Task exception was never retrieved"."""

from __future__ import annotations

import asyncio
from collections import deque

from outscale_cli.batch.engine import Engine


def _bare_engine() -> Engine:
    engine = Engine.__new__(Engine)  # only what stopping needs
    engine._stop = None
    engine._slot_waiters = deque()
    engine._progress = []
    engine._stopped = None
    return engine


def test_a_task_that_raises_stops_the_run_with_its_exception() -> None:
    engine = _bare_engine()

    async def broken() -> None:
        raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")

    async def main() -> None:
        task = asyncio.create_task(broken())
        task.add_done_callback(engine._failed_task)
        await asyncio.gather(task, return_exceptions=True)
        await asyncio.sleep(0)  # the done callbacks run

    asyncio.run(main())
    assert isinstance(engine._stop, UnicodeEncodeError)


def test_a_task_that_ends_or_is_cancelled_does_not() -> None:
    engine = _bare_engine()

    async def fine() -> None:
        return None

    async def main() -> None:
        done = asyncio.create_task(fine())
        cancelled = asyncio.create_task(asyncio.sleep(10))
        for task in (done, cancelled):
            task.add_done_callback(engine._failed_task)
        cancelled.cancel()
        await asyncio.gather(done, cancelled, return_exceptions=True)
        await asyncio.sleep(0)

    asyncio.run(main())
    assert engine._stop is None
