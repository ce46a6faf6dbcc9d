"""`batch submit/status/wait/results/cancel/list` through the real process, against the
stand-in's batch service (its own process when jobs must outlive one command; in this process
when the test must see what it received), and the official SDK against the same stand-in."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from outscale_cli.mock.server import MockConfig, MockServer

from .helpers import RUN_TIMEOUT, clean_env, cli_command, run_cli

MODEL = "small-2409"
KEY = "sk-batch-service-key-77"


@contextmanager
def service_process(pace: str = "0.01") -> Iterator[dict[str, str]]:
    """The stand-in as its own process, requiring KEY; yields the environment to reach it."""
    process = subprocess.Popen(
        [*cli_command(), "mock-server", "--port", "0", "-q", "-m", MODEL, "--batch-pace", pace,
         "--api-key-env", "STAND_IN_KEY"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        env=clean_env({"STAND_IN_KEY": KEY}),
    )  # fmt: skip
    try:
        assert process.stdout is not None
        url = process.stdout.readline().decode().strip()
        yield {"OUTSCALE_SERVER_URL": url, "OUTSCALE_MODEL_NAME": MODEL, "OUTSCALE_API_KEY": KEY}
    finally:
        process.terminate()
        process.wait(timeout=RUN_TIMEOUT)
        if process.stdout:
            process.stdout.close()


def prompts(path: Path, count: int) -> Path:
    with path.open("w") as out:
        for i in range(count):
            body = {"messages": [{"role": "user", "content": f"Question {i}"}]}
            out.write(json.dumps({"custom_id": f"q{i}", "body": body}) + "\n")
    return path


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def batch(*args: str, env: dict[str, str], **kwargs: Any) -> Any:
    return run_cli("batch", *args, env=env, **kwargs)


def status(job_id: str, env: dict[str, str]) -> dict[str, Any]:
    shown = batch("status", job_id, "--json", env=env)
    assert shown.code == 0, shown.stderr
    return json.loads(shown.stdout)  # type: ignore[no-any-return]


def test_the_whole_cycle_submit_wait_results(tmp_path: Path) -> None:
    source = prompts(tmp_path / "in.jsonl", 25)
    out = tmp_path / "out.jsonl"
    with service_process() as env:
        submitted = batch("submit", str(source), env=env)
        assert submitted.code == 0, submitted.stderr
        job_id = submitted.stdout.strip()
        assert len(job_id) == 36 and submitted.stdout == job_id + "\n"  # the id, alone
        waited = batch("wait", job_id, "--interval", "0.2", env=env)
        assert waited.code == 0, waited.stderr
        assert f"job {job_id} SUCCESS, 25 requests, 25 succeeded, 0 failed" in waited.stderr
        fetched = batch("results", job_id, "-o", str(out), env=env)
        assert fetched.code == 0, fetched.stderr
        status = batch("status", job_id, "--json", env=env)
        listed = batch("list", "--status", "SUCCESS", env=env)
    written = records(out)
    assert sorted(r["custom_id"] for r in written) == sorted(f"q{i}" for i in range(25))
    for record in written:  # batch run's format
        assert record["error"] is None and record["response"]["status_code"] == 200
        assert record["response"]["body"]["choices"][0]["message"]["content"]
        assert record["outscale"] == {"job": job_id}
    job = json.loads(status.stdout)
    assert job["status"] == "SUCCESS" and job["succeeded_requests"] == 25
    assert listed.stdout.startswith(f"{job_id}\tSUCCESS\t{MODEL}\t25/25\t")


def test_submit_mock_wait_works_for_a_new_user(tmp_path: Path) -> None:
    source = prompts(tmp_path / "in.jsonl", 8)
    out = tmp_path / "out.jsonl"
    result = run_cli("batch", "submit", str(source), "--mock", "--wait", "-o", str(out))
    assert result.code == 0, result.stderr
    assert len(records(out)) == 8
    assert result.stdout == ""  # the records went to -o; the job's lines to stderr


def test_results_as_answers_and_to_stdout(tmp_path: Path) -> None:
    source = tmp_path / "q.txt"
    source.write_text("What is 2+2?\nCapital of France?\n")
    result = run_cli("batch", "submit", "--lines", str(source), "--mock", "--wait", "--answers")
    assert result.code == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(a["custom_id"] for a in answers) == ["1", "2"]
    assert all(a["answer"].startswith("**Stand-in answer**") for a in answers)


def test_cancel_in_flight(tmp_path: Path) -> None:
    source = prompts(tmp_path / "in.jsonl", 600)
    out = tmp_path / "out.jsonl"
    with service_process(pace="0.1") as env:  # the job takes 60 s: cancelled long before
        job_id = batch("submit", str(source), env=env).stdout.strip()
        cancelled = batch("cancel", job_id, env=env)
        assert cancelled.code == 0, cancelled.stderr
        assert cancelled.stdout.strip() in (f"{job_id} CANCELLATION_REQUESTED",
                                            f"{job_id} CANCELLED")  # fmt: skip
        waited = batch("wait", job_id, "--interval", "0.2", env=env)
        fetched = batch("results", job_id, "-o", str(out), env=env)
    assert waited.code == 6, waited.stderr
    assert f"the job {job_id} ended CANCELLED" in waited.stderr
    assert fetched.code == 6
    assert len(records(out)) < 600  # what was done before the cancellation


@pytest.mark.parametrize(("hook", "status"), [("fail", "FAILED"), ("timeout", "TIMEOUT_EXCEEDED")])
def test_a_job_that_ends_badly_is_exit_6_naming_its_status_and_errors(
    tmp_path: Path, hook: str, status: str
) -> None:
    source = prompts(tmp_path / "in.jsonl", 10)
    with service_process() as env:
        job_id = batch("submit", str(source), "--metadata", f"stand_in={hook}", env=env)
        job_id_text = job_id.stdout.strip()
        waited = batch("wait", job_id_text, "--interval", "0.2", env=env)
    assert waited.code == 6
    first = [line for line in waited.stderr.splitlines() if "error:" in line][0]
    assert f"the job {job_id_text} ended {status}: stand-in {hook}" in first


def test_an_error_file_with_string_and_object_errors_and_an_unreadable_line(
    tmp_path: Path,
) -> None:
    source = tmp_path / "in.jsonl"
    good = {"messages": [{"role": "user", "content": "ok"}]}
    refused = {"messages": [{"role": "user", "content": "x"}], "temperature": 1.4, "top_p": 0.5}
    lines = [{"custom_id": "good", "body": good}, {"custom_id": "refused",
             "body": {**refused, "model": "not-served"}}]  # fmt: skip
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    out = tmp_path / "out.jsonl"
    with service_process() as env:
        submitted = batch("submit", str(source), "--metadata", "stand_in=odd-errors", "--wait",
                          "--interval", "0.2", "-o", str(out), env=env)  # fmt: skip
    assert submitted.code == 9, submitted.stderr  # SUCCESS, with failed requests
    assert "1 lines of the job's files could not be read: kept as they are" in submitted.stderr
    text = out.read_text().splitlines()
    assert "this line is not JSON {" in text  # kept as it is
    by_id = {json.loads(x)["custom_id"]: json.loads(x) for x in text if x.startswith("{")}
    assert by_id["good"]["error"] is None
    assert by_id["refused"]["error"]["status"] == 400  # an error object from the service
    assert "Invalid model" in by_id["refused"]["error"]["message"]
    assert by_id["odd-string"]["error"]["message"] == "a string error"  # an error string


def test_bad_input_is_refused_before_anything_is_uploaded(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"custom_id": "a", "body": {"messages": []}}\nnot json\n')
    with MockServer(MockConfig(api_key=KEY)) as server:
        env = {"OUTSCALE_SERVER_URL": server.url, "OUTSCALE_API_KEY": KEY}
        result = batch("submit", str(source), "-m", MODEL, env=env)
        assert server.records == []
    assert result.code == 2
    assert "line 1: 'messages' must be a non-empty list" in result.stderr
    assert "line 2: not JSON" in result.stderr


def test_the_key_is_required_and_the_message_says_so(tmp_path: Path) -> None:
    source = prompts(tmp_path / "in.jsonl", 1)
    with MockServer(MockConfig()) as server:
        result = batch("submit", str(source), env={"OUTSCALE_SERVER_URL": server.url})
        assert server.records == []
    assert result.code == 3
    assert "the batch service needs an API key" in result.stderr
    assert "OUTSCALE_API_KEY" in result.stderr


def test_the_job_body_is_exactly_what_the_reference_shows(tmp_path: Path) -> None:
    with MockServer(MockConfig(api_key=KEY, models=("codestral-2405",))) as server:
        env = {"OUTSCALE_SERVER_URL": server.url, "OUTSCALE_API_KEY": KEY}
        holes = tmp_path / "holes.jsonl"
        holes.write_text(json.dumps({"prompt": "def f():", "suffix": "return 1"}) + "\n")
        result = batch("submit", str(holes), "--endpoint", "fim", "-m", "codestral-2405",
                       "--metadata", "k=v", "--timeout-hours", "24", env=env)  # fmt: skip
        assert result.code == 0, result.stderr
        upload, create = (r for r in server.records if r.method == "POST")
    assert upload.path == "/v1/files"
    assert upload.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert upload.headers["authorization"] == f"Bearer {KEY}"
    assert create.path == "/v1/batch/jobs"
    body = create.json()
    assert body == {"endpoint": "/v1/fim/completions", "input_files": body["input_files"],
                    "model": "codestral-2405", "metadata": {"k": "v"},
                    "timeout_hours": 24}  # fmt: skip
    assert len(body["input_files"]) == 1 and len(body["input_files"][0]) == 36


def test_results_of_a_job_still_running_is_refused(tmp_path: Path) -> None:
    source = prompts(tmp_path / "in.jsonl", 500)
    with service_process(pace="0.2") as env:  # the job takes 100 s: still running when asked
        job_id = batch("submit", str(source), env=env).stdout.strip()
        result = batch("results", job_id, env=env)
    assert result.code == 2
    assert f"the job {job_id} is still" in result.stderr and "batch wait" in result.stderr


def test_ctrl_c_stops_waiting_not_the_job(tmp_path: Path) -> None:
    source = prompts(tmp_path / "in.jsonl", 300)
    with service_process(pace="0.3") as env:  # the job takes 90 s: running all through
        job_id = batch("submit", str(source), env=env).stdout.strip()
        process = subprocess.Popen(
            [*cli_command(), "batch", "wait", job_id, "--interval", "0.2", "--debug"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=clean_env(env),
        )  # fmt: skip
        assert process.stderr is not None
        first = b""
        while b"<- 200" not in first:  # it has polled once: waiting (however loaded the machine)
            line = process.stderr.readline()
            assert line, first
            first += line
        process.send_signal(signal.SIGINT)
        _, rest = process.communicate(timeout=RUN_TIMEOUT)
        err = first + rest
        assert process.returncode == 130
        assert f"stopped waiting; the job {job_id} goes on" in err.decode()
        assert f"batch wait {job_id}" in err.decode() and f"batch cancel {job_id}" in err.decode()
        # The job goes on without its waiter: not cancelled, and answering more lines.
        before = status(job_id, env)
        deadline = time.monotonic() + RUN_TIMEOUT
        while (now := status(job_id, env))["completed_requests"] <= before["completed_requests"]:
            assert now["status"] in ("QUEUED", "RUNNING"), now
            assert time.monotonic() < deadline, now
            time.sleep(0.2)
    assert before["status"] in ("QUEUED", "RUNNING") and now["status"] == "RUNNING", now


def test_the_official_sdk_works_against_the_stand_in(tmp_path: Path) -> None:
    pytest.importorskip("mistralai")
    script = tmp_path / "sdk.py"
    script.write_text(SDK_SCRIPT)
    with MockServer(MockConfig(api_key=KEY)) as server:
        done = subprocess.run(
            [sys.executable, str(script), server.url, KEY], capture_output=True, text=True,
            timeout=120, env=clean_env(),
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "uploaded 3 lines", "created QUEUED", "ended SUCCESS 3 0", "downloaded 3 records",
        "listed 1 job", "retrieved the file", "deleted the file",
    ]  # fmt: skip


SDK_SCRIPT = """
import json, sys, time
from mistralai.client import Mistral

