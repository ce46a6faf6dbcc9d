"""`batch submit` on the wire (pytest-httpx): the upload's multipart fields and the job's body,
exactly as Mistral's reference shows them, and only the options given."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pytest_httpx import HTTPXMock

from tests.cli.conftest import SERVER

FILE = {"id": "e85980c9-0000-4000-8000-000000000001", "object": "file", "bytes": 10,
        "created_at": 1, "filename": "in.jsonl", "purpose": "batch",
        "sample_type": "batch_request", "source": "upload"}  # fmt: skip
JOB = {"id": "b0000000-0000-4000-8000-000000000002", "object": "batch", "status": "QUEUED",
       "input_files": [FILE["id"]], "endpoint": "/v1/chat/completions", "errors": [],
       "created_at": 1, "total_requests": 0, "completed_requests": 0,
       "succeeded_requests": 0, "failed_requests": 0}  # fmt: skip


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"prompt": "Best French cheese?", "id": "a"}) + "\n")
    return path


def test_the_upload_and_the_job_on_the_wire(
    cli, httpx_mock: HTTPXMock, monkeypatch, source: Path
) -> None:
    monkeypatch.setenv("OUTSCALE_API_KEY", "sk-x")
    httpx_mock.add_response(url=f"{SERVER}/v1/files", method="POST", json=FILE)
    httpx_mock.add_response(url=f"{SERVER}/v1/batch/jobs", method="POST", json=JOB)
    result = cli("batch", "submit", str(source), "--metadata", "team=data",
                 "--timeout-hours", "48")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert result.stdout == JOB["id"] + "\n"
    upload, create = httpx_mock.get_requests()
    assert upload.headers["authorization"] == "Bearer sk-x"
    boundary = re.search(r"boundary=(\S+)", upload.headers["content-type"]).group(1)  # type: ignore[union-attr]
    parts = upload.content.split(b"--" + boundary.encode())
    file_part = next(p for p in parts if b'name="file"' in p)
    assert b'Content-Disposition: form-data; name="file"; filename="in.jsonl"' in file_part
    assert b"Content-Type: application/octet-stream" in file_part
    sent_line = json.loads(file_part.split(b"\r\n\r\n", 1)[1].strip())
    assert sent_line == {"custom_id": "a", "body": {"messages": [
        {"role": "user", "content": "Best French cheese?"}]}}  # fmt: skip
    purpose = next(p for p in parts if b'name="purpose"' in p)
    assert purpose.split(b"\r\n\r\n", 1)[1].strip() == b"batch"
    assert json.loads(create.content) == {
        "endpoint": "/v1/chat/completions", "input_files": [FILE["id"]], "model": "small-2409",
        "metadata": {"team": "data"}, "timeout_hours": 48,
    }  # fmt: skip


def test_only_the_options_given_are_sent(
    cli, httpx_mock: HTTPXMock, monkeypatch, source: Path
) -> None:
    monkeypatch.setenv("OUTSCALE_API_KEY", "sk-x")
    httpx_mock.add_response(url=f"{SERVER}/v1/files", method="POST", json=FILE)
    httpx_mock.add_response(url=f"{SERVER}/v1/batch/jobs", method="POST", json=JOB)
    result = cli("batch", "submit", str(source), "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["id"] == JOB["id"]  # the whole job object
    create = httpx_mock.get_requests()[1]
    assert set(json.loads(create.content)) == {"endpoint", "input_files", "model"}


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--metadata", "novalue"], "--metadata takes KEY=VALUE"),
        (["--metadata", f"{'k' * 33}=v"], "1 to 32 characters"),
        (["--timeout-hours", "0"], "--timeout-hours takes 1 to 168"),
        (["--interval", "0"], "--interval takes 0.1 to 3600"),
        (["--endpoint", "embeddings"], "--endpoint takes chat or fim"),
    ],
)
def test_bad_options_are_refused_before_anything_is_sent(
    cli, httpx_mock: HTTPXMock, monkeypatch, source: Path, flags: list[str], fragment: str
) -> None:
    monkeypatch.setenv("OUTSCALE_API_KEY", "sk-x")
    result = cli("batch", "submit", str(source), *flags)
    assert result.exit_code == 2, result.stderr
    assert fragment in result.stderr
    assert httpx_mock.get_requests() == []
