"""`batch run` through the real process, against the stand-in (its own process, or in this
process where the test must see what it received or change how it answers): order, kill -9
and --resume, invalid input, partial failures, deployments down, Retry-After pauses, signals,
the output format."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from outscale_cli.mock.server import MockConfig

from .helpers import RUN_TIMEOUT, clean_env, cli_command, refused_url, run_cli, serve

MODEL = "small-2409"


@contextmanager
def stand_in_process(*knobs: str) -> Iterator[str]:
    """`outscale-cli mock-server` as its own process; yields its URL."""
    process = subprocess.Popen(
        [*cli_command(), "mock-server", "--port", "0", "-q", "-m", MODEL, *knobs],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        env=clean_env(),
    )  # fmt: skip
    try:
        assert process.stdout is not None
        url = process.stdout.readline().decode().strip()
        assert url.startswith("http://127.0.0.1:"), url
        yield url
    finally:
        process.terminate()
        process.wait(timeout=RUN_TIMEOUT)
        if process.stdout:
            process.stdout.close()


def prompts(path: Path, count: int, **extra: Any) -> Path:
    with path.open("w") as out:
        for i in range(count):
            body = {"messages": [{"role": "user", "content": f"Question {i}"}], **extra}
            out.write(json.dumps({"custom_id": f"q{i}", "body": body}) + "\n")
    return path


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def batch(*args: str, url: str | None = None, **kwargs: Any) -> Any:
    env = {"OUTSCALE_SERVER_URL": url, "OUTSCALE_MODEL_NAME": MODEL} if url else {}
    return run_cli("batch", "run", *args, env={**env, **kwargs.pop("env", {})}, **kwargs)


def summary(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("batch: ")]
    assert len(lines) == 1, stderr
    return lines[0]


# -- the output, in Mistral's batch format -----------------------------------------------------
def test_every_record_reads_back_in_mistrals_batch_format(tmp_path: Path) -> None:
    source = prompts(tmp_path / "in.jsonl", 30)
    with stand_in_process() as url:
        result = batch(str(source), "-o", str(tmp_path / "out.jsonl"), "-j", "8", url=url)
    assert result.code == 0, result.stderr
    assert result.stdout == ""  # the records went to the file
    written = records(tmp_path / "out.jsonl")
    assert [r["custom_id"] for r in written] == [f"q{i}" for i in range(30)]  # input order
    for record in written:
        assert set(record) >= {"id", "custom_id", "response", "error"}
        assert record["error"] is None
        assert record["response"]["status_code"] == 200
        body = record["response"]["body"]
        assert body["object"] == "chat.completion" and body["model"] == MODEL
        assert body["choices"][0]["message"]["content"].startswith("**Stand-in answer**")
        ours = record["outscale"]  # the deployment, the attempts, the request's fingerprint
        assert {k: ours[k] for k in ("profile", "attempts")} == {"profile": "default",
                                                                 "attempts": 1}  # fmt: skip
        assert set(ours) == {"profile", "attempts", "model", "request"} and ours["model"] == MODEL
        assert len(ours["request"]) == 16 and int(ours["request"], 16) >= 0
    assert len({r["id"] for r in written}) == 30
    assert summary(result.stderr).startswith("batch: 30 requests, 30 ok, 0 failed, ")


def test_records_go_to_stdout_without_o_and_the_answers_form(tmp_path: Path) -> None:
    source = tmp_path / "q.txt"
    source.write_text("What is 2+2?\n\n   \nCapital of France?\n")
    with stand_in_process() as url:
        result = batch("--lines", str(source), "--answers", "-t", "0", url=url)
    assert result.code == 0, result.stderr
    written = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["custom_id"] for r in written] == ["1", "4"]  # line numbers; blank lines skipped
    for record in written:
        assert set(record) == {"custom_id", "answer", "finish_reason", "usage"}
        assert record["answer"].startswith("**Stand-in answer**")
        assert record["finish_reason"] == "stop" and record["usage"]["total_tokens"] > 0


def test_short_form_and_command_line_sampling_reach_the_server(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(
        json.dumps({"prompt": "a", "system": "Be brief.", "id": "x"}) + "\n"
        + json.dumps({"prompt": "b", "temperature": 0.9}) + "\n"
    )  # fmt: skip
    with serve(MockConfig()) as served:
        result = batch(str(source), "-t", "0.2", "--max-tokens", "7", url=served.url)
    assert result.code == 0, result.stderr
    sent = sorted((r.json() for r in served.posts()), key=lambda b: b["messages"][-1]["content"])
    assert sent[0] == {
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "a"}],
        "temperature": 0.2, "max_tokens": 7, "model": MODEL,
    }  # fmt: skip
    assert sent[1]["temperature"] == 0.9 and sent[1]["max_tokens"] == 7  # the line's own wins


def test_fim_batch(tmp_path: Path) -> None:
    source = tmp_path / "holes.jsonl"
    source.write_text(json.dumps({"prompt": "def add(a, b):", "suffix": "return c"}) + "\n")
    with serve(MockConfig()) as served:
        result = batch(str(source), "--endpoint", "fim", "-m", "codestral-2405",
                       env={"OUTSCALE_SERVER_URL": served.url})  # fmt: skip
    assert result.code == 0, result.stderr
    assert served.posts()[0].path == "/v1/fim/completions"
    assert served.posts()[0].json()["suffix"] == "return c"
    assert json.loads(result.stdout)["response"]["body"]["model"] == "codestral-2405"


def test_mock_with_nothing_configured(tmp_path: Path) -> None:
    source = prompts(tmp_path / "in.jsonl", 5)
    result = batch(str(source), "--mock", "-o", str(tmp_path / "out.jsonl"))
    assert result.code == 0, result.stderr
    assert len(records(tmp_path / "out.jsonl")) == 5


# -- order ------------------------------------------------------------------------------------
def test_input_order_is_kept_under_random_delays(tmp_path: Path) -> None:
    source = prompts(tmp_path / "in.jsonl", 200)
    with stand_in_process("--jitter", "0.05") as url:
        ordered = batch(str(source), "-o", str(tmp_path / "a.jsonl"), "-j", "16", url=url)
        unordered = batch(str(source), "-o", str(tmp_path / "b.jsonl"), "-j", "16",
                          "--unordered", url=url)  # fmt: skip
    assert ordered.code == 0 and unordered.code == 0, ordered.stderr + unordered.stderr
    expected = [f"q{i}" for i in range(200)]
    assert [r["custom_id"] for r in records(tmp_path / "a.jsonl")] == expected
    shuffled = [r["custom_id"] for r in records(tmp_path / "b.jsonl")]
    assert sorted(shuffled) == sorted(expected) and shuffled != expected


def test_more_requests_than_the_window(tmp_path: Path) -> None:
    # 1,000 requests through a window of 256 (-j 4): in order and --unordered, none stalls.
    source = prompts(tmp_path / "in.jsonl", 1000)
    with stand_in_process() as url:
        for flags in ([], ["--unordered"]):
            out = tmp_path / f"out{len(flags)}.jsonl"
            result = batch(str(source), "-o", str(out), *flags, url=url, timeout=120)
            assert result.code == 0, result.stderr
            assert len(records(out)) == 1000


# -- kill -9, then --resume ---------------------------------------------------------------------
def _wait_for_progress(out: Path, process: subprocess.Popen[bytes]) -> None:
    """Until the run has written a few more records than the file held (it is working), or
    has ended."""
    before = len(out.read_bytes().splitlines()) if out.exists() else 0
    deadline = time.monotonic() + RUN_TIMEOUT
    while process.poll() is None and time.monotonic() < deadline:
        if out.exists() and len(out.read_bytes().splitlines()) >= before + 20:
            return
        time.sleep(0.05)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kill_9_at_a_random_moment_then_resume_gives_each_id_once(
    tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    source = prompts(tmp_path / "in.jsonl", 2000)
    out = tmp_path / "out.jsonl"
    with stand_in_process("--latency", "0.01") as url:
        env = clean_env({"OUTSCALE_SERVER_URL": url, "OUTSCALE_MODEL_NAME": MODEL})
        for _ in range(2):  # killed twice, at random moments
            process = subprocess.Popen(
                [*cli_command(), "batch", "run", str(source), "-o", str(out), "-j", "16",
                 *(["--resume"] if out.exists() else [])],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                env=env,
            )  # fmt: skip
            _wait_for_progress(out, process)  # on a loaded machine start-up takes a while
            time.sleep(rng.uniform(0.0, 1.0))
            process.kill()
            process.wait(timeout=RUN_TIMEOUT)
            text = out.read_text() if out.exists() else ""
            whole = (
                text.splitlines()[:-1] if text and not text.endswith("\n") else text.splitlines()
            )
            for line in whole:  # whole lines, but for at most a torn last one
                json.loads(line)
        result = batch(str(source), "-o", str(out), "-j", "16", "--resume", url=url, timeout=120)
    assert result.code == 0, result.stderr
    ids = [r["custom_id"] for r in records(out)]
    assert sorted(ids) == sorted(f"q{i}" for i in range(2000))  # each exactly once
    assert out.read_text().endswith("\n")
    assert "done before" in summary(result.stderr)


def test_resume_refuses_a_file_made_from_another_input(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text(json.dumps({"custom_id": "other", "response": {"status_code": 200, "body": {}},
                               "error": None}) + "\n")  # fmt: skip
    before = out.read_bytes()
    with serve(MockConfig()) as served:
        result = batch(str(prompts(tmp_path / "in.jsonl", 3)), "-o", str(out), "--resume",
                       url=served.url)  # fmt: skip
        assert served.posts() == []
    assert result.code == 2
    assert "custom_id 'other'" in result.stderr and "another input" in result.stderr
    assert out.read_bytes() == before


def _half_done(out: Path, count: int) -> None:
    """Keep the first `count` records of `out` (as if the run had been stopped there)."""
    out.write_text("".join(out.read_text().splitlines(keepends=True)[:count]))


def test_resume_refuses_when_the_request_behind_an_id_changed(tmp_path: Path) -> None:
    """Ids that are line numbers shift when a line is added: resuming must not keep answers
    to other questions under them. Nor answers made with other sampling options."""
    source = tmp_path / "questions.txt"
    source.write_text("alpha\nbeta\ngamma\n")
    out = tmp_path / "out.jsonl"
    with serve(MockConfig()) as served:
        assert batch("--lines", str(source), "-o", str(out), url=served.url).code == 0
        made = records(out)
        assert all(len(r["outscale"]["request"]) == 16 for r in made)
        _half_done(out, 2)
        before = out.read_bytes()
        source.write_text("first, a new line\nalpha\nbeta\ngamma\n")  # ids 1-3 shift
        sent = len(served.posts())
        moved = batch("--lines", str(source), "-o", str(out), "--resume", url=served.url)
        assert moved.code == 2, moved.stderr
        assert (
            "(custom_id '1') answers another request than the input's line 1 makes now"
            in moved.stderr
        )
        assert "another -o file" in moved.stderr
        source.write_text("alpha\nbeta\ngamma\n")
        hotter = batch("--lines", str(source), "-o", str(out), "--resume", "-t", "0.9",
                       url=served.url)  # fmt: skip
        assert hotter.code == 2 and "sampling options changed" in hotter.stderr
        assert len(served.posts()) == sent and out.read_bytes() == before  # nothing sent
        same = batch("--lines", str(source), "-o", str(out), "--resume", url=served.url)
    assert same.code == 0, same.stderr
    assert [r["custom_id"] for r in records(out)] == ["1", "2", "3"]


def test_resume_refuses_another_model_and_accepts_a_fixed_failed_line(tmp_path: Path) -> None:
    source = prompts(tmp_path / "in.jsonl", 3)
    out = tmp_path / "out.jsonl"
    with serve(MockConfig()) as served:
        assert batch(str(source), "-o", str(out), "-j", "1", url=served.url).code == 0
        assert {r["outscale"]["model"] for r in records(out)} == {MODEL}
        other = batch(str(source), "-o", str(out), "--resume", "-m", "ministral-8b-2410",
                      url=served.url)  # fmt: skip
        assert other.code == 2, other.stderr
        assert f"was answered by {MODEL}, and this run sends to ministral-8b-2410" in other.stderr
        # A failed record is sent again: editing its line is how one fixes it.
        lines = out.read_text().splitlines(keepends=True)
        failed = json.loads(lines[1])
        failed["response"] = {"status_code": 400, "body": {"message": "bad"}}
        lines[1] = json.dumps(failed) + "\n"
        out.write_text("".join(lines))
        edited = source.read_text().splitlines(keepends=True)
        edited[1] = edited[1].replace("Question 1", "Question 1, fixed")
        source.write_text("".join(edited))
        fixed = batch(str(source), "-o", str(out), "--resume", url=served.url)
        assert fixed.code == 0, fixed.stderr
        asked = [json.loads(p.body)["messages"][0]["content"] for p in served.posts()]
    assert asked[-1] == "Question 1, fixed"
    assert [r["custom_id"] for r in records(out)] == ["q0", "q2", "q1"]


def test_a_line_with_a_lone_surrogate_is_a_problem_of_its_line(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"prompt": "fine"}\n{"prompt": "bad \\ud800 half"}\n')
    with serve(MockConfig()) as served:
        result = batch(str(source), "-o", str(tmp_path / "o.jsonl"), url=served.url)
        assert served.posts() == []
    assert result.code == 2, result.stderr
    assert "line 2: a lone UTF-16 surrogate" in result.stderr


@pytest.mark.parametrize("first", [[], ["--answers"]])
def test_resume_refuses_to_mix_the_two_formats(tmp_path: Path, first: list[str]) -> None:
    source = prompts(tmp_path / "in.jsonl", 3)
    out = tmp_path / "out.jsonl"
    other = [] if first else ["--answers"]
    with serve(MockConfig()) as served:
        assert batch(str(source), "-o", str(out), *first, url=served.url).code == 0
        _half_done(out, 1)
        result = batch(str(source), "-o", str(out), "--resume", *other, url=served.url)
        assert result.code == 2, result.stderr
        made = "with --answers" if first else "without --answers"
        assert f"was written {made}, and one file holds one format" in result.stderr
        again = batch(str(source), "-o", str(out), "--resume", *first, url=served.url)
    assert again.code == 0, again.stderr
    assert len(records(out)) == 3 and ("answer" in records(out)[2]) == bool(first)


def test_resume_needs_an_output_file(tmp_path: Path) -> None:
    result = batch(str(prompts(tmp_path / "in.jsonl", 1)), "--resume", url="http://127.0.0.1:9")
    assert result.code == 2 and "-o FILE" in result.stderr


# -- invalid input: exit 2, nothing sent --------------------------------------------------------
def test_invalid_input_is_refused_whole_before_anything_is_sent(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    good = json.dumps({"custom_id": "a", "body": {"messages": [{"role": "user", "content": "x"}]}})
    lines = [good] * 1 + ["{not json"] + [good] + [json.dumps({"prompt": "p", "top_p": 2})]
    lines += [json.dumps({"custom_id": f"c{i}", "body": {"bogus": i}}) for i in range(30)]
    source.write_text("\n".join(lines) + "\n")
    with serve(MockConfig()) as served:
        result = batch(str(source), url=served.url)
        assert served.posts() == []
    assert result.code == 2
    assert result.stdout == ""
    assert "has 33 problems (the first 20 below); nothing was sent" in result.stderr
    assert "line 2: not JSON" in result.stderr
    assert "line 3: custom_id 'a' again (first on line 1)" in result.stderr
    assert "line 4: 'top_p' must be a number above 0, at most 1" in result.stderr
    assert "line 5: unknown field 'bogus'" in result.stderr
    assert "line 21:" in result.stderr and "line 22:" not in result.stderr  # 20 listed


def test_a_typo_at_the_end_of_a_long_file_is_found_first(tmp_path: Path) -> None:
    source = prompts(tmp_path / "in.jsonl", 5000)
    with source.open("a") as out:
        out.write('{"custom_id": "last", "body": {"mesages": []}}\n')
    with serve(MockConfig()) as served:
        result = batch(str(source), url=served.url)
        assert served.posts() == []
    assert result.code == 2 and "line 5001: unknown field 'mesages'" in result.stderr


def test_dry_run_checks_counts_and_shows_the_first_request(tmp_path: Path) -> None:
    source = prompts(tmp_path / "in.jsonl", 12, temperature=0.5)
    with serve(MockConfig()) as served:
        result = batch(str(source), "--dry-run", url=served.url)
        assert served.records == []
    assert result.code == 0, result.stderr
    first = result.stdout.splitlines()
    assert first[0].startswith(f"12 requests (chat) in {source}, nothing sent")
    assert first[1] == f"line 1 (custom_id q0): POST {served.url}/v1/chat/completions"
    body = json.loads("\n".join(first[2:]))
    assert body["model"] == MODEL and body["temperature"] == 0.5


def test_input_from_stdin(tmp_path: Path) -> None:
    data = prompts(tmp_path / "in.jsonl", 3).read_bytes()
    with stand_in_process() as url:
        result = batch("-", url=url, stdin=data)
    assert result.code == 0, result.stderr
    assert [json.loads(x)["custom_id"] for x in result.stdout.splitlines()] == ["q0", "q1", "q2"]


# -- failures -------------------------------------------------------------------------------------
def test_partial_failures_are_exit_9_and_resume_sends_them_again(tmp_path: Path) -> None:
    source = prompts(tmp_path / "in.jsonl", 20)
    out = tmp_path / "out.jsonl"
    with stand_in_process("--fail-status", "400", "--fail-times", "3") as url:
        first = batch(str(source), "-o", str(out), "-j", "1", url=url)
        failed = [r for r in records(out) if r["error"] is not None]
        assert first.code == 9, first.stderr
        assert "3 of 20 requests failed" in first.stderr
        assert len(failed) == 3 and len(records(out)) == 20
        for record in failed:
            assert record["response"]["status_code"] == 400
            assert record["error"]["type"] == "http_status" and record["error"]["exit_code"] == 6
        again = batch(str(source), "-o", str(out), "--resume", url=url)
    assert again.code == 0, again.stderr
    assert summary(again.stderr).startswith("batch: 3 requests, 3 ok, 0 failed, 17 done before")
    assert sorted(r["custom_id"] for r in records(out)) == sorted(f"q{i}" for i in range(20))
    assert all(r["error"] is None for r in records(out))


def write_profiles(path: Path, **servers: str) -> dict[str, str]:
    tables = [f'[profiles.{name}]\nserver_url = "{url}"\nmodel = "{MODEL}"\n'
              for name, url in servers.items()]  # fmt: skip
    path.write_text("".join(tables))
    return {"OUTSCALE_CONFIG": str(path)}


def test_two_deployments_with_one_down_still_finish(tmp_path: Path) -> None:
    source = prompts(tmp_path / "in.jsonl", 40)
    out = tmp_path / "out.jsonl"
    with stand_in_process() as up, refused_url() as down:
        env = write_profiles(tmp_path / "c.toml", a=down, b=up)
        result = batch(str(source), "-o", str(out), "-p", "a", "-p", "b", env=env)
    assert result.code == 0, result.stderr
    written = records(out)
    assert len(written) == 40 and all(r["error"] is None for r in written)
    assert {r["outscale"]["profile"] for r in written} == {"b"}


def test_work_is_spread_over_deployments(tmp_path: Path) -> None:
    source = prompts(tmp_path / "in.jsonl", 60)
    with stand_in_process("--latency", "0.02") as one, stand_in_process("--latency", "0.02") as two:
        env = write_profiles(tmp_path / "c.toml", one=one, two=two)
        spread = batch(str(source), "--spread", "-m", MODEL, "-o", str(tmp_path / "s.jsonl"),
                       env=env)  # fmt: skip
    assert spread.code == 0, spread.stderr
    used = [r["outscale"]["profile"] for r in records(tmp_path / "s.jsonl")]
    assert used.count("one") > 10 and used.count("two") > 10


def test_when_no_deployment_can_be_reached_it_stops_resumably(tmp_path: Path) -> None:
    source = prompts(tmp_path / "in.jsonl", 50)
    out = tmp_path / "out.jsonl"
    with refused_url() as down:
        result = batch(str(source), "-o", str(out), url=down)
    assert result.code == 4, result.stderr
    assert "no deployment can be reached" in result.stderr and "--resume" in result.stderr
    assert out.read_text() == ""  # no error records written for a deployment that is down
    with stand_in_process() as url:
        again = batch(str(source), "-o", str(out), "--resume", url=url)
    assert again.code == 0, again.stderr
    assert len(records(out)) == 50


def test_a_429_with_retry_after_pauses_the_whole_deployment(tmp_path: Path) -> None:
    source = prompts(tmp_path / "in.jsonl", 6)
    with serve(MockConfig(fail_status=429, fail_times=1, retry_after="1")) as served:
        result = batch(str(source), "-j", "1", url=served.url)
        posts = served.posts()
    assert result.code == 0, result.stderr
    assert len(posts) == 7  # one 429, then all six
    assert posts[1].at - posts[0].at >= 0.95  # nothing sent to it while it was paused
    attempts = [json.loads(x)["outscale"]["attempts"] for x in result.stdout.splitlines()]
    assert attempts == [2, 1, 1, 1, 1, 1]


def _most_in_one_second(times: list[float]) -> int:
    return max(sum(t <= u < t + 1.0 for u in times) for t in times)


def test_rate_holds_with_retries_after_a_429_pause(tmp_path: Path) -> None:
    # Eight 429s with Retry-After 2 pause the deployment; the requests they held go again
    # when it ends, paced with the rest: never a burst above --rate.
    source = prompts(tmp_path / "in.jsonl", 30)
    config = MockConfig(fail_status=429, fail_times=8, retry_after="2")
    with serve(config) as served:
        result = batch(str(source), "-j", "8", "--rate", "5", url=served.url)
        posts = served.posts()
    assert result.code == 0, result.stderr
    assert len(posts) == 38  # 8 refused, then all 30
    times = [p.at for p in posts]
    # 5 a second, +1 at the edges, +1 for a send (or its arrival) held up a moment on a
    # loaded machine; the 8 held requests let go at once would be 8 and more.
    assert _most_in_one_second(times) <= 7
    # Every attempt waits for its turn: 38 sends at 5 a second span 7.4 s from the first
    # (0.4 s left for the first to arrive late), and the pause adds its 2 s to that.
    assert max(times) - min(times) >= 7.0


def test_a_paced_run_ends_with_its_last_request(tmp_path: Path) -> None:
    # 128 slots at 4 requests a second for 9 lines: the slots left without a line must not
    # each wait for a turn under --rate (that was about 30 s of idling after the last answer).
    source = prompts(tmp_path / "in.jsonl", 9)
    with serve() as served:
        result = batch(str(source), "-j", "128", "--rate", "4", url=served.url)
        ended = time.monotonic()
        posts = served.posts()
    assert result.code == 0, result.stderr
    assert len(posts) == 9
    # Paced: the k-th send waits until k/4 s after the first. Counted from the second request
    # (the first pays for the connection, so it may arrive late): 7 gaps of 0.25 s, 1.75 s,
    # less 0.5 s for the second request being late on a loaded machine. Unpaced, the nine
    # arrive within milliseconds; at twice the rate, 0.875 s.
    assert posts[-1].at - posts[1].at >= 1.25
    # From its first request to its end (its start-up, slow on a loaded machine, left out):
    took = ended - posts[0].at
    assert took < 16, summary(result.stderr)  # (half of the idling it used to do)


# -- progress and signals ----------------------------------------------------------------------
def test_no_progress_bar_when_piped_only_the_summary_line(tmp_path: Path) -> None:
    with stand_in_process() as url:
        result = batch(str(prompts(tmp_path / "in.jsonl", 10)), "-o", str(tmp_path / "o"), url=url)
    assert result.code == 0
    assert result.stderr.count("\n") == 1
    assert "\x1b" not in result.stderr and "\r" not in result.stderr
    assert summary(result.stderr).startswith("batch: 10 requests, 10 ok, 0 failed, ")


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_sending_writes_what_finished_and_resume_completes(
    tmp_path: Path, signum: int, code: int
) -> None:
    source = prompts(tmp_path / "in.jsonl", 400)
    out = tmp_path / "out.jsonl"
    # Each answer takes 1 s until the signal: the run would take 50 s, so the signal lands
    # while it sends however slowly a loaded machine runs it. The resume needs no such wait.
    config = MockConfig(latency=1.0)
    with serve(config) as served:
        env = clean_env({"OUTSCALE_SERVER_URL": served.url, "OUTSCALE_MODEL_NAME": MODEL})
        process = subprocess.Popen(
            [*cli_command(), "batch", "run", str(source), "-o", str(out), "-j", "8"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        )  # fmt: skip
        deadline = time.monotonic() + RUN_TIMEOUT
        while (not out.exists() or out.stat().st_size == 0) and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signum)
        _, err = process.communicate(timeout=RUN_TIMEOUT)
        assert process.returncode == code, err
        written = records(out)  # whole lines only: nothing torn by a signal
        assert 0 < len(written) < 400
        assert "not sent" in summary(err.decode())
        assert "send the rest with the same command and --resume" in err.decode()
        config.latency = 0.0  # (read as each request comes)
        again = batch(str(source), "-o", str(out), "--resume", url=served.url, timeout=120)
    assert again.code == 0, again.stderr
    assert sorted(r["custom_id"] for r in records(out)) == sorted(f"q{i}" for i in range(400))


def test_concurrency_and_rate_have_ranges(tmp_path: Path) -> None:
    source = str(prompts(tmp_path / "in.jsonl", 1))
    cases = [(["-j", "0"], "--concurrency takes 1 to"), (["--rate", "0"], "--rate takes"),
             (["--rate", "nan"], "--rate takes"),
             (["--endpoint", "embeddings"], "--endpoint takes chat or fim")]  # fmt: skip
    for flags, fragment in cases:
        result = batch(source, *flags, url="http://127.0.0.1:9")
        assert result.code == 2 and fragment in result.stderr, (flags, result.stderr)


# -- found in review ---------------------------------------------------------------------------
def test_an_output_that_cannot_be_written_stops_the_run_with_exit_10(tmp_path: Path) -> None:
    source = prompts(tmp_path / "in.jsonl", 300)  # more than the window of 64 in flight
    with stand_in_process() as url:
        result = batch(str(source), "-o", "/dev/full", url=url)
    assert result.code == 10, result.stderr
    assert "cannot write the records: No space left on device" in result.stderr
    assert "Traceback" not in result.stderr and "Task exception" not in result.stderr


def test_a_reader_gone_away_ends_the_run_quietly(tmp_path: Path) -> None:
    source = prompts(tmp_path / "in.jsonl", 300)
    with stand_in_process() as url:
        env = clean_env({"OUTSCALE_SERVER_URL": url, "OUTSCALE_MODEL_NAME": MODEL})
        process = subprocess.Popen([*cli_command(), "batch", "run", str(source)],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, env=env)  # fmt: skip
        assert process.stdout is not None and process.stderr is not None
        assert process.stdout.read(10)  # `| head -c 10`
        process.stdout.close()
        err = process.stderr.read()
        process.stderr.close()
        process.wait(timeout=RUN_TIMEOUT)  # it used to wait forever on its window
    assert process.returncode == 0 and b"Traceback" not in err, err


def test_an_input_that_can_be_read_only_once_is_sent_whole(tmp_path: Path) -> None:
    data = prompts(tmp_path / "in.jsonl", 20).read_bytes()
    out = tmp_path / "out.jsonl"
    with stand_in_process() as url:
        result = batch("/dev/stdin", "-o", str(out), url=url, stdin=data)  # a pipe, read twice
    assert result.code == 0, result.stderr
    assert sorted(r["custom_id"] for r in records(out)) == sorted(f"q{i}" for i in range(20))


def test_a_server_url_from_the_environment_does_not_silently_take_every_profile(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.toml"
    with stand_in_process() as a, stand_in_process() as b:
        config.write_text(f'[profiles.a]\nserver_url = "{a}"\nmodel = "{MODEL}"\n'
                          f'[profiles.b]\nserver_url = "{b}"\nmodel = "{MODEL}"\n')  # fmt: skip
        source = str(prompts(tmp_path / "in.jsonl", 4))
        env = {"OUTSCALE_CONFIG": str(config), "OUTSCALE_SERVER_URL": a}
        result = run_cli("batch", "run", source, "-p", "a", "-p", "b", env=env)
    assert result.code == 2 and result.stdout == ""
    assert "OUTSCALE_SERVER_URL would send every profile's requests to one server" in result.stderr


def test_two_runs_never_write_one_file(tmp_path: Path) -> None:
    source = prompts(tmp_path / "in.jsonl", 200)
    out = tmp_path / "out.jsonl"
    # Each answer takes 1 s until the second run has been refused: the first would take 50 s
    # (-j 4), so it is still writing however slowly a loaded machine starts the second. Then
    # the answers come at once and the first finishes.
    config = MockConfig(latency=1.0)
    with serve(config) as served:
        env = clean_env({"OUTSCALE_SERVER_URL": served.url, "OUTSCALE_MODEL_NAME": MODEL})
        first = subprocess.Popen([*cli_command(), "batch", "run", str(source), "-o", str(out)],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, env=env)  # fmt: skip
        deadline = time.monotonic() + RUN_TIMEOUT
        while (not out.exists() or out.stat().st_size == 0) and time.monotonic() < deadline:
            time.sleep(0.05)
        second = batch(str(source), "-o", str(out), "--resume", url=served.url)
        config.latency = 0.0  # (read as each request comes)
        _, err = first.communicate(timeout=RUN_TIMEOUT * 4)
    assert first.returncode == 0, err
    assert second.code == 2 and f"another batch run is writing {out}" in second.stderr
    ids = [r["custom_id"] for r in records(out)]
    assert sorted(ids) == sorted(f"q{i}" for i in range(200))  # each once


def test_ctrl_c_does_not_wait_for_the_next_paced_send(tmp_path: Path) -> None:
    source = prompts(tmp_path / "in.jsonl", 5)
    out = tmp_path / "out.jsonl"
    with stand_in_process() as url:
        env = clean_env({"OUTSCALE_SERVER_URL": url, "OUTSCALE_MODEL_NAME": MODEL})
        process = subprocess.Popen(
            [*cli_command(), "batch", "run", str(source), "-o", str(out), "--rate", "0.01"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )  # fmt: skip: the next send is 100 s away
        deadline = time.monotonic() + RUN_TIMEOUT
        while (not out.exists() or out.stat().st_size == 0) and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=RUN_TIMEOUT)  # not 100 s
    assert process.returncode == 130, err
    assert len(records(out)) == 1


@pytest.mark.parametrize("body", [b"{}", b"[1, 2]", b'{"id": "x"}'])
def test_a_2xx_answer_that_is_not_a_completion_is_a_failed_record(
    tmp_path: Path, body: bytes
) -> None:
    from .helpers import Canned, serve_canned

    source = prompts(tmp_path / "in.jsonl", 2)
    out = tmp_path / "out.jsonl"
    with serve_canned(Canned(body=body)) as served:
        result = batch(str(source), "-o", str(out), url=served.url)
    assert result.code == 9, result.stderr
    written = records(out)
    assert len(written) == 2 and all(r["error"] is not None for r in written)
    assert "not a completion" in json.dumps(written[0]["error"])


def test_a_deployment_restarting_for_a_second_does_not_stop_the_run(tmp_path: Path) -> None:
    # The run gives up after 3 connection failures in a row, 1 s then 2 s apart: an outage of
    # about 1 s must not stop it. The stand-in runs in this process, stopped and made again on
    # the same port, so the outage is the 1 s slept (plus the stop), not a process start-up.
    import socket

    from outscale_cli.mock.server import MockServer

    source = prompts(tmp_path / "in.jsonl", 400)  # 1.25 s at least (-j 16, 0.05 s each)
    out = tmp_path / "out.jsonl"
    config = MockConfig(latency=0.05)
    # The port stays this test's through the outage: a socket bound to it that never listens
    # shares it with each stand-in (SO_REUSEADDR on both), and nobody else can take it.
    # Connections to it are refused while no stand-in listens: a deployment restarting.
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        server: MockServer | None = MockServer(config, port=port).start()
        restarted: MockServer | None = None
        env = clean_env(
            {"OUTSCALE_SERVER_URL": f"http://127.0.0.1:{port}", "OUTSCALE_MODEL_NAME": MODEL}
        )
        command = [*cli_command(), "batch", "run", str(source), "-o", str(out), "-j", "16"]
        run = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, env=env)  # fmt: skip
        try:
            deadline = time.monotonic() + RUN_TIMEOUT
            while (not out.exists() or out.stat().st_size == 0) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert server is not None
            server.stop()  # it stops listening, answers what is in flight, closes the rest
            server = None
            time.sleep(1.0)
            server = restarted = MockServer(config, port=port).start()  # listening once made
            _, err = run.communicate(timeout=RUN_TIMEOUT * 4)
        finally:
            if run.poll() is None:
                run.kill()
                run.communicate()
            if server is not None:
                server.stop()
    assert run.returncode == 0, err
    written = records(out)
    assert sorted(r["custom_id"] for r in written) == sorted(f"q{i}" for i in range(400))
    assert all(r["error"] is None for r in written), err
    assert restarted is not None and restarted.records  # the run went on after the outage
