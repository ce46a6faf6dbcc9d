"""Sending a checked batch: concurrency, rate, retries, deployments, order, signals.

One asyncio loop. Each deployment (a profile: one VM) takes `-j` requests at a time. A request
follows the single-request retry policy (client.py): 429 and 5xx and connection failures are
retried, with the server's Retry-After or a jittered backoff; but a 429 with Retry-After pauses
its whole deployment, and a connection failure takes the deployment out of the rotation for a
while (1 s, doubling up to 30 s) and hands the request to another, without spending its
retries. A deployment failing UNREACHABLE_AFTER times in a row with nothing between is
unreachable; when every deployment is, the run stops (exit 4) rather than writing thousands of
error records: the file stays resumable.

Records are written in input order by default: finished records wait in a window until the
ones before them are written, and sending pauses while the window is full, so memory is
bounded whatever one slow request does. --unordered writes each as it finishes. Ctrl-C or
SIGTERM stops sending, gives what is in flight a few seconds, writes what finished and leaves
the rest to --resume.
"""

from __future__ import annotations

import asyncio
import json
import math
import select
import selectors
import signal
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from outscale_cli import startup
from outscale_cli.batch.output import Outcome, Writer
from outscale_cli.batch.reader import ROUTES, Request
from outscale_cli.client import (
    RETRY_STATUSES,
    Answer,
    AsyncClient,
    backoff_delay,
    retry_after_seconds,
)
from outscale_cli.console import Environment
from outscale_cli.errors import (
    BadResponse,
    CliError,
    ConnectionFailed,
    Expired,
    OutputFailed,
    Terminated,
)
from outscale_cli.settings import Settings

UNREACHABLE_AFTER = 3  # connection failures in a row, with no success between
COOLDOWN_FIRST, COOLDOWN_MOST = 1.0, 30.0
READY_A_TURN = 1  # ready connections the batch's loop handles in one turn (event_loop)
GRACE = 5.0  # seconds given to what is in flight when the run is stopped


@dataclass
class Deployment:
    name: str  # the profile, or "default" when the settings come from flags and environment
    settings: Settings
    model: str
    slots: int
    client: AsyncClient | None = None
    busy: int = 0
    paused_until: float = 0.0  # a 429 with Retry-After pauses the whole deployment
    down_until: float = 0.0  # out of the rotation after a connection failure
    failures_in_row: int = 0
    failed_at: float = 0.0  # when the last failure in a row was counted
    last_failure: str = ""
    done: int = 0
    failed: int = 0
    tokens: int = 0

    @property
    def unreachable(self) -> bool:
        return self.failures_in_row >= UNREACHABLE_AFTER

    def free(self, now: float) -> bool:
        return self.busy < self.slots and now >= self.paused_until and now >= self.down_until


@dataclass
class Tally:
    """What the run did, for the progress display and the summary."""

    total: int  # requests this run sends
    skipped: int = 0  # done by an earlier run (--resume)
    ok: int = 0
    failed: int = 0
    tokens: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def finished(self) -> int:
        return self.ok + self.failed


class Unreachable(ConnectionFailed):
    """No deployment can be reached."""


def event_loop() -> asyncio.AbstractEventLoop:
    """The batch's loop: on Linux, one that takes one ready connection a turn, not all.

    An asyncio loop handles every connection that is ready at once, then runs what they woke.
    On Python 3.11, aiohttp sends a request's body from a task of its own, which starts at the
    loop's next turn; so when answers come back together, every next request waits until all of
    them are handled, then all go out together, come back together 0.2 s later, and so on: the
    bunch never breaks up. Taken READY_A_TURN at a time, each answer's next request leaves as
    soon as it is handled, and the next round comes back spread out. Against a server that
    answers in 0.2 s, at -j 64, the time from an answer to the next request on its connection
    went from 9-11 to 3 ms (median) and a 5,000-request run from 17.4-17.8 to 17.1 s. Four a
    turn made 4 times fewer turns where every connection is busy (-j 512, no latency: 5% less
    CPU), but the 5,000 requests took 0.2 s longer against the stand-in, 4 rounds of 4
    (benchmarks/README.md, "batch"). Elsewhere (no epoll), the default loop."""
    if FewReady is None:
        return asyncio.new_event_loop()
    selector = FewReady()
    if not hasattr(selector, "_selector"):  # (the stdlib's epoll object, since 3.4)
        selector.close()
        return asyncio.new_event_loop()
    return asyncio.SelectorEventLoop(selector)


