"""The stand-in's batch service: Mistral's files and batch-jobs API, run by the stand-in itself.

    POST /v1/files (multipart: file, purpose, visibility)   GET /v1/files[/{id}[/content]]
    DELETE /v1/files/{id}
    POST /v1/batch/jobs   GET /v1/batch/jobs[/{id}]   POST /v1/batch/jobs/{id}/cancel
    DELETE /v1/batch/jobs/{id}

A job goes QUEUED, then RUNNING (each line answered through the stand-in's own completions, one
every `batch_pace` seconds), then SUCCESS, with an output file and an error file (the lines it
refused). Cancelled: CANCELLATION_REQUESTED, then CANCELLED, keeping what was done. The shapes
are those of the official SDK's models (mistralai 3.7). Test hooks, by the job's metadata
"stand_in": "fail" ends it FAILED, "timeout" TIMEOUT_EXCEEDED (both halfway), "odd-errors"
adds an error line whose error is a string and a line that is not JSON to its error file.
Files are kept on disk (a temporary folder), never whole in memory.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from outscale_cli.mock.server import StandIn

ENDPOINTS = ("/v1/chat/completions", "/v1/fim/completions")
IN_FLIGHT = ("QUEUED", "RUNNING", "CANCELLATION_REQUESTED")


@dataclass
class StoredFile:
    id: str
    filename: str
    path: str
    size: int
    lines: int
    created_at: int
    purpose: str = "batch"
    sample_type: str = "batch_request"
    source: str = "upload"

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": self.size,
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "sample_type": self.sample_type,
            "source": self.source,
            "num_lines": self.lines,
            "mimetype": "application/jsonl",
            "signature": None,
        }


@dataclass
class Job:
    id: str
    input_files: list[str]
    endpoint: str
    model: str | None
    metadata: dict[str, Any] | None
    timeout_hours: int
    created_at: int
    status: str = "QUEUED"
    errors: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0
    completed: int = 0
    succeeded: int = 0
    failed: int = 0
    output_file: str | None = None
    error_file: str | None = None
    started_at: int | None = None
    completed_at: int | None = None
    cancel: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "batch",
            "input_files": self.input_files,
            "metadata": self.metadata,
            "endpoint": self.endpoint,
            "model": self.model,
            "agent_id": None,
            "output_file": self.output_file,
            "error_file": self.error_file,
            "errors": self.errors,
            "outputs": None,
            "status": self.status,
            "created_at": self.created_at,
            "total_requests": self.total,
            "completed_requests": self.completed,
            "succeeded_requests": self.succeeded,
            "failed_requests": self.failed,
            "started_at": self.started_at,
            "completed_at": self.completed_at,
        }


def _json(status: int, payload: Any) -> web.Response:
    return web.json_response(payload, status=status)


def _invalid(status: int, message: str) -> web.Response:
    body = {"object": "error", "message": message, "type": "invalid_request_error"}
    return _json(status, {**body, "param": None, "code": None})


def _not_found(what: str) -> web.Response:
    return _json(404, {"object": "error", "message": f"{what} not found", "type": "not_found",
                       "param": None, "code": "3000"})  # fmt: skip


class BatchService:
    def __init__(self, stand_in: StandIn) -> None:
        self.stand_in = stand_in
        self.folder = tempfile.mkdtemp(prefix="outscale-stand-in-files-")
        self.files: dict[str, StoredFile] = {}
        self.jobs: dict[str, Job] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        shutil.rmtree(self.folder, ignore_errors=True)

    async def handle(self, request: web.Request, path: str) -> web.StreamResponse:
        parts = path.strip("/").split("/")[1:]  # without "v1"
        method = request.method
        if parts[0] == "files":
            if len(parts) == 1:
                return await self._upload(request) if method == "POST" else self._files(request)
            stored = self.files.get(parts[1])
            if stored is None:
                return _not_found(f"file {parts[1]}")
            if len(parts) == 3 and parts[2] == "content" and method == "GET":
                return web.FileResponse(
                    stored.path, headers={"Content-Type": "application/octet-stream"}
                )
            if len(parts) == 2 and method == "GET":
                return _json(200, {**stored.as_json(), "deleted": False})
            if len(parts) == 2 and method == "DELETE":
                del self.files[stored.id]
                os.unlink(stored.path)
                return _json(200, {"id": stored.id, "object": "file", "deleted": True})
            return _json(405, {"detail": "Method Not Allowed"})
        if len(parts) == 2:  # batch/jobs
            if method == "POST":
                return await self._create(request)
            return self._list_jobs(request)
        job = self.jobs.get(parts[2]) if len(parts) >= 3 else None
        if job is None:
            return _not_found(f"batch job {parts[2] if len(parts) >= 3 else ''}")
        if len(parts) == 4 and parts[3] == "cancel" and method == "POST":
            if job.status in IN_FLIGHT:
                job.cancel = True
                job.status = "CANCELLATION_REQUESTED"
            return _json(200, job.as_json())
        if len(parts) == 3 and method == "GET":
            return _json(200, job.as_json())
        if len(parts) == 3 and method == "DELETE":
            del self.jobs[job.id]
            return _json(200, {"id": job.id, "object": "batch", "deleted": True})
        return _json(405, {"detail": "Method Not Allowed"})

    # -- files --------------------------------------------------------------------------------
    async def _upload(self, request: web.Request) -> web.Response:
        try:
            reader = await request.multipart()
        except (AssertionError, ValueError, KeyError):
            return _json(422, {"detail": [{"loc": ["body", "file"], "msg": "Field required",
                                           "type": "missing"}]})  # fmt: skip
        fields: dict[str, str] = {}
        stored: StoredFile | None = None
        while (part := await reader.next()) is not None:
            name = getattr(part, "name", None)
            if name == "file":
                ident = str(uuid.uuid4())
                path = os.path.join(self.folder, ident)
                size = lines = 0
                last = b"\n"
                with open(path, "wb") as out:
                    while chunk := await part.read_chunk(64 * 1024):  # type: ignore[union-attr]
                        out.write(chunk)
                        size += len(chunk)
                        lines += chunk.count(b"\n")
                        last = chunk[-1:]
                lines += last != b"\n"  # a last line without its newline counts too
                filename = getattr(part, "filename", None) or "upload.jsonl"
                stored = StoredFile(ident, filename, path, size, lines, int(time.time()))
            elif name:
                value = await part.read()  # type: ignore[union-attr]
                fields[name] = value.decode("utf-8", "replace")
        if stored is None:
            return _json(422, {"detail": [{"loc": ["body", "file"], "msg": "Field required",
                                           "type": "missing"}]})  # fmt: skip
        purpose = fields.get("purpose", "batch")
        stored.purpose = purpose
        self.files[stored.id] = stored
        return _json(200, stored.as_json())

    def _files(self, request: web.Request) -> web.Response:
        found = [f for f in self.files.values()
                 if request.query.get("purpose") in (None, f.purpose)]  # fmt: skip
        page, size = int(request.query.get("page", 0)), int(request.query.get("page_size", 100))
        data = [f.as_json() for f in found[page * size : (page + 1) * size]]
        return _json(200, {"data": data, "object": "list", "total": len(found)})

    # -- jobs ---------------------------------------------------------------------------------
    async def _create(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
        except ValueError:
            return _invalid(400, "Invalid JSON body")
        problems = []
        if not isinstance(body, dict):
            body, problems = {}, ["The body must be an object"]
        endpoint = body.get("endpoint")
        if endpoint not in ENDPOINTS:
            problems.append(f"endpoint must be one of {', '.join(ENDPOINTS)}")
        files = body.get("input_files")
        if not isinstance(files, list) or not files or not all(f in self.files for f in files):
            problems.append("input_files must name uploaded files")
        model = body.get("model")
        if model is not None and not self.stand_in.config.serves(model):
            return _json(400, {"object": "error", "message": f"Invalid model: {model}",
                               "type": "invalid_model", "param": None, "code": "1500"})  # fmt: skip
        metadata = body.get("metadata")
        if metadata is not None and not (
            isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())
        ):
            problems.append("metadata must be an object of strings")
        timeout = body.get("timeout_hours", 24)
        if not isinstance(timeout, int) or not 1 <= timeout <= 168:
            problems.append("timeout_hours must be a whole number of hours from 1 to 168")
        if problems:
            return _invalid(422, "; ".join(problems))
        job = Job(str(uuid.uuid4()), list(files or []), str(endpoint), model, metadata, timeout,
                  int(time.time()))  # fmt: skip
        self.jobs[job.id] = job
        task = asyncio.get_running_loop().create_task(self._run(job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return _json(200, job.as_json())

    def _list_jobs(self, request: web.Request) -> web.Response:
        statuses = request.query.getall("status", [])
        model = request.query.get("model")
        found = [
            j
            for j in self.jobs.values()
            if (not statuses or j.status in statuses) and model in (None, j.model)
        ]
        newest_first = request.query.get("order_by") != "created"
        found.sort(key=lambda j: j.created_at, reverse=newest_first)
        page, size = int(request.query.get("page", 0)), int(request.query.get("page_size", 100))
        data = [j.as_json() for j in found[page * size : (page + 1) * size]]
        return _json(200, {"object": "list", "data": data, "total": len(found)})

    async def _run(self, job: Job) -> None:
        """Answer every line of the job's input files through the stand-in's completions."""
        from outscale_cli.mock.server import Answer

        pace = self.stand_in.config.batch_pace
        hook = (job.metadata or {}).get("stand_in")
        await asyncio.sleep(pace)
        if job.cancel:
            return self._end(job, "CANCELLED")
        job.status, job.started_at = "RUNNING", int(time.time())
        lines = [line for f in job.input_files for line in _lines(self.files[f].path)]
        job.total = len(lines)
        outputs: list[str] = []
        errors: list[str] = []
        chat = job.endpoint == "/v1/chat/completions"
        allowed = _fields(chat)
        for number, raw in enumerate(lines, start=1):
            if job.cancel:
                break
            if hook in ("fail", "timeout") and number > max(1, job.total // 2):
                job.errors.append({"message": f"stand-in {hook}", "count": 1})
                self._write(job, outputs, errors)
                return self._end(job, "FAILED" if hook == "fail" else "TIMEOUT_EXCEEDED")
            await asyncio.sleep(pace)
            custom_id, body, problem = _request(raw, number, job.model)
            if problem is None and body is not None:
                checked = self.stand_in._check(body, allowed, chat)
                problem = checked
            record_id = f"batch-{job.id[:8]}-{number}-{uuid.uuid4().hex[:8]}"
            if problem is not None:
                status, payload = problem
                errors.append(json.dumps({
                    "id": record_id, "custom_id": custom_id,
                    "response": {"status_code": status, "body": payload},
                    "error": {"message": _message(payload), "code": str(status)},
                }))  # fmt: skip
                job.failed += 1
            else:
                assert body is not None
                answer = Answer.of(body, chat, self.stand_in.config.length).whole()
                outputs.append(json.dumps({
                    "id": record_id, "custom_id": custom_id,
                    "response": {"status_code": 200, "body": answer}, "error": None,
                }))  # fmt: skip
                job.succeeded += 1
            job.completed += 1
        if hook == "odd-errors":
            errors.append(json.dumps({"id": "odd-1", "custom_id": "odd-string",
                                      "response": None, "error": "a string error"}))  # fmt: skip
            errors.append("this line is not JSON {")
        self._write(job, outputs, errors)
        self._end(job, "CANCELLED" if job.cancel else "SUCCESS")

    def _write(self, job: Job, outputs: list[str], errors: list[str]) -> None:
        if outputs:
            job.output_file = self._store(f"{job.id}.jsonl", outputs, "batch_result").id
        if errors:
            job.error_file = self._store(f"{job.id}_error.jsonl", errors, "batch_error").id

    def _store(self, filename: str, lines: list[str], sample_type: str) -> StoredFile:
        ident = str(uuid.uuid4())
        path = os.path.join(self.folder, ident)
        data = "".join(line + "\n" for line in lines).encode()
        with open(path, "wb") as out:
            out.write(data)
        stored = StoredFile(ident, filename, path, len(data), len(lines), int(time.time()),
                            sample_type=sample_type, source="mistral")  # fmt: skip
        self.files[ident] = stored
        return stored

    @staticmethod
    def _end(job: Job, status: str) -> None:
        job.status, job.completed_at = status, int(time.time())


def _lines(path: str) -> list[bytes]:
    with open(path, "rb") as handle:
        return [line for line in handle if line.strip()]


def _fields(chat: bool) -> frozenset[str]:
    from outscale_cli.wire import CHAT_FIELDS, FIM_FIELDS

    return CHAT_FIELDS if chat else FIM_FIELDS


def _request(
    raw: bytes, number: int, model: str | None
) -> tuple[str, dict[str, Any] | None, tuple[int, dict[str, Any]] | None]:
    """(custom_id, body with the job's model, or why the line is refused)."""
    try:
        data = json.loads(raw)
    except ValueError:
        return str(number), None, (400, {"message": "the line is not JSON"})
    if not isinstance(data, dict) or not isinstance(data.get("body"), dict):
        return str(number), None, (400, {"message": "a line is {custom_id, body}"})
    custom_id = str(data.get("custom_id", number))
    body = dict(data["body"])
    if "model" not in body:
        if model is None:
            return custom_id, None, (400, {"message": "no model: set it on the job or the line"})
        body["model"] = model
    return custom_id, body, None


def _message(payload: Any) -> str:
    from outscale_cli.errors import message_from_object

    return message_from_object(payload) or "refused"
