"""outscale_cli.batch.reader and .output: the forms of a line, the whole-input check, the
records, and what --resume keeps."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from outscale_cli.batch.output import Outcome, Writer, record_succeeded, resume
from outscale_cli.batch.reader import Defaults, IdStore, LineProblem, check, parse, requests
from outscale_cli.errors import ServerError, UsageError

USER = {"role": "user", "content": "hi"}


# -- one line ------------------------------------------------------------------------------------
def test_mistrals_form() -> None:
    line = json.dumps({"custom_id": "a", "body": {"messages": [USER], "max_tokens": 5}})
    request = parse(line, 7, "chat", plain=False)
    assert request is not None
    assert (request.number, request.custom_id) == (7, "a")
    assert request.body == {"messages": [USER], "max_tokens": 5}


def test_a_missing_custom_id_is_the_line_number() -> None:
    request = parse(json.dumps({"body": {"messages": [USER]}}), 12, "chat", plain=False)
    assert request is not None and request.custom_id == "12"


def test_openais_form_is_checked_then_its_method_and_url_ignored() -> None:
    line = {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions",
            "body": {"messages": [USER]}}  # fmt: skip
    request = parse(json.dumps(line), 1, "chat", plain=False)
    assert request is not None and request.body == {"messages": [USER]}
    with pytest.raises(LineProblem, match="not this batch's endpoint"):
        parse(json.dumps({**line, "url": "/v1/embeddings"}), 1, "chat", plain=False)
    with pytest.raises(LineProblem, match="batch requests are POST"):
        parse(json.dumps({**line, "method": "GET"}), 1, "chat", plain=False)


def test_the_short_forms() -> None:
    chat = parse(json.dumps({"prompt": "q", "system": "s", "id": "x", "top_p": 0.5}), 1, "chat",
                 plain=False)  # fmt: skip
    assert chat is not None and chat.custom_id == "x"
    assert chat.body == {"messages": [{"role": "system", "content": "s"},
                                      {"role": "user", "content": "q"}], "top_p": 0.5}  # fmt: skip
    fim = parse(json.dumps({"prompt": "def f():", "suffix": "return 1"}), 2, "fim", plain=False)
    assert fim is not None and fim.body == {"prompt": "def f():", "suffix": "return 1"}
    with pytest.raises(LineProblem, match="unknown key 'suffix'"):
        parse(json.dumps({"prompt": "q", "suffix": "x"}), 1, "chat", plain=False)


def test_defaults_fill_what_a_line_does_not_set() -> None:
    defaults = Defaults(sampling={"temperature": 0.1, "max_tokens": 9}, system="Be brief.")
    mine = parse(json.dumps({"prompt": "q", "temperature": 0.7}), 1, "chat", plain=False,
                 defaults=defaults)  # fmt: skip
    assert mine is not None
    assert mine.body["temperature"] == 0.7 and mine.body["max_tokens"] == 9
    assert mine.body["messages"][0] == {"role": "system", "content": "Be brief."}
    full = parse(json.dumps({"body": {"messages": [USER]}}), 1, "chat", plain=False,
                 defaults=defaults)  # fmt: skip
    assert full is not None
    assert full.body == {"messages": [USER], "temperature": 0.1, "max_tokens": 9}  # no system


def test_plain_lines() -> None:
    request = parse("What is 2+2?\r\n", 3, "chat", plain=True)
    assert request is not None and request.custom_id == "3"
    assert request.body == {"messages": [{"role": "user", "content": "What is 2+2?"}]}
    assert parse("   \n", 4, "chat", plain=True) is None


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("{", "not JSON"),
        ("[1]", "a JSON list, not an object"),
        ('{"custom_id": "a"}', "neither"),
        ('{"custom_id": "a", "body": [], "x": 1}', "unknown key 'x'"),
        ('{"custom_id": "a", "body": []}', "'body' must be an object"),
        ('{"custom_id": "", "body": {}}', "custom_id must not be empty"),
        ('{"custom_id": true, "body": {}}', "custom_id must be a string"),
        ('{"body": {"messages": [{"role": "user", "content": "x"}], "stream": true}}', "stream"),
        ('{"body": {"messages": [{"role": "assistant", "content": "x"}]}}', "last message"),
        ('{"body": {"messages": [{"role": "user", "content": "x"}], "n": 0}}', "'n' must be"),
        ('{"prompt": 3}', "'prompt' must be a string"),
    ],
)
def test_problems_of_a_line(line: str, fragment: str) -> None:
    with pytest.raises(LineProblem, match=fragment):
        parse(line, 1, "chat", plain=False)


# -- the whole input ---------------------------------------------------------------------------
def write(tmp_path: Path, *lines: str) -> str:
    path = tmp_path / "in.jsonl"
    path.write_text("".join(line + "\n" for line in lines))
    return str(path)


def good(custom_id: str) -> str:
    return json.dumps({"custom_id": custom_id, "body": {"messages": [USER]}})


def test_check_counts_and_reads_again(tmp_path: Path) -> None:
    source = write(tmp_path, good("a"), "", good("b"))
    checked = check(source, "chat", plain=False, defaults=Defaults())
    try:
        assert checked.requests == 2 and checked.first is not None
        assert [r.custom_id for r in requests(checked, "chat", plain=False,
                                              defaults=Defaults())] == ["a", "b"]  # fmt: skip
        assert checked.ids.request_of("a") is not None and checked.ids.request_of("c") is None
    finally:
        checked.close()


@pytest.mark.parametrize(
    ("after", "says"),
    [(lambda: good("a") + "\n" + '{"custom_id": "b", "bo', "line 2: "),  # cut mid-line
     (lambda: good("a") + "\n", "1 requests left of the 2 checked"),  # lines removed
     (lambda: good("a") + "\n\udcff\n", "line 2: ")],  # no longer UTF-8
)  # fmt: skip
def test_an_input_that_changes_while_it_runs_stops_it_with_exit_2(
    tmp_path: Path, after: Any, says: str
) -> None:
    source = write(tmp_path, good("a"), good("b"))
    checked = check(source, "chat", plain=False, defaults=Defaults())
    try:
        Path(source).write_bytes(after().encode("utf-8", "surrogateescape"))
        with pytest.raises(UsageError) as caught:
            list(requests(checked, "chat", plain=False, defaults=Defaults()))
        assert caught.value.status == 2
        assert "changed while it ran" in caught.value.message and says in caught.value.message
        assert "--resume" in (caught.value.hint or "")
    finally:
        checked.close()


def test_check_lists_up_to_20_problems_and_counts_them_all(tmp_path: Path) -> None:
    source = write(tmp_path, good("a"), *(["{"] * 25), good("a"))
    with pytest.raises(UsageError) as caught:
        check(source, "chat", plain=False, defaults=Defaults())
    message = caught.value.message
    assert "has 26 problems (the first 20 below); nothing was sent" in message
    assert message.count("\n  line ") == 20
    assert "line 2: not JSON" in message and "line 21: not JSON" in message


def test_a_duplicate_is_found_however_far_apart(tmp_path: Path) -> None:
    source = write(tmp_path, good("x"), *(good(f"n{i}") for i in range(500)), good("x"))
    with pytest.raises(UsageError, match=r"line 502: custom_id 'x' again \(first on line 1\)"):
        check(source, "chat", plain=False, defaults=Defaults())


def test_an_implicit_id_may_collide_with_an_explicit_one(tmp_path: Path) -> None:
    source = write(tmp_path, json.dumps({"body": {"messages": [USER]}}), good("1"))
    with pytest.raises(UsageError, match="custom_id '1' again"):
        check(source, "chat", plain=False, defaults=Defaults())


def test_standard_input_is_spooled_and_removed(tmp_path: Path) -> None:
    stdin = io.BytesIO((good("a") + "\n" + good("b") + "\n").encode())
    checked = check("-", "chat", plain=False, defaults=Defaults(), stdin=stdin)
    spool = checked.path
    assert spool.exists()
    got = [r.custom_id for r in requests(checked, "chat", plain=False, defaults=Defaults())]
    checked.close()
    assert got == ["a", "b"] and not spool.exists()


def test_empty_and_unreadable_inputs(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="holds no request"):
        check(write(tmp_path, "", "  "), "chat", plain=False, defaults=Defaults())
    with pytest.raises(UsageError, match="it is a directory"):
        check(str(tmp_path), "chat", plain=False, defaults=Defaults())
    bad = tmp_path / "latin1.txt"
    bad.write_bytes(b"caf\xe9\n")
    with pytest.raises(UsageError, match="line 1: not UTF-8"):
        check(str(bad), "chat", plain=True, defaults=Defaults())


# -- the records ----------------------------------------------------------------------------------
def outcome(custom_id: str, *, failed: bool = False) -> Outcome:
    if failed:
        error = ServerError("400 Bad Request: no", http_status=400)
        return Outcome(custom_id, 400, {"message": "no"}, error, "p", 1)
    body = {"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]}
    return Outcome(custom_id, 200, body, None, "p", 2, text="ok", finish_reason="stop")


def test_the_records_written(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    writer = Writer(path, answers=False, run_id="r1")
    writer.write(outcome("a"))
    writer.write(outcome("b", failed=True))
    writer.close()
    first, second = (json.loads(line) for line in path.read_text().splitlines())
    assert first["id"] == "batch-r1-1" and first["error"] is None
    assert first["response"]["status_code"] == 200 and first["outscale"]["attempts"] == 2
    assert second["error"] == {"type": "http_status", "message": "400 Bad Request: no",
                               "status": 400, "exit_code": 6}  # fmt: skip
    assert record_succeeded(first) and not record_succeeded(second)
    answers = tmp_path / "answers.jsonl"
    writer = Writer(answers, answers=True, run_id="r1")
    writer.write(outcome("a"))
    writer.write(outcome("b", failed=True))
    writer.close()
    short = [json.loads(line) for line in answers.read_text().splitlines()]
    assert short[0] == {"custom_id": "a", "answer": "ok", "finish_reason": "stop", "usage": None}
    assert short[1]["error"]["status"] == 400 and short[1]["answer"] is None
    assert record_succeeded(short[0]) and not record_succeeded(short[1])


@pytest.mark.parametrize(
    "record",
    [
        {"custom_id": "a", "response": {"status_code": 500, "body": {}}, "error": None},
        {"custom_id": "a", "response": None, "error": {"type": "connection"}},
        {"custom_id": "a", "response": {"status_code": 200, "body": {}}, "error": "failed"},
        {"response": {"status_code": 200}},
        "a string",
    ],
)
def test_what_does_not_count_as_done(record: object) -> None:
    assert not record_succeeded(record)


def test_resume_keeps_the_done_drops_failed_and_a_torn_line(tmp_path: Path) -> None:
    ids = IdStore()
    for number, custom_id in enumerate(("a", "b", "c"), start=1):
        ids.add(custom_id, number)
    path = tmp_path / "out.jsonl"
    done = json.dumps({"custom_id": "a", "response": {"status_code": 200, "body": {}},
                       "error": None})  # fmt: skip
    failed = json.dumps({"custom_id": "b", "response": None, "error": {"type": "timeout"}})
    path.write_text(done + "\n" + failed + "\n" + '{"custom_id": "c", "resp')
    resumed = resume(path, ids)
    assert (resumed.kept, resumed.dropped, resumed.torn) == (1, 1, True)
    assert path.read_text() == done + "\n"
    assert ids.is_done("a") and not ids.is_done("b") and not ids.is_done("c")
    assert list(tmp_path.glob(".out.jsonl.*")) == []
    ids.close()


def test_resume_leaves_a_whole_file_untouched(tmp_path: Path) -> None:
    ids = IdStore()
    ids.add("a", 1)
    path = tmp_path / "out.jsonl"
    path.write_text(json.dumps({"custom_id": "a", "answer": "x"}) + "\n")
    before = path.stat().st_mtime_ns, path.read_bytes()
    assert resume(path, ids, answers=True).kept == 1
    assert (path.stat().st_mtime_ns, path.read_bytes()) == before
    ids.close()


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("[" * 100_000, "nested too deeply"),
        ('{"prompt": "a", "max_tokens": ' + "9" * 5000 + "}", "4300 digits"),
    ],  # fmt: skip
)
def test_a_line_the_decoder_cannot_take_is_a_problem_of_that_line(
    tmp_path: Path, line: str, fragment: str
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"prompt": "fine"}) + "\n" + line + "\n" + "not json\n")
    with pytest.raises(UsageError) as caught:
        check(str(source), "chat", plain=False, defaults=Defaults())
    assert "has 2 problems" in caught.value.message
    assert "line 2: not JSON that can be read: " in caught.value.message
    assert fragment in caught.value.message and "line 3: not JSON" in caught.value.message


def test_a_service_record_with_a_string_error_counts_as_failed(tmp_path: Path) -> None:
    from outscale_cli.batch.reader import IdStore
    from outscale_cli.batch.service import _merge

    downloaded = tmp_path / "error_file"
    lines = [{"id": "r1", "custom_id": "a", "response": None, "error": "model overloaded"},
             {"id": "r2", "custom_id": "b", "response": {"status_code": 200, "body": {
                 "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                              "finish_reason": "stop"}]}}, "error": None}]  # fmt: skip
    downloaded.write_text("".join(json.dumps(line) + "\n" for line in lines))
    out = tmp_path / "records.jsonl"
    writer = Writer(out, answers=False, run_id="job")
    seen = IdStore()
    try:
        assert _merge(downloaded, writer, seen, "job", False, None) == (0, 1)  # type: ignore[arg-type]
    finally:
        seen.close()
        writer.close()
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert records[0]["error"]["message"] == "model overloaded"
    assert records[0]["error"]["exit_code"] == 6 and records[1]["error"] is None


@pytest.mark.parametrize("plain", [False, True])
def test_a_byte_order_mark_is_not_part_of_the_first_line(tmp_path: Path, plain: bool) -> None:
    source = tmp_path / "in.jsonl"
    first = "What is 2+2?" if plain else json.dumps({"prompt": "What is 2+2?"})
    source.write_bytes(b"\xef\xbb\xbf" + first.encode() + b"\n")
    checked = check(str(source), "chat", plain=plain, defaults=Defaults())
    try:
        [request] = list(requests(checked, "chat", plain=plain, defaults=Defaults()))
    finally:
        checked.close()
    assert request.body["messages"] == [{"role": "user", "content": "What is 2+2?"}]