url, key = sys.argv[1], sys.argv[2]
client = Mistral(api_key=key, server_url=url)
lines = [json.dumps({"custom_id": str(i), "body": {"messages": [{"role": "user",
         "content": f"q{i}"}]}}) for i in range(3)]
up = client.files.upload(file={"file_name": "in.jsonl", "content": "\\n".join(lines).encode()},
                         purpose="batch")
print(f"uploaded {up.num_lines} lines")
job = client.batch.jobs.create(input_files=[up.id], model="small-2409",
                               endpoint="/v1/chat/completions", metadata={"k": "v"})
print(f"created {job.status}")
while job.status in ("QUEUED", "RUNNING", "CANCELLATION_REQUESTED"):
    time.sleep(0.1)
    job = client.batch.jobs.get(job_id=job.id)
print(f"ended {job.status} {job.succeeded_requests} {job.failed_requests}")
content = client.files.download(file_id=job.output_file).read()
print(f"downloaded {len(content.splitlines())} records")
print(f"listed {client.batch.jobs.list().total} job")
assert client.files.retrieve(file_id=up.id).id == up.id
print("retrieved the file")
assert client.files.delete(file_id=up.id).deleted
print("deleted the file")
"""


def test_the_issues_latest_names_work_on_the_stand_in(tmp_path: Path) -> None:
    holes = tmp_path / "holes.jsonl"
    holes.write_text("".join(json.dumps({"prompt": f"def f{i}(", "suffix": "return x"}) + "\n"
                             for i in range(3)))  # fmt: skip
    fills = tmp_path / "fills.jsonl"
    done = run_cli("batch", "submit", str(holes), "--endpoint", "fim", "-m", "codestral-latest",
                   "--wait", "-o", str(fills), "--mock")  # fmt: skip
    assert done.code == 0, done.stderr
    assert len(records(fills)) == 3 and all(r["error"] is None for r in records(fills))
    asked = run_cli("chat", "--mock", "-m", "mistral-small-latest", "--no-stream", "hi")
    assert asked.code == 0, asked.stderr


@pytest.mark.parametrize("job_id", ["../../files", "", "a b", "x/cancel"])
@pytest.mark.parametrize("command", ["status", "wait", "cancel", "results"])
def test_a_job_id_that_is_not_one_is_refused_before_any_request(command: str, job_id: str) -> None:
    with MockServer(MockConfig(api_key=KEY)) as server:
        env = {"OUTSCALE_SERVER_URL": server.url, "OUTSCALE_API_KEY": KEY}
        done = run_cli("batch", command, job_id, env=env)
        assert server.records == []
    assert done.code == 2 and "is not a batch job id" in done.stderr


@pytest.mark.parametrize("flags", [["-o", "x.jsonl"], ["--answers"], ["--interval", "2"]])
def test_submit_refuses_what_goes_with_wait_without_it(tmp_path: Path, flags: list[str]) -> None:
    source = prompts(tmp_path / "in.jsonl", 2)
    done = run_cli("batch", "submit", str(source), "--mock", *flags, cwd=tmp_path)
    assert done.code == 2 and "go with --wait" in done.stderr and done.stdout == ""


def test_list_refuses_a_status_that_is_none(tmp_path: Path) -> None:
    done = run_cli("batch", "list", "--status", "BOGUS", "--mock")
    assert done.code == 2 and "--status takes QUEUED, RUNNING" in done.stderr


def test_a_job_that_cannot_be_created_takes_its_upload_away() -> None:
    with MockServer(MockConfig(api_key=KEY)) as server:
        env = {"OUTSCALE_SERVER_URL": server.url, "OUTSCALE_API_KEY": KEY}
        holes = json.dumps({"prompt": "def f(", "suffix": "x"}) + "\n"
        done = run_cli("batch", "submit", "-", "--endpoint", "fim", "-m", "no-such-model",
                       env=env, stdin=holes.encode())  # fmt: skip
        assert done.code == 6, done.stderr  # 400 Invalid model
        files = [r for r in server.records if r.path.startswith("/v1/files")]
    methods = [(r.method, r.path.count("/")) for r in files]
    assert methods[0] == ("POST", 2) and methods[-1][0] == "DELETE"
