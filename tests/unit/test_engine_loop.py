"""The batch's event loop takes a few ready connections a turn (engine.event_loop), not all:
what they wake, such as the task that sends a request's body, runs before the connections after
them are handled, and a connection that stays ready does not keep the others waiting."""

from __future__ import annotations

import asyncio
import selectors
import socket
import sys
from collections import Counter

import pytest

from outscale_cli.batch.engine import READY_A_TURN, FewReady, event_loop

pytestmark = pytest.mark.skipif(FewReady is None, reason="epoll only (Linux)")


def _pairs(count: int) -> list[tuple[socket.socket, socket.socket]]:
    return [socket.socketpair() for _ in range(count)]


def _close(pairs: list[tuple[socket.socket, socket.socket]]) -> None:
    for a, b in pairs:
        a.close()
        b.close()


def test_the_batch_loop_selects_a_few_ready_files_at_a_time() -> None:
    loop = event_loop()
    try:
        assert isinstance(loop._selector, FewReady)  # type: ignore[attr-defined]
        assert 1 <= READY_A_TURN <= 8
    finally:
        loop.close()


def test_what_ready_connections_wake_runs_before_the_connections_after_them() -> None:
    # Many answers arrive together; each schedules its next request's sending, as aiohttp
    # does on Python 3.11 (a task, run at the loop's next turn). The sendings of the first
    # few must come before the later answers are handled, not after all of them.
    loop = event_loop()
    pairs = _pairs(3 * READY_A_TURN)
    order: list[str] = []
    try:
        for number, (ours, _) in enumerate(pairs):

            def on_answer(number: int = number, sock: socket.socket = ours) -> None:
                sock.recv(100)
                order.append(f"answer {number}")
                loop.call_soon(order.append, f"send {number}")

            loop.add_reader(ours.fileno(), on_answer)
        for _, theirs in pairs:
            theirs.send(b"x")
        loop.run_until_complete(asyncio.sleep(0.05))
    finally:
        for ours, _ in pairs:
            loop.remove_reader(ours.fileno())
        _close(pairs)
        loop.close()
    answers = [event for event in order if event.startswith("answer")]
    assert len(answers) == len(pairs) and len(order) == 2 * len(pairs), order
    for at, answer in enumerate(answers):
        sent = order.index("send " + answer.removeprefix("answer "))
        later = answers[at + READY_A_TURN :]
        assert all(sent < order.index(other) for other in later), order


def test_a_connection_that_stays_ready_does_not_starve_the_others() -> None:
    loop = event_loop()
    pairs = _pairs(READY_A_TURN + 2)
    calls: Counter[int] = Counter()
    try:
        for number, (ours, theirs) in enumerate(pairs):
            theirs.send(b"x")  # never read: the file stays ready
            loop.add_reader(ours.fileno(), calls.update, [number])

        async def turns() -> None:
            for _ in range(3 * len(pairs)):
                await asyncio.sleep(0)

        loop.run_until_complete(turns())
    finally:
        for ours, _ in pairs:
            loop.remove_reader(ours.fileno())
        _close(pairs)
        loop.close()
    assert set(calls) == set(range(len(pairs))), calls
    assert max(calls.values()) - min(calls.values()) <= 1, calls  # in turn


def test_select_reports_readable_and_writable_as_registered() -> None:
    selector = FewReady()
    ours, theirs = socket.socketpair()
    try:
        selector.register(ours, selectors.EVENT_WRITE)
        ((key, events),) = selector.select(0)
        assert key.fileobj is ours and events == selectors.EVENT_WRITE  # nothing to read yet
        selector.modify(ours, selectors.EVENT_READ)
        assert selector.select(0) == []  # not readable, and writing is not asked for
        theirs.send(b"x")
        ((key, events),) = selector.select(0)
        assert events == selectors.EVENT_READ
        theirs.close()  # a hang-up wakes a reader (and would a writer)
        ours.recv(10)
        ((key, events),) = selector.select(0)
        assert events == selectors.EVENT_READ
    finally:
        selector.close()
        ours.close()
        theirs.close()


def test_select_with_nothing_registered_returns_nothing() -> None:
    selector = FewReady()
    try:
        assert selector.select(0) == []
        assert selector.select(0.001) == []
    finally:
        selector.close()


@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.Runner: 3.11+")
def test_the_engine_runs_its_work_on_that_loop() -> None:
    from outscale_cli.batch.engine import Engine

    seen: list[object] = []

    class Probe(Engine):
        def __init__(self) -> None:  # nothing but the run
            pass

        async def _run(self, requests: object) -> None:
            seen.append(asyncio.get_running_loop()._selector)  # type: ignore[attr-defined]

    Probe().run(iter(()))
    assert isinstance(seen[0], FewReady)
