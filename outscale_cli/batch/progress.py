"""How a batch shows its progress: a rich progress bar on stderr when stderr is a terminal
(done/total, failed, requests/s, tokens/s, ETA; one line per deployment when several), nothing
while it runs otherwise; and one summary line on stderr at the end when not on a terminal:

    batch: 10000 requests, 9998 ok, 2 failed, 41.2 req/s, 1m 3s
"""

from __future__ import annotations

import time
from typing import Any

from outscale_cli.batch.engine import Deployment, Tally
from outscale_cli.console import Environment


class Progress:
    def __init__(self, env: Environment, tally: Tally, deployments: list[Deployment]) -> None:
        self._env = env
        self._tally = tally
        self._deployments = deployments
        self._bar: Any = None
        self._tasks: list[Any] = []
        self._last = 0.0
        if env.stderr_isatty:
            self._start_bar()

    def _start_bar(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.progress import (
            Progress as Bar,
        )

        self._bar = Bar(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]} failed"),
            TextColumn("{task.fields[rps]:.1f} req/s"),
            TextColumn("{task.fields[tps]:,.0f} tok/s"),
            TimeRemainingColumn(),
            console=Console(file=self._env.stderr),
            transient=False,
        )
        self._bar.start()
        fields = {"failed": 0, "rps": 0.0, "tps": 0.0}
        self._tasks.append(self._bar.add_task("batch", total=self._tally.total, **fields))
        if len(self._deployments) > 1:
            for deployment in self._deployments:
                self._tasks.append(self._bar.add_task(f"  {deployment.name}", total=None, **fields))

    def update(self) -> None:
        """After each finished request (repaints are rich's business: a few a second)."""
        if self._bar is None:
            return
        now = time.monotonic()
        if now - self._last < 0.1 and self._tally.finished < self._tally.total:
            return
        self._last = now
        elapsed = max(now - self._tally.started, 1e-6)
        tally = self._tally
        self._bar.update(self._tasks[0], completed=tally.finished, failed=tally.failed,
                         rps=tally.finished / elapsed, tps=tally.tokens / elapsed)  # fmt: skip
        for task, deployment in zip(self._tasks[1:], self._deployments, strict=False):
            finished = deployment.done + deployment.failed
            state = " (out of rotation)" if now < deployment.down_until else ""
            self._bar.update(task, completed=finished, failed=deployment.failed,
                             rps=finished / elapsed, tps=deployment.tokens / elapsed,
                             description=f"  {deployment.name}{state}")  # fmt: skip

    def finish(self) -> None:
        if self._bar is not None:
            self._last = 0.0
            self.update()
            self._bar.stop()
            self._bar = None
        else:
            self._env.info(summary_line(self._tally))


def summary_line(tally: Tally) -> str:
    elapsed = time.monotonic() - tally.started
    rate = tally.finished / elapsed if elapsed > 0 else 0.0
    parts = [f"{tally.total} requests", f"{tally.ok} ok", f"{tally.failed} failed"]
    if tally.skipped:
        parts.append(f"{tally.skipped} done before")
    left = tally.total - tally.finished
    if left > 0:
        parts.append(f"{left} not sent")
    return f"batch: {', '.join(parts)}, {rate:.1f} req/s, {_duration(elapsed)}"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes}m {secs}s"
