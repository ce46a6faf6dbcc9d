"""outscale_cli/commands/health.py, the check behind `ping` (README, "ping" and "A whole fleet"):
one attempt, `--wait`'s loop (what is retried, when it stops, how long it sleeps), the reports
and the verdict. The server is faked by pytest-httpx, the clock by a fake monotonic/sleep."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from pytest_httpx import HTTPXMock

from outscale_cli.commands import health
from outscale_cli.commands.health import Check, check_until, print_checks, run_check, verdict
from outscale_cli.console import Environment
from outscale_cli.errors import (
    CliError,
    ConfigError,
    ConnectionFailed,
    Interrupted,
    ModelNotServed,
    ServerError,
)
from outscale_cli.settings import load_settings
from outscale_cli.status import ExitStatus

SERVER = "http://vm.test:5000"
OTHER = "http://other.vm.test:5000"
CARDS = {
    "object": "list",
    "data": [
        {"id": "small-2409", "aliases": ["mistral-small-latest"]},
        {"id": "codestral-2405"},
    ],
}


def models_url(server: str = SERVER) -> str:
    return f"{server}/v1/models"


def chat_url(server: str = SERVER) -> str:
    return f"{server}/v1/chat/completions"


class Clock:
    """time.monotonic, time.sleep and time.perf_counter as health.py sees them: a sleep moves
    the clock, nothing waits; perf_counter moves only when the fake server says it took time."""

    def __init__(self) -> None:
        self.now = 500.0
        self.sleeps: list[float] = []
        self.perf = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def perf_counter(self) -> float:
        return self.perf

    def answer(self, seconds: float, **response: Any) -> Any:
        """A pytest-httpx callback: the server takes `seconds`, then gives `response`."""
        import httpx

        def callback(request: httpx.Request) -> httpx.Response:
            self.perf += seconds
            return httpx.Response(**{"status_code": 200, **response})

        return callback


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(health.time, "monotonic", fake.monotonic)
    monkeypatch.setattr(health.time, "sleep", fake.sleep)
    monkeypatch.setattr(health.time, "perf_counter", fake.perf_counter)
    return fake


def make_env(*, debug: bool = False, tty: bool = False) -> Environment:
    return Environment(
        stdin=io.StringIO(),
        stdout=io.StringIO(),
        stderr=io.StringIO(),
        stdin_isatty=False,
        stdout_isatty=tty,
        stderr_isatty=False,
        colour=False,
        debug=debug,
        secrets=[],
    )


def out(env: Environment) -> str:
    return env.stdout.getvalue()  # type: ignore[attr-defined]


def check(
    model: str | None = "small-2409", server: str = SERVER, profile: str | None = None, **flags: Any
) -> Check:
    settings = load_settings({"server_url": server, "model": model, **flags}, {})
    return Check(settings, profile)


def requests_to(httpx_mock: HTTPXMock, url: str) -> int:
    return sum(1 for r in httpx_mock.get_requests() if str(r.url) == url)


# -- one attempt ----------------------------------------------------------------------------------


def test_a_served_model_is_healthy_by_the_models_route(httpx_mock: HTTPXMock, clock: Clock) -> None:
    httpx_mock.add_callback(clock.answer(1.2, json=CARDS), url=models_url())
    c = check("mistral-small-latest")
    run_check(make_env(), c)
    assert c.ok and c.done and c.error is None
    assert c.report == {
        "ok": True,
        "server_url": SERVER,
        "model": "small-2409",  # found by its alias, reported by its id
        "check": "models",
        "latency_ms": 1200,
    }


def test_a_profiles_report_starts_with_the_profile(httpx_mock: HTTPXMock, clock: Clock) -> None:
    httpx_mock.add_response(url=models_url(), json=CARDS)
    c = check(profile="small")
    run_check(make_env(), c)
    assert list(c.report) == ["profile", "ok", "server_url", "model", "check", "latency_ms"]
    assert c.report["profile"] == "small"


def test_a_password_in_the_url_is_not_reported(httpx_mock: HTTPXMock, clock: Clock) -> None:
    httpx_mock.add_response(url="http://u:pw@vm.test:5000/v1/models", json=CARDS)
    c = check(server="http://u:pw@vm.test:5000")
    run_check(make_env(), c)
    assert c.report["server_url"] == "http://u:********@vm.test:5000"


def test_without_a_model_the_only_model_served_is_checked(
    httpx_mock: HTTPXMock, clock: Clock
) -> None:
    httpx_mock.add_response(url=models_url(), json={"data": [{"id": "only-1"}]})
    c = check(None)
    run_check(make_env(), c)
    assert c.ok and c.report["model"] == "only-1"


def test_without_a_model_among_several_the_check_fails_naming_them(
    httpx_mock: HTTPXMock, clock: Clock
) -> None:
    httpx_mock.add_response(url=models_url(), json=CARDS)
    c = check(None)
    run_check(make_env(), c)
    assert not c.ok
    assert isinstance(c.error, ConfigError)
    assert "small-2409, codestral-2405" in c.error.message
    assert c.report["error"] == c.error.message
    assert c.report["ok"] is False and c.report["latency_ms"] is None


def test_a_model_not_served_names_what_is(httpx_mock: HTTPXMock, clock: Clock) -> None:
    httpx_mock.add_response(url=models_url(), json=CARDS)
    c = check("ministral-8b")
    run_check(make_env(), c)
    assert isinstance(c.error, ModelNotServed)
    assert c.error.message == (
        f"model ministral-8b is not served at {SERVER}; it serves: small-2409, codestral-2405"
    )
    assert c.error.hint == "pick one of those with -m, or check OUTSCALE_MODEL_NAME"
    assert c.report["check"] == "models" and c.report["ok"] is False


def test_an_empty_model_list_serves_nothing(httpx_mock: HTTPXMock, clock: Clock) -> None:
    httpx_mock.add_response(url=models_url(), json={"data": []})
    c = check("small-2409")
    run_check(make_env(), c)
    assert isinstance(c.error, ModelNotServed)
    assert c.error.message.endswith("; it serves: nothing")


@pytest.mark.parametrize("status", [404, 405])
def test_without_a_models_route_a_one_token_chat_proves_the_model(
    httpx_mock: HTTPXMock, clock: Clock, status: int
) -> None:
    httpx_mock.add_callback(clock.answer(1.0, status_code=status), url=models_url())
    httpx_mock.add_callback(clock.answer(0.0456, json={"choices": []}), url=chat_url())
    c = check()
    run_check(make_env(), c)
    assert c.ok
    assert c.report["check"] == "chat"
    assert c.report["latency_ms"] == 46  # the chat alone, not the models route before it
    body = json.loads(httpx_mock.get_requests()[-1].content)
    assert body == {
        "model": "small-2409",
        "messages": [{"role": "user", "content": "ping"}],
        "max_tokens": 1,
    }


def test_without_a_models_route_nor_a_model_the_check_fails(
    httpx_mock: HTTPXMock, clock: Clock
) -> None:
    httpx_mock.add_response(url=models_url(), status_code=404)
    c = check(None)
    run_check(make_env(), c)
    assert isinstance(c.error, ConfigError)
    assert "does not list its models" in c.error.message
    assert c.report["check"] == "chat"


def test_a_failing_chat_check_fails(httpx_mock: HTTPXMock, clock: Clock) -> None:
    httpx_mock.add_response(url=models_url(), status_code=404)
    httpx_mock.add_response(url=chat_url(), status_code=404, json={"message": "no such model"})
    c = check()
    run_check(make_env(), c)
    assert isinstance(c.error, ServerError) and c.error.http_status == 404
    assert c.report["error"] == "404 Not Found: no such model"


def test_a_server_error_on_the_models_route_is_not_a_missing_route(
    httpx_mock: HTTPXMock, clock: Clock
) -> None:
    httpx_mock.add_response(url=models_url(), status_code=500)
    c = check()
    run_check(make_env(), c)
    assert isinstance(c.error, ServerError) and c.error.http_status == 500
    assert c.report["check"] == "models"
    assert len(httpx_mock.get_requests()) == 1  # no chat, and ping does not retry by default


def test_a_check_without_settings_is_not_run() -> None:
    failed = Check.of("broken", ConfigError("profile broken: api_key_env names K, not set"))
    run_check(make_env(), failed)
    assert failed.done and not failed.ok
    assert failed.report == {
        "profile": "broken",
        "ok": False,
        "server_url": None,
        "model": None,
        "check": None,
        "latency_ms": None,
        "error": "profile broken: api_key_env names K, not set",
    }


def test_a_profile_with_settings_is_a_check_to_run() -> None:
    settings = load_settings({"server_url": SERVER}, {})
    c = Check.of("p", settings)
    assert (c.settings, c.profile, c.error, c.done, c.report) == (settings, "p", None, False, {})


def test_a_check_is_ok_only_with_an_ok_report_and_no_error() -> None:
    c = Check(None, None, report={"ok": True})
    assert c.ok
    c.error = CliError("x")
    assert not c.ok
    assert not Check(None, None, report={"ok": False}).ok
    assert not Check(None, None).ok


# -- --wait: the loop -----------------------------------------------------------------------------


def test_healthy_at_once_means_one_attempt_and_no_sleep(
    httpx_mock: HTTPXMock, clock: Clock
) -> None:
    httpx_mock.add_response(url=models_url(), json=CARDS)
    c = check()
    check_until(make_env(), [c], 30.0)
    assert c.ok and clock.sleeps == []


def test_without_wait_a_failure_is_tried_once(httpx_mock: HTTPXMock, clock: Clock) -> None:
    httpx_mock.add_response(url=models_url(), status_code=503)
    c = check()
    check_until(make_env(), [c], 0.0)
    assert not c.ok and clock.sleeps == []
    assert len(httpx_mock.get_requests()) == 1


@pytest.mark.parametrize(
    "failure",
    [
        {"status_code": 503},
        {"status_code": 401},
        {"json": {"data": [{"id": "other"}]}},  # the model is still loading: not yet served
        {"content": b"<html>booting</html>"},  # a proxy's page: not JSON
    ],
    ids=["5xx", "4xx", "not-served", "malformed"],
)
def test_a_transient_failure_is_tried_again_until_healthy(
    httpx_mock: HTTPXMock, clock: Clock, failure: dict[str, Any]
) -> None:
    httpx_mock.add_response(url=models_url(), **failure)
    httpx_mock.add_response(url=models_url(), json=CARDS)
    c = check()
    check_until(make_env(), [c], 30.0)
    assert c.ok
    assert clock.sleeps == [1.0]
    assert len(httpx_mock.get_requests()) == 2


def test_a_refused_connection_is_tried_again(httpx_mock: HTTPXMock, clock: Clock) -> None:
    import httpx

    httpx_mock.add_exception(httpx.ConnectError("[Errno 111] Connection refused"))
    httpx_mock.add_exception(httpx.ReadTimeout("timed out"))
    httpx_mock.add_response(url=models_url(), json=CARDS)
    c = check()
    check_until(make_env(), [c], 30.0)
    assert c.ok and clock.sleeps == [1.0, 1.0]


def test_the_loop_stops_when_the_time_is_up_and_the_last_sleep_is_shortened(
    httpx_mock: HTTPXMock, clock: Clock
) -> None:
    httpx_mock.add_response(url=models_url(), status_code=503, is_reusable=True)
    c = check()
    check_until(make_env(), [c], 2.5)
    assert clock.sleeps == [1.0, 1.0, 0.5]
    assert len(httpx_mock.get_requests()) == 4  # at 0, 1, 2 and 2.5 s
    assert isinstance(c.error, ServerError) and c.error.http_status == 503


def test_a_wait_shorter_than_a_step_sleeps_only_that_long(
    httpx_mock: HTTPXMock, clock: Clock
) -> None:
    httpx_mock.add_response(url=models_url(), status_code=503, is_reusable=True)
    check_until(make_env(), [check()], 0.25)
    assert clock.sleeps == [0.25]
    assert len(httpx_mock.get_requests()) == 2


def test_a_failure_that_cannot_heal_is_not_tried_again(httpx_mock: HTTPXMock, clock: Clock) -> None:
    httpx_mock.add_response(url=models_url(), status_code=404)  # no models route, no model set
    c = check(None)
    check_until(make_env(), [c], 30.0)
    assert isinstance(c.error, ConfigError)
    assert clock.sleeps == []
    assert len(httpx_mock.get_requests()) == 1


def test_each_retry_is_said_in_debug_lines(httpx_mock: HTTPXMock, clock: Clock) -> None:
    httpx_mock.add_response(url=models_url(), status_code=503)
    httpx_mock.add_response(url=models_url(), json=CARDS)
    env = make_env(debug=True)
    check_until(env, [check()], 30.0)
    stderr = env.stderr.getvalue()  # type: ignore[attr-defined]
    assert "outscale-cli: debug: not healthy yet (503 Service Unavailable)" in stderr


def test_a_fleet_rechecks_only_the_unhealthy(httpx_mock: HTTPXMock, clock: Clock) -> None:
    httpx_mock.add_response(url=models_url(), json=CARDS)
    httpx_mock.add_response(url=models_url(OTHER), status_code=503)
    httpx_mock.add_response(url=models_url(OTHER), json=CARDS)
    good, late = check(profile="good"), check(server=OTHER, profile="late")
    check_until(make_env(), [good, late], 30.0)
    assert good.ok and late.ok
    assert requests_to(httpx_mock, models_url()) == 1
    assert requests_to(httpx_mock, models_url(OTHER)) == 2
    assert clock.sleeps == [1.0]


def test_a_fleet_with_a_profile_that_cannot_heal_stops_at_once(
    httpx_mock: HTTPXMock, clock: Clock
) -> None:
    httpx_mock.add_response(url=models_url(), status_code=503)
    broken = Check.of("broken", ConfigError("api_key_env names K, which is not set"))
    late = check(profile="late")
    check_until(make_env(), [broken, late], 30.0)
    assert clock.sleeps == []  # all healthy can never be: no use waiting
    assert len(httpx_mock.get_requests()) == 1
    assert isinstance(broken.error, ConfigError) and isinstance(late.error, ServerError)


def test_a_fleet_waits_until_all_are_healthy_or_the_time_is_up(
    httpx_mock: HTTPXMock, clock: Clock
) -> None:
    httpx_mock.add_response(url=models_url(), json=CARDS)
    httpx_mock.add_response(url=models_url(OTHER), status_code=503, is_reusable=True)
    good, down = check(profile="good"), check(server=OTHER, profile="down")
    check_until(make_env(), [good, down], 1.5)
    assert good.ok and not down.ok
    assert clock.sleeps == [1.0, 0.5]
    assert requests_to(httpx_mock, models_url(OTHER)) == 3


def test_an_interruption_marks_the_checks_still_running(
    httpx_mock: HTTPXMock, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    httpx_mock.add_response(url=models_url(), json=CARDS)

    def first_then_ctrl_c(tasks: list[Any], workers: int = 8) -> None:
        tasks[0]()
        raise KeyboardInterrupt

    monkeypatch.setattr(health, "concurrently", first_then_ctrl_c)
    answered, running = check(profile="a"), check(server=OTHER, profile="b")
    running.report = {"profile": "b", "ok": True, "server_url": OTHER, "latency_ms": 9}
    broken = Check.of("c", ConfigError("K is not set"))
    with pytest.raises(KeyboardInterrupt):
        check_until(make_env(), [answered, running, broken], 30.0)
    assert isinstance(broken.error, ConfigError)  # it had failed already: not interrupted
    assert broken.report["error"] == "K is not set"
    assert answered.ok and answered.error is None
    assert isinstance(running.error, Interrupted)
    assert running.error.message == "interrupted before it answered"
    assert running.report == {
        "profile": "b",
        "ok": False,
        "server_url": OTHER,
        "latency_ms": None,
        "error": "interrupted before it answered",
    }


def test_an_interruption_while_sleeping_leaves_the_reports_as_they_are(
    httpx_mock: HTTPXMock, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    httpx_mock.add_response(url=models_url(), status_code=503)

    def ctrl_c(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(health.time, "sleep", ctrl_c)
    c = check()
    with pytest.raises(KeyboardInterrupt):
        check_until(make_env(), [c], 30.0)
    assert isinstance(c.error, ServerError)
    assert c.report["error"] == "503 Service Unavailable"


# -- what is printed ------------------------------------------------------------------------------


def healthy(profile: str | None = None, model: str = "small-2409") -> Check:
    c = Check(None, profile)
    c.report = {"ok": True, "server_url": SERVER, "model": model, "check": "models",
                "latency_ms": 12}  # fmt: skip
    if profile is not None:
        c.report = {"profile": profile, **c.report}
    return c


def failing(profile: str | None = None, error: CliError | None = None) -> Check:
    c = Check(None, profile, error=error or ServerError("503 Service Unavailable"))
    c.report = {"ok": False, "server_url": SERVER, "model": None, "check": "models",
                "latency_ms": None, "error": c.error.message if c.error else None}  # fmt: skip
    return c


def test_one_healthy_check_prints_one_line() -> None:
    env = make_env()
    print_checks(env, [healthy()], json_output=False, fleet=False)
    assert out(env) == f"ok small-2409 at {SERVER} (models, 12 ms)\n"


def test_one_failing_check_prints_nothing_on_stdout() -> None:
    env = make_env()
    print_checks(env, [failing()], json_output=False, fleet=False)
    assert out(env) == ""


def test_a_fleet_piped_prints_one_line_per_profile() -> None:
    env = make_env()
    print_checks(env, [healthy("a"), failing("b")], json_output=False, fleet=True)
    assert out(env) == (
        f"ok a small-2409 at {SERVER} (models, 12 ms)\n"
        f"fail b (no model) at {SERVER}: 503 Service Unavailable\n"
    )


def test_json_prints_one_object_per_line() -> None:
    env = make_env(tty=True)
    print_checks(env, [healthy("a"), failing("b")], json_output=True, fleet=True)
    lines = out(env).splitlines()
    assert [json.loads(line) for line in lines] == [healthy("a").report, failing("b").report]


def test_a_fleet_on_a_terminal_prints_a_table() -> None:
    env = make_env(tty=True)
    broken = Check.of("c", ConfigError("K is not set"))
    down = failing("b", ServerError("down"))
    print_checks(env, [healthy("a"), down, broken], json_output=False, fleet=True)
    assert out(env) == (
        "profile  server               model       check   latency  status      \n"
        "a        http://vm.test:5000  small-2409  models    12 ms  ok          \n"
        "b        http://vm.test:5000              models           down        \n"
        "c                                                          K is not set\n"
    )  # latency right-aligned; a profile that could not be set up shows its reason


def test_a_single_check_on_a_terminal_is_a_line_not_a_table() -> None:
    env = make_env(tty=True)
    print_checks(env, [healthy()], json_output=False, fleet=False)
    assert out(env) == f"ok small-2409 at {SERVER} (models, 12 ms)\n"


# -- the verdict ----------------------------------------------------------------------------------


def test_all_healthy_is_no_error() -> None:
    assert verdict([healthy("a"), healthy("b")], fleet=True) is None
    assert verdict([healthy()], fleet=False) is None


def test_one_check_fails_with_its_own_error() -> None:
    error = ConnectionFailed("connection refused by vm.test:5000")
    assert verdict([failing(error=error)], fleet=False) is error


def test_a_check_failed_without_an_error_still_fails() -> None:
    c = Check(None, None, report={"ok": False})
    found = verdict([c], fleet=False)
    assert found is not None and found.message == "the check failed"


def test_a_fleet_names_the_failing_profiles_with_the_first_ones_status() -> None:
    first = ModelNotServed("model m is not served")
    found = verdict(
        [healthy("a"), failing("b", first), failing("c", ServerError("500"))], fleet=True
    )
    assert found is not None
    assert found.message == "2 of 3 profiles are not healthy: b, c"
    assert found.status == ExitStatus.MODEL_NOT_SERVED and found.kind == "model_not_served"


def test_a_fleet_line_of_a_check_failed_without_an_error_says_nothing_more() -> None:
    c = Check(None, "p", report={"ok": False, "server_url": SERVER, "model": "m"})
    env = make_env()
    print_checks(env, [c], json_output=False, fleet=True)
    assert out(env) == f"fail p m at {SERVER}: \n"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_fleet_table_in_colour_says_ok_in_green_and_failures_in_red(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("NO_COLOR", "FORCE_COLOR", "COLORTERM", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    env = make_env(tty=True)
    env.stdout = Terminal()
    unknown = Check(None, "c", report={"ok": False, "server_url": None, "model": None,
                                       "check": None})  # fmt: skip
    print_checks(
        env, [healthy("a"), failing("b", ServerError("down")), unknown], json_output=False,
        fleet=True,
    )  # fmt: skip
    bold = "\x1b[1m{}\x1b[0m".format
    header = (bold(" ") * 2).join(
        bold(title)
        for title in (
            "profile",
            "server             ",
            "model     ",
            "check ",
            "latency",
            "status",
        )  # fmt: skip
    )
    assert out(env) == (
        f"{header}\n"
        "a        http://vm.test:5000  small-2409  models    12 ms  \x1b[32mok    \x1b[0m\n"
        "b        http://vm.test:5000              models           \x1b[31mdown  \x1b[0m\n"
        "c                                                          \x1b[31mfail  \x1b[0m\n"
    )


def test_the_stand_in_is_checked_when_asked() -> None:
    # The built-in stand-in (--mock) is a real server on the loopback; without it, a check
    # with no server URL cannot even start.
    c = Check(load_settings({}, {}), None, mock=True)
    run_check(make_env(), c)
    assert c.ok, c.error
    assert c.report["model"] == "small-2409"
    assert c.report["check"] == "models"
    assert str(c.report["server_url"]).startswith("http://127.0.0.1:")
    without = Check(load_settings({}, {}), None)
    run_check(make_env(), without)
    assert isinstance(without.error, ConfigError)
    assert without.error.message.startswith("no server URL")


def test_a_wait_of_whole_seconds_ends_exactly_on_time(httpx_mock: HTTPXMock, clock: Clock) -> None:
    httpx_mock.add_response(url=models_url(), status_code=503, is_reusable=True)
    check_until(make_env(), [check()], 2.0)
    assert clock.sleeps == [1.0, 1.0]  # no attempt once no time is left
    assert len(httpx_mock.get_requests()) == 3  # at 0, 1 and 2 s