if hasattr(selectors, "EpollSelector"):

    class FewReady(selectors.EpollSelector):
        """EpollSelector, asking the kernel for READY_A_TURN ready files at most: epoll puts a
        file it returns, if still ready, behind the others, so every connection gets its turn."""

        def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
            if timeout is None:
                wait = -1.0
            elif timeout <= 0:
                wait = 0.0
            else:  # epoll counts milliseconds: never less than asked
                wait = math.ceil(timeout * 1e3) * 1e-3
            try:
                got = self._selector.poll(wait, READY_A_TURN)  # type: ignore[attr-defined]
            except InterruptedError:
                return []
            ready = []
            for fd, event in got:
                key = self.get_map().get(fd)
                if key is not None:  # (errors and hang-ups wake readers and writers alike)
                    read = selectors.EVENT_READ if event & ~select.EPOLLOUT else 0
                    write = selectors.EVENT_WRITE if event & ~select.EPOLLIN else 0
                    ready.append((key, (read | write) & key.events))
            return ready

else:  # pragma: no cover - macOS, Windows
    FewReady = None  # type: ignore[assignment,misc]


class Engine:
    def __init__(
        self,
        env: Environment,
        deployments: list[Deployment],
        *,
        endpoint: str,
        writer: Writer,
        retries: int,
        rate: float | None,
        ordered: bool,
        answers: bool,
        tally: Tally,
        on_change: Callable[[], None] = lambda: None,
        max_time: float | None = None,
    ) -> None:
        self.env = env
        self.deployments = deployments
        self.route = ROUTES[endpoint]
        self.writer = writer
        self.retries = retries
        self.rate = rate
        self.ordered = ordered
        self.answers = answers
        self.tally = tally
        self.on_change = on_change
        self.window = max(64, 4 * sum(d.slots for d in deployments))
        self._slot_waiters: deque[asyncio.Future[None]] = deque()  # for a free deployment
        self._progress: list[asyncio.Future[None]] = []  # waiting for a record, or the stop
        self._stopped: asyncio.Future[None] | None = None  # done when the run stops
        self._requests: Iterator[Request] = iter(())
        self._seq = 0  # the next request's place in the input order
        self._finished: dict[int, Outcome] = {}  # ordered mode: finished, not yet written
        self._next_write = 0
        self._next_send_at = 0.0
        self._stop: BaseException | None = None  # the signal (or failure) that stops the run
        self.max_time = max_time  # --max-time: the whole run, counted from the start

    # -- the run ------------------------------------------------------------------------------
    def run(self, requests: Iterator[Request]) -> None:
        if not hasattr(asyncio, "Runner"):  # Python 3.10: the default loop
            asyncio.run(self._run(requests))
            return
        with asyncio.Runner(loop_factory=event_loop) as runner:
            runner.run(self._run(requests))

    async def _run(self, requests: Iterator[Request]) -> None:
        loop = asyncio.get_running_loop()
        for signum, error in ((signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, Terminated)):
            try:
                loop.add_signal_handler(signum, self._stop_with, error())
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
                pass
        if self.max_time is not None:
            from outscale_cli.console import STARTED

            left = max(0.0, STARTED + self.max_time - time.monotonic())
            loop.call_later(left, self._stop_with, Expired(self.max_time))
        for deployment in self.deployments:
            deployment.client = AsyncClient(deployment.settings, self.env, deployment.slots)
        startup.loaded()  # the work begins
        # One worker a slot: each sends its next request as soon as it is done with one, with
        # no trip through the event loop between (a dispatcher task handing requests out cost
        # a few ms a request at -j 64: benchmarks/README.md, "batch").
        self._requests = requests
        self._stopped = loop.create_future()
        if self._stop is not None:  # (a signal came while the clients opened)
            self._stopped.set_result(None)
        workers: set[asyncio.Task[None]] = set()
        try:
            for _ in range(sum(d.slots for d in self.deployments)):
                worker = asyncio.create_task(self._worker())
                workers.add(worker)
                worker.add_done_callback(workers.discard)
                worker.add_done_callback(self._failed_task)
            await self._drain(workers)
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                try:
                    loop.remove_signal_handler(signum)
                except (NotImplementedError, RuntimeError, ValueError):
                    pass
            self._flush_all()
            for deployment in self.deployments:
                if deployment.client is not None:
                    await deployment.client.aclose()
        if self._stop is not None:
            raise self._stop

    async def _worker(self) -> None:
        """Send requests until there are none left or the run stops: room in the window, then
        a free deployment, then the next request of the input (whose every attempt then waits
        for its turn under --rate, in _one)."""
        while self._stop is None:
            await self._wait_for_room()
            deployment = await self._take_deployment()
            if deployment is None:
                return  # the run stopped
            request = next(self._requests, None) if self._stop is None else None
            if request is None:
                self._release(deployment)
                return
            seq = self._seq
            self._seq += 1
            await self._one(request, seq, deployment)

    def _failed_task(self, task: asyncio.Task[None]) -> None:
        """A worker that raised (a bug, not a failed request, which is a record; or the input
        failing to read): the run stops with it, and it is reported, never lost as 'never
        retrieved'."""
        if not task.cancelled() and task.exception() is not None:
            self._stop_with(task.exception())  # type: ignore[arg-type]

    def _stop_with(self, error: BaseException) -> None:
        if self._stop is None:
            self._stop = error
        if self._stopped is not None:
            self._wake(self._stopped)
        while self._slot_waiters:  # everyone waiting looks again, and sees the run stopped
            self._wake(self._slot_waiters.popleft())
        self._moved()

    async def _drain(self, tasks: set[asyncio.Task[None]]) -> None:
        """Wait for the requests in flight; once the run is stopped, for GRACE seconds (none
        when --max-time, the whole command's, is what stopped it, or when nothing more can be
        written)."""
        while tasks and self._stop is None:
            assert self._stopped is not None
            await asyncio.wait({*tasks, self._stopped}, return_when=asyncio.FIRST_COMPLETED)
        if tasks:
            grace = 0 if self._output_failed() or isinstance(self._stop, Expired) else GRACE
            _, pending = await asyncio.wait(set(tasks), timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    def _output_failed(self) -> bool:
        return isinstance(self._stop, (OutputFailed, OSError))

    async def _wait_for_room(self) -> None:
        """Sending pauses while the window is full (ordered: records not yet written; else
        requests in flight). Workers that pass together overstep it by fewer than the slots."""
        while self._stop is None and self._seq - self._next_write >= self.window:
            await self._wait_for_progress()

    async def _wait_for_progress(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._progress.append(waiter)
        await waiter

    def _moved(self) -> None:
        """A record was written, or the run stopped: whoever waits for that looks again."""
        waiting, self._progress = self._progress, []
        for waiter in waiting:
            self._wake(waiter)

    @staticmethod
    def _wake(future: asyncio.Future[None]) -> None:
        if not future.done():
            future.set_result(None)

    async def _pace(self) -> None:
        """--rate: at most that many requests a second."""
        if not self.rate:
            return
        now = time.monotonic()
        self._next_send_at = max(self._next_send_at, now)
        wait = self._next_send_at - now
        self._next_send_at += 1.0 / self.rate
        if wait > 0 and self._stopped is not None:
            # (cut short when the run stops: Ctrl-C, SIGTERM, --max-time)
            await asyncio.wait({self._stopped}, timeout=wait)

    # -- one request ----------------------------------------------------------------------------
    async def _one(self, request: Request, seq: int, deployment: Deployment | None) -> None:
        """Send one request (on `deployment`, whose slot it holds) until it is done."""
        attempts = 0
        while True:
            if deployment is None:
                deployment = await self._take_deployment()
                if deployment is None:
                    return  # the run stopped: this request is left to --resume
            if self.rate:  # every attempt counts against --rate, retries too
                await self._pace()
                if self._stop is not None:
                    self._release(deployment)
                    return  # left to --resume
            attempts += 1
            body = request.body
            if "model" not in body:  # the deployment's model, unless the line names one
                body = {**body, "model": deployment.model}
            assert deployment.client is not None
            sent_at = time.monotonic()
            try:
                answer = await deployment.client.post(self.route, body)
                outcome = self._outcome(request, answer, deployment, attempts)
            except CliError as exc:
                outcome = Outcome(request.custom_id, None, None, exc, deployment.name, attempts)
            finally:
                self._release(deployment)
            wait = self._retry_wait(outcome, deployment, attempts, sent_at)
            if wait is None:
                break
            if wait > 0:
                await asyncio.sleep(wait)
            if self._stop is not None:
                return
            deployment = None
        outcome.request = request.fingerprint()  # for a later --resume to check
        outcome.model = body.get("model") if isinstance(body.get("model"), str) else None
        if outcome.ok:
            deployment.failures_in_row = 0
            deployment.done += 1
            self.tally.ok += 1
        else:
            deployment.failed += 1
            self.tally.failed += 1
        try:
            self._finish(seq, outcome)
        except (OutputFailed, OSError) as exc:  # (BrokenPipeError too: a reader gone away)
            self._stop_with(exc)  # nothing more can be written: the run stops now

    def _retry_wait(
        self, outcome: Outcome, deployment: Deployment, attempts: int, sent_at: float
    ) -> float | None:
        """Seconds to wait before sending the request again, or None: it is done (ok or not)."""
        error = outcome.error
        if error is None:
            return None
        now = time.monotonic()
        if error.unreachable and sent_at < deployment.failed_at:
            return 0.0  # in flight with one already counted: the same outage, once
        if error.unreachable:
            deployment.failures_in_row += 1
            deployment.failed_at = now
            deployment.last_failure = error.message
            cooldown = min(COOLDOWN_MOST, COOLDOWN_FIRST * 2 ** (deployment.failures_in_row - 1))
            deployment.down_until = now + cooldown
            self.env.debug_line(f"{deployment.name}: {error.message}; out for {cooldown:g} s")
            if all(d.unreachable for d in self.deployments):
                self._stop_with(self._unreachable())
                return 0.0
            return 0.0  # another deployment takes it, not spending its retries
        if outcome.status in RETRY_STATUSES and attempts <= self.retries:
            retry_after = error.retry_after
            if outcome.status == 429 and retry_after is not None:
                deployment.paused_until = max(deployment.paused_until, now + retry_after)
                self.env.debug_line(f"{deployment.name}: 429, paused {retry_after:g} s")
                return 0.0
            return retry_after if retry_after is not None else backoff_delay(attempts - 1)
        if isinstance(error, ConnectionFailed) and attempts <= self.retries:
            return backoff_delay(attempts - 1)  # reset before any byte: the retry policy
        return None

    def _unreachable(self) -> Unreachable:
        why = "; ".join(f"{d.name}: {d.last_failure}" for d in self.deployments)
        return Unreachable(
            f"no deployment can be reached ({why}); "
            f"{self.tally.finished} of {self.tally.total} requests were done",
            hint="check the deployments, then run the same command with --resume",
        )

    async def _take_deployment(self) -> Deployment | None:
        """A deployment with a free slot (the least busy), waiting while none is; None when
        the run stops. Waiters are woken one at a time, as slots free."""
        loop = asyncio.get_running_loop()
        while self._stop is None:
            now = time.monotonic()
            ready = [d for d in self.deployments if d.free(now)]
            if ready:
                chosen = min(ready, key=lambda d: (d.busy / d.slots, d.failures_in_row))
                chosen.busy += 1
                return chosen
            wake = [t for d in self.deployments for t in (d.paused_until, d.down_until) if t > now]
            waiter = loop.create_future()
            self._slot_waiters.append(waiter)
            timer = loop.call_later(min(wake) - now, self._wake, waiter) if wake else None
            try:
                await waiter
            finally:
                if timer is not None:
                    timer.cancel()
        return None

    def _release(self, deployment: Deployment) -> None:
        deployment.busy -= 1
        while self._slot_waiters:
            waiter = self._slot_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _outcome(
        self, request: Request, answer: Answer, deployment: Deployment, attempts: int
    ) -> Outcome:
        data: Any = None
        error: CliError | None = None
        try:
            data = _decode(answer)
        except BadResponse as exc:
            if answer.status < 400:
                error = exc
        if error is None and answer.status < 400 and not _a_completion(data):
            shape = f"a JSON {type(data).__name__}" if not isinstance(data, dict) else (
                "an object without choices")  # fmt: skip
            error = BadResponse(f"not a completion: the server answered {shape}")
        if answer.status >= 400:
            assert deployment.client is not None
            server_error = deployment.client.status_error(answer, deployment.client.url(self.route))
            server_error.retry_after = retry_after_seconds(answer.headers.get("retry-after"))
            error = server_error
        outcome = Outcome(request.custom_id, answer.status, data, error, deployment.name, attempts)
        if error is None and isinstance(data, dict):
            usage = data.get("usage")
            if isinstance(usage, dict) and isinstance(usage.get("total_tokens"), int):
                deployment.tokens += usage["total_tokens"]
                self.tally.tokens += usage["total_tokens"]
            if self.answers:
                _fill_answer(outcome, data)
        return outcome

    # -- writing, in order or not -----------------------------------------------------------
    def _finish(self, seq: int, outcome: Outcome) -> None:
        if not self.ordered:
            self.writer.write(outcome)
            self._next_write += 1  # counted: the window bounds what is in flight
        else:
            self._finished[seq] = outcome
            while self._next_write in self._finished:
                self.writer.write(self._finished.pop(self._next_write))
                self._next_write += 1
        self.on_change()
        self._moved()

    def _flush_all(self) -> None:
        """When the run stops: what finished after a gap is written too (--resume keys on
        custom_id, not on order); nothing when the output is what failed."""
        if self._output_failed():
            return
        try:
            for seq in sorted(self._finished):
                self.writer.write(self._finished.pop(seq))
        except (OutputFailed, OSError) as exc:
            self._stop_with(exc)


def _decode(answer: Answer) -> Any:
    """The answer's JSON; an event stream (a server that streams unasked) is assembled into
    the non-streamed shape."""
    from outscale_cli.stream import Completion, iter_deltas, parse_json_object

    if answer.content_type == "text/event-stream":
        completion = Completion()
        for _ in iter_deltas([answer.content], completion):
            pass
        return completion.to_response()
    if not answer.content.strip():
        raise BadResponse("empty response: the server answered with no body")
    try:
        return json.loads(answer.content)
    except (ValueError, RecursionError):
        if answer.status >= 400:
            return answer.content.decode("utf-8", "replace")[:2000]
        parse_json_object(answer.content, "response")  # raises the usual message
        raise


def _a_completion(data: Any) -> bool:
    """Whether a 2xx answer is a completion (an object with a list of choices)."""
    return isinstance(data, dict) and isinstance(data.get("choices"), list)


def _fill_answer(outcome: Outcome, data: dict[str, Any]) -> None:
    from outscale_cli.stream import Completion

    completion = Completion()
    try:
        completion.add_response(data)
    except BadResponse as exc:
        outcome.error = exc
        return
    outcome.text = completion.text
    outcome.finish_reason = completion.finish_reason
    outcome.usage = completion.usage
