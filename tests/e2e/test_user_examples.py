"""The issue's "What a user does" examples, run as written against the stand-in."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from outscale_cli import __version__
from outscale_cli.mock.answers import chat_text, fim_text
from outscale_cli.mock.server import MockConfig, model_card

from .helpers import (
    PROG,
    Canned,
    Served,
    assert_error,
    clean_env,
    cli_command,
    expected_chat,
    piped,
    read_until,
    run_cli,
    serve,
    serve_canned,
    start_cli,
)

QUESTION = "Who is the best French painter? Answer in one short sentence."


# -- chat ---------------------------------------------------------------------------------------
def test_chat_with_the_two_documented_variables(stand_in: Served) -> None:
    # export OUTSCALE_SERVER_URL=... OUTSCALE_MODEL_NAME=small-2409; outscale-cli chat "..."
    result = run_cli("chat", QUESTION, env=stand_in.env("small-2409"))
    assert result.code == 0, result
    assert result.stdout == piped(expected_chat(QUESTION))
    assert result.stderr == ""
    (request,) = stand_in.records
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.json() == {
        "model": "small-2409",
        "messages": [{"role": "user", "content": QUESTION}],
        "stream": True,
    }


def test_chat_like_the_docs_curl_call_sends_only_what_was_set(stand_in: Served) -> None:
    # outscale-cli chat -t 0 --no-stream "Who is the best French painter?"
    prompt = "Who is the best French painter?"
    result = run_cli("chat", "-t", "0", "--no-stream", prompt, env=stand_in.env())
    assert result.code == 0, result
    assert result.stdout == piped(expected_chat(prompt))
    assert result.stderr == ""
    (request,) = stand_in.records
    assert request.json() == {
        "model": "small-2409",
        "messages": [{"role": "user", "content": prompt}],
        "temperature": 0,
    }


REPORT = "Quarterly report\n\nSales rose by 12%.\nCosts fell.\nHeadcount is flat.\n"


def test_chat_summarises_a_piped_file_with_a_system_message(stand_in: Served) -> None:
    # cat report.txt | outscale-cli chat -s "Summarise in three bullets."
    result = run_cli(
        "chat", "-s", "Summarise in three bullets.", env=stand_in.env(), stdin=REPORT.encode()
    )
    assert result.code == 0, result
    assert result.stdout == piped(expected_chat(REPORT.rstrip("\n")))
    assert result.stderr == ""
    (request,) = stand_in.records
    messages = request.json()["messages"]
    assert messages[0] == {"role": "system", "content": "Summarise in three bullets."}
    assert messages[1]["role"] == "user"
    assert messages[1]["content"].rstrip("\n") == REPORT.rstrip("\n")
    assert len(messages) == 2


def test_chat_debug_shows_the_request_body_on_stderr_only(stand_in: Served) -> None:
    result = run_cli(
        "chat",
        "--debug",
        "-s",
        "Summarise in three bullets.",
        env=stand_in.env(),
        stdin=REPORT.encode(),
    )
    assert result.code == 0, result
    assert result.stdout == piped(expected_chat(REPORT.rstrip("\n")))  # nothing else on stdout
    assert "Summarise in three bullets." in result.stderr
    assert "Sales rose by 12%." in result.stderr
    assert "/v1/chat/completions" in result.stderr


def test_chat_joins_files_then_stdin_then_the_argument(stand_in: Served, tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("from file a\n", encoding="utf-8")
    (tmp_path / "b.md").write_text("from file b", encoding="utf-8")
    result = run_cli(
        "chat",
        "-f",
        "a.md",
        "-f",
        "b.md",
        "from the argument",
        env=stand_in.env(),
        stdin=b"from stdin\n",
        cwd=tmp_path,
    )
    assert result.code == 0, result
    (request,) = stand_in.records
    assert request.json()["messages"] == [
        {
            "role": "user",
            "content": "from file a\n\nfrom file b\n\nfrom stdin\n\nfrom the argument",
        }
    ]


@pytest.mark.parametrize("mode", ["--stream", "--no-stream"])
def test_chat_from_a_file_as_json(stand_in: Served, tmp_path: Path, mode: str) -> None:
    # outscale-cli chat -f question.md --json | jq -r .usage.total_tokens
    question = "# Question\n\nWhat is the capital of France?\n"
    (tmp_path / "question.md").write_text(question, encoding="utf-8")
    result = run_cli("chat", "-f", "question.md", "--json", mode, env=stand_in.env(), cwd=tmp_path)
    assert result.code == 0, result
    assert result.stderr == ""
    response = json.loads(result.stdout)
    usage = response["usage"]
    assert isinstance(usage["total_tokens"], int) and not isinstance(usage["total_tokens"], bool)
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
    (choice,) = response["choices"]
    assert choice["message"]["content"] == expected_chat(question.rstrip("\n"))
    assert choice["finish_reason"] == "stop"
    assert response["model"] == "small-2409"
    assert isinstance(response["id"], str) and response["id"]


def test_chat_prefix_prints_only_what_follows_it(stand_in: Served) -> None:
    result = run_cli("chat", "--prefix", "Sure thing:", "Say hi", env=stand_in.env())
    assert result.code == 0, result
    assert result.stdout == piped(expected_chat("Say hi"))
    (request,) = stand_in.records
    assert request.json()["messages"][-1] == {
        "role": "assistant",
        "content": "Sure thing:",
        "prefix": True,
    }


def test_chat_sampling_options_reach_the_server_as_named(stand_in: Served) -> None:
    result = run_cli(
        "chat",
        "--no-stream",
        "--top-p",
        "0.9",
        "--max-tokens",
        "500",
        "--stop",
        "END",
        "--stop",
        "STOP",
        "--seed",
        "7",
        "--safe-prompt",
        "--presence-penalty",
        "0.5",
        "--frequency-penalty",
        "-0.5",
        "--json-mode",
        "Give me JSON",
        env=stand_in.env(),
    )
    assert result.code == 0, result
    assert json.loads(result.stdout) == {
        "stand_in": True,
        "model": "small-2409",
        "prompt_chars": len("Give me JSON"),
    }
    (request,) = stand_in.records
    body = request.json()
    assert body == {
        "model": "small-2409",
        "messages": [{"role": "user", "content": "Give me JSON"}],
        "top_p": 0.9,
        "max_tokens": 500,
        "stop": ["END", "STOP"],
        "random_seed": 7,
        "safe_prompt": True,
        "presence_penalty": 0.5,
        "frequency_penalty": -0.5,
        "response_format": {"type": "json_object"},
    }


def test_chat_json_schema_is_named_after_the_file(stand_in: Served, tmp_path: Path) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    (tmp_path / "city.json").write_text(json.dumps(schema), encoding="utf-8")
    result = run_cli(
        "chat", "--json-schema", "city.json", "Where?", env=stand_in.env(), cwd=tmp_path
    )
    assert result.code == 0, result
    assert json.loads(result.stdout)["stand_in"] is True
    (request,) = stand_in.records
    assert request.json()["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "city", "schema": schema, "strict": True},
    }


def test_chat_usage_goes_to_stderr_as_one_line(stand_in: Served) -> None:
    result = run_cli("chat", "--usage", "Hello", env=stand_in.env())
    assert result.code == 0, result
    assert result.stdout == piped(expected_chat("Hello"))
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result
    assert re.search(r"\d+ prompt", lines[0]) and re.search(r"\d+ completion", lines[0])
    assert re.search(r"\d+ total", lines[0])


def test_chat_uses_the_one_model_a_server_serves() -> None:
    with serve(MockConfig(models=("only-model-1",))) as srv:
        result = run_cli("chat", "Hello", env=srv.env(model=None))
    assert result.code == 0, result
    assert result.stdout == piped(expected_chat("Hello", model="only-model-1"))
    assert srv.posts()[0].json()["model"] == "only-model-1"


def test_flags_beat_environment_variables(stand_in: Served) -> None:
    env = {
        "OUTSCALE_SERVER_URL": "http://127.0.0.1:9",  # nothing there
        "OUTSCALE_MODEL_NAME": "no-such-model",
        "OUTSCALE_TIMEOUT": "not-a-number",
    }
    result = run_cli(
        "chat",
        "--server-url",
        stand_in.url,
        "-m",
        "ministral-8b-2410",
        "--timeout",
        "30",
        "Hello",
        env=env,
    )
    assert result.code == 0, result
    assert result.stdout == piped(expected_chat("Hello", model="ministral-8b-2410"))


# -- fim ----------------------------------------------------------------------------------------
FIM_PROMPT = "def count_words_in_file(file_path: str) -> int:"


@pytest.mark.parametrize("mode", ["--stream", "--no-stream"])
def test_fim_prints_exactly_the_completion(stand_in: Served, mode: str) -> None:
    # outscale-cli fim -m codestral-2405 "def ...:" --suffix "return n_words"
    result = run_cli(
        "fim",
        "-m",
        "codestral-2405",
        FIM_PROMPT,
        "--suffix",
        "return n_words",
        mode,
        env=stand_in.env(model=None),
    )
    assert result.code == 0, result
    assert result.stdout == fim_text({"suffix": "return n_words"})
    assert result.stderr == ""
    (request,) = stand_in.records
    assert request.path == "/v1/fim/completions"
    body = request.json()
    assert (body["model"], body["prompt"], body["suffix"]) == (
        "codestral-2405",
        FIM_PROMPT,
        "return n_words",
    )


def test_fim_without_suffix_adds_nothing(stand_in: Served) -> None:
    result = run_cli("fim", "-m", "codestral-2405", "def add(a, b):", env=stand_in.env(None))
    assert result.code == 0, result
    assert result.stdout == fim_text({})
    assert "suffix" not in stand_in.records[0].json()


def test_fim_sends_whitespace_byte_for_byte(stand_in: Served, tmp_path: Path) -> None:
    prompt = "def f(x):\n    y = x * 2\n    "
    suffix = "\n\n    return y  \n\n"
    (tmp_path / "before.py").write_text(prompt, encoding="utf-8")
    (tmp_path / "after.py").write_text(suffix, encoding="utf-8")
    result = run_cli(
        "fim",
        "-m",
        "codestral-2405",
        "-f",
        "before.py",
        "--suffix-file",
        "after.py",
        env=stand_in.env(None),
        cwd=tmp_path,
    )
    assert result.code == 0, result
    assert result.stdout == fim_text({"suffix": suffix})
    body = stand_in.records[0].json()
    assert body["prompt"] == prompt
    assert body["suffix"] == suffix


SOURCE = "import sys\n\ndef main():\n    args = sys.argv[1:]\n    return len(args)\n"


def test_fim_at_splits_the_file_and_redirects_to_a_file(stand_in: Served, tmp_path: Path) -> None:
    # outscale-cli fim -m codestral-2405 --at src/app.py:42:8 > completion.txt
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text(SOURCE, encoding="utf-8")
    with (tmp_path / "completion.txt").open("wb") as out:
        proc = subprocess.run(
            [*cli_command(), "fim", "-m", "codestral-2405", "--at", "src/app.py:4:5"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.PIPE,
            env=clean_env(stand_in.env(None)),
            cwd=tmp_path,
            timeout=30,
            check=False,
        )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == b""
    split = SOURCE.index("    args") + 4  # line 4, column 5: just before "args"
    body = stand_in.records[0].json()
    assert body["prompt"] == SOURCE[:split]
    assert body["suffix"] == SOURCE[split:]
    assert (tmp_path / "completion.txt").read_bytes() == fim_text(
        {"suffix": body["suffix"]}
    ).encode()


def test_fim_at_a_line_without_column_splits_at_its_start(stand_in: Served, tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(SOURCE, encoding="utf-8")
    result = run_cli(
        "fim", "-m", "codestral-2405", "--at", "app.py:3", env=stand_in.env(None), cwd=tmp_path
    )
    assert result.code == 0, result
    body = stand_in.records[0].json()
    assert body["prompt"] == "import sys\n\n"
    assert body["suffix"] == SOURCE[len("import sys\n\n") :]


@pytest.mark.parametrize("spec", ["app.py:99", "app.py:4:99", "app.py:0"])
def test_fim_at_outside_the_file_is_a_usage_error(
    stand_in: Served, tmp_path: Path, spec: str
) -> None:
    (tmp_path / "app.py").write_text(SOURCE, encoding="utf-8")
    result = run_cli(
        "fim", "-m", "codestral-2405", "--at", spec, env=stand_in.env(None), cwd=tmp_path
    )
    assert_error(result, 2, spec)
    assert stand_in.records == []


# -- models -------------------------------------------------------------------------------------
def test_models_piped_is_one_id_per_line_in_server_order() -> None:
    ids = ("zeta-2501", "alpha-2409", "mid-2410")
    with serve(MockConfig(models=ids)) as srv:
        result = run_cli("models", env=srv.env(model=None))
    assert result.code == 0, result
    assert result.stdout == "zeta-2501\nalpha-2409\nmid-2410\n"
    assert result.stderr == ""
    assert [(r.method, r.path) for r in srv.records] == [("GET", "/v1/models")]


def test_models_json_is_the_servers_list_as_received(stand_in: Served) -> None:
    result = run_cli("models", "--json", env=stand_in.env(model=None))
    assert result.code == 0, result
    assert json.loads(result.stdout) == {
        "object": "list",
        "data": [model_card(m) for m in ("small-2409", "codestral-2405", "ministral-8b-2410")],
    }


def test_models_on_a_server_without_the_route_suggests_ping() -> None:
    with serve(MockConfig(no_models=True)) as srv:
        result = run_cli("models", env=srv.env(model=None))
    line = assert_error(result, 6)
    assert "models" in line
    assert "ping" in result.stderr


# -- ping ---------------------------------------------------------------------------------------
def test_ping_prints_one_ok_line(stand_in: Served) -> None:
    # outscale-cli ping && ./deploy-next.sh
    result = run_cli("ping", env=stand_in.env("codestral-2405"))
    assert result.code == 0, result
    pattern = rf"ok codestral-2405 at {re.escape(stand_in.url)} \(models, \d+ ms\)\n"
    assert re.fullmatch(pattern, result.stdout), result
    assert result.stderr == ""
    assert [(r.method, r.path) for r in stand_in.records] == [("GET", "/v1/models")]


def test_ping_without_a_model_accepts_the_one_served() -> None:
    with serve(MockConfig(models=("small-2409",))) as srv:
        result = run_cli("ping", env=srv.env(model=None))
    assert result.code == 0, result
    assert re.fullmatch(
        rf"ok small-2409 at {re.escape(srv.url)} \(models, \d+ ms\)\n", result.stdout
    )


def test_ping_without_models_route_checks_with_a_one_token_chat() -> None:
    with serve(MockConfig(no_models=True)) as srv:
        result = run_cli("ping", env=srv.env("small-2409"))
    assert result.code == 0, result
    pattern = rf"ok small-2409 at {re.escape(srv.url)} \(chat, \d+ ms\)\n"
    assert re.fullmatch(pattern, result.stdout), result
    (post,) = srv.posts()
    assert post.path == "/v1/chat/completions"
    assert post.json()["max_tokens"] == 1
    assert post.json()["model"] == "small-2409"


def test_ping_of_a_model_not_served_exits_8_listing_what_is(stand_in: Served) -> None:
    result = run_cli("ping", env=stand_in.env("large-2411"))
    line = assert_error(result, 8, "large-2411")
    for served in ("small-2409", "codestral-2405", "ministral-8b-2410"):
        assert served in line


def test_ping_json_fields(stand_in: Served) -> None:
    result = run_cli("ping", "--json", env=stand_in.env("small-2409"))
    assert result.code == 0, result
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["server_url"] == stand_in.url
    assert report["model"] == "small-2409"
    assert report["check"] == "models"
    assert isinstance(report["latency_ms"], int) and report["latency_ms"] >= 0
    assert "error" not in report or report["error"] is None
    assert result.stderr == ""


def test_ping_json_when_the_model_is_not_served(stand_in: Served) -> None:
    result = run_cli("ping", "--json", env=stand_in.env("large-2411"))
    assert result.code == 8, result
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["server_url"] == stand_in.url
    assert "large-2411" in report["error"]
    assert "small-2409" in report["error"]


# -- the stand-in, with nothing configured ------------------------------------------------------
def test_chat_mock_works_with_nothing_configured() -> None:
    # outscale-cli chat --mock "Hello"
    result = run_cli("chat", "--mock", "Hello")
    assert result.code == 0, result
    assert result.stdout.strip()
    assert result.stdout == piped(
        chat_text({"messages": [{"role": "user", "content": "Hello"}]}, "small-2409")
    )
    assert "Traceback" not in result.stderr


def test_fim_mock_works_with_nothing_configured() -> None:
    result = run_cli("fim", "--mock", "def add(a, b):")
    assert result.code == 0, result
    assert result.stdout == fim_text({})


def test_ping_mock_works_with_nothing_configured() -> None:
    result = run_cli("ping", "--mock")
    assert result.code == 0, result
    assert re.fullmatch(r"ok \S+ at http://127\.0\.0\.1:\d+ \(models, \d+ ms\)\n", result.stdout)


# -- install ------------------------------------------------------------------------------------
def test_python_dash_m_version() -> None:
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "outscale_cli", "--version"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=clean_env(),
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0
    assert proc.stdout.decode() == f"{PROG} {__version__}\n"
    assert proc.stderr == b""


def test_console_script_version_and_help() -> None:
    version = run_cli("--version")
    assert version.code == 0, version
    assert version.stdout == f"{PROG} {__version__}\n"
    help_ = run_cli("--help")
    assert help_.code == 0, help_
    for command in ("chat", "fim", "models", "ping"):
        assert re.search(rf"^\W*{command}\s+\S", help_.stdout, re.MULTILINE), help_.stdout


# -- more of what users do ----------------------------------------------------------------------
def test_chat_file_dash_reads_stdin(stand_in: Served) -> None:
    result = run_cli("chat", "-f", "-", "Explain", env=stand_in.env(), stdin=b"some log\n")
    assert result.code == 0, result
    assert stand_in.records[0].json()["messages"] == [
        {"role": "user", "content": "some log\n\nExplain"}
    ]


def test_fim_reads_its_prompt_from_stdin_byte_for_byte(stand_in: Served) -> None:
    code = "class Stack:\n    def push(self, item):\n        "
    result = run_cli(
        "fim", "--suffix", "\n", env=stand_in.env("codestral-2405"), stdin=code.encode()
    )
    assert result.code == 0, result
    assert result.stdout == fim_text({"suffix": "\n"})
    body = stand_in.records[0].json()
    assert (body["prompt"], body["suffix"]) == (code, "\n")


@pytest.mark.parametrize("mode", ["--stream", "--no-stream"])
def test_fim_json(stand_in: Served, mode: str) -> None:
    result = run_cli("fim", "--json", mode, "def f():", env=stand_in.env("codestral-2405"))
    assert result.code == 0, result
    response = json.loads(result.stdout)
    assert response["choices"][0]["message"]["content"] == fim_text({})
    assert isinstance(response["usage"]["total_tokens"], int)


def test_ping_finds_the_model_by_alias() -> None:
    listing = {
        "object": "list",
        "data": [
            {"id": "mistral-small-2409", "aliases": ["small-latest", "mistral-small"]},
            {"id": "codestral-2405", "aliases": ["codestral-latest"]},
        ],
    }
    with serve_canned(Canned(body=json.dumps(listing).encode())) as srv:
        result = run_cli("ping", env=srv.env("small-latest"))
        missing = run_cli("ping", env=srv.env("large-latest"))
    assert result.code == 0, result
    assert re.fullmatch(rf"ok \S+ at {re.escape(srv.url)} \(models, \d+ ms\)\n", result.stdout)
    assert_error(missing, 8, "large-latest", "mistral-small-2409", "codestral-2405")


def test_timeout_is_a_silence_not_a_total() -> None:
    # A token every 0.25 s: 3 s in all, never 1.5 s of silence (six times the pace, a margin
    # for a loaded machine).
    with serve(MockConfig(models=("small-2409",), pace=0.25, length=12)) as srv:
        result = run_cli("chat", "--timeout", "1.5", "Hello", env=srv.env())
    assert result.code == 0, result
    assert result.stdout == piped(expected_chat("Hello", length=12))
    assert result.elapsed >= 3.0 > 1.5


SSE_VARIANTS = (
    b": keep-alive\r\n\r\n"
    b'data:{"id":"a","object":"chat.completion.chunk","model":"m","choices":[{"index":0,'
    b'"delta":{"role":"assistant","content":"Bon"},"finish_reason":null}]}\r\n\r\n'
    b'data: {"id":"a","object":"chat.completion.chunk","model":"m","choices":[{"index":0,'
    b'"delta":{"content":"jour \xc3\xa0 "},"finish_reason":null}],"p":"xyz"}\r\r'
    b'data: {"id":"a","object":"chat.completion.chunk","model":"m","choices":[{"index":0,'
    b'"delta":{"content":"tous"},"finish_reason":"stop"}],'
    b'"usage":{"prompt_tokens":3,"completion_tokens":3,"total_tokens":6}}\n\n'
    b"data: [DONE]\n\n"
)


def test_a_stream_in_every_allowed_line_ending_and_spacing() -> None:
    with serve_canned(Canned(body=SSE_VARIANTS, content_type="text/event-stream")) as srv:
        result = run_cli("chat", "Hello", env=srv.env())
        as_json = run_cli("chat", "--json", "Hello", env=srv.env())
    assert result.code == 0, result
    assert result.stdout == "Bonjour \u00e0 tous\n"
    assert as_json.code == 0, as_json
    response = json.loads(as_json.stdout)
    assert response["choices"][0]["message"]["content"] == "Bonjour \u00e0 tous"
    assert response["choices"][0]["finish_reason"] == "stop"
    assert response["usage"]["total_tokens"] == 6


def test_a_reader_that_stops_early_ends_the_pipeline_quietly() -> None:
    # outscale-cli chat "..." | head -c 20
    with serve(MockConfig(models=("small-2409",), length=3000)) as srv:
        proc = start_cli("chat", "Hello", env=srv.env())
        with proc:
            assert proc.stdout is not None and proc.stderr is not None
            first = read_until(proc.stdout.fileno(), lambda data: len(data) >= 20)
            proc.stdout.close()  # the reader goes away
            try:
                err = proc.stderr.read()
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise
    assert first.startswith(b"**Stand-in")
    assert b"Traceback" not in err
    assert b"Exception ignored" not in err
    assert proc.returncode == 0, (proc.returncode, err)  # quietly: the reader chose to stop
    assert err == b""
