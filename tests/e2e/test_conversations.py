"""Conversations and the history through the real process: recorded by default, continued
with -c/--cid, named, searched, removed; what is never recorded; recording failures that never
change the exit code; kill -9 mid-answer; chat -i on a real pseudo-terminal (pexpect)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from outscale_cli.mock.server import MockConfig

from .helpers import (
    RECORDED,
    RUN_TIMEOUT,
    Canned,
    Served,
    clean_env,
    cli_command,
    run_cli,
    serve,
    serve_canned,
)

MODEL = "small-2409"


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """A user's environment with the history in tmp_path."""
    return {"OUTSCALE_HISTORY": str(tmp_path / "history.sqlite"),
            "OUTSCALE_CONFIG": str(tmp_path / "config.toml")}  # fmt: skip


@pytest.fixture
def stand_in() -> Any:
    with serve(MockConfig()) as served:
        yield served


def chat(served: Served, home: dict[str, str], *args: str, **env: str) -> Any:
    return run_cli("chat", *args, env={**served.env(), **home, **env})


def db(home: dict[str, str]) -> sqlite3.Connection:
    return sqlite3.connect(home["OUTSCALE_HISTORY"])


def sent_messages(served: Served) -> list[dict[str, Any]]:
    return served.posts()[-1].json()["messages"]  # type: ignore[no-any-return]


def test_a_conversation_over_several_commands(stand_in: Served, home: dict[str, str]) -> None:
    first = chat(stand_in, home, "-s", "Be brief.", "Name three French painters.")
    assert first.code == 0 and first.stderr == "", first.stderr
    second = chat(stand_in, home, "-c", "Which of them painted water lilies?")
    assert second.code == 0, second.stderr
    sent = sent_messages(stand_in)
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[0]["content"] == "Be brief."  # its system prompt, not given again
    assert sent[2]["content"] == first.stdout  # the answer, as it was (it ends with a newline)
    assert sent[3]["content"] == "Which of them painted water lilies?"
    rows = db(home).execute("SELECT conversation_id, prompt FROM exchanges ORDER BY id").fetchall()
    assert rows[0][0] == rows[1][0] and [r[1] for r in rows] == [
        "Name three French painters.", "Which of them painted water lilies?"]  # fmt: skip


def test_after_each_chat_the_database_file_alone_holds_every_exchange(
    stand_in: Served, home: dict[str, str], tmp_path: Path
) -> None:
    """Each chat closes the history in a thread while it finishes, and waits for that close
    (its copy of the write-ahead log into the file) before it exits: a copy of the file
    alone, without its -wal, is the whole history."""
    path = Path(home["OUTSCALE_HISTORY"])
    for i in range(6):
        result = chat(stand_in, home, f"question {i}")
        assert result.code == 0 and result.stderr == "", result.stderr
        copy = tmp_path / f"copy{i}.sqlite"
        copy.write_bytes(path.read_bytes())
        with sqlite3.connect(copy) as database:
            assert database.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            rows = database.execute("SELECT prompt FROM exchanges ORDER BY id").fetchall()
        assert [r[0] for r in rows] == [f"question {n}" for n in range(i + 1)]


def test_named_conversations_and_cid(stand_in: Served, home: dict[str, str]) -> None:
    assert chat(stand_in, home, "--name", "monet", "Tell me about Giverny.").code == 0
    assert chat(stand_in, home, "Something else.").code == 0  # the last one now
    assert chat(stand_in, home, "--cid", "monet", "And in which town?").code == 0
    assert [m["content"] for m in sent_messages(stand_in)][0] == "Tell me about Giverny."
    again = chat(stand_in, home, "--name", "monet", "x")
    assert again.code == 2 and "named 'monet' already" in again.stderr
    unknown = chat(stand_in, home, "--cid", "nope", "x")
    assert unknown.code == 2 and "no conversation 'nope'" in unknown.stderr


def test_the_conversations_model_is_kept_unless_given_again(
    stand_in: Served, home: dict[str, str]
) -> None:
    assert chat(stand_in, home, "-m", "ministral-8b-2410", "first").code == 0
    assert chat(stand_in, home, "-c", "second").code == 0
    assert stand_in.posts()[-1].json()["model"] == "ministral-8b-2410"
    assert chat(stand_in, home, "-c", "-m", MODEL, "third").code == 0
    assert stand_in.posts()[-1].json()["model"] == MODEL


def test_a_reasoning_answer_is_resent_with_its_thinking(
    tmp_path: Path, home: dict[str, str]
) -> None:
    fixture = RECORDED / "magistral-high-stream.sse"
    with serve(MockConfig(models=("magistral-small-latest",), replay=fixture)) as served:
        env = {**served.env(model="magistral-small-latest"), **home}
        assert run_cli("chat", "What is 17 times 19?", env=env).stdout == "323\n"
        assert run_cli("chat", "-c", "And 18 times 19?", env=env).code == 0
        reply = served.posts()[-1].json()["messages"][1]
    assert reply["role"] == "assistant"
    assert reply["content"][0]["type"] == "thinking" and reply["content"][0]["closed"] is True
    assert reply["content"][0]["thinking"][0]["text"]  # the reasoning, kept apart
    assert reply["content"][1] == {"type": "text", "text": "323"}


def test_a_conversation_too_long_says_what_to_do(stand_in: Served, home: dict[str, str]) -> None:
    assert chat(stand_in, home, "first").code == 0
    conversation = db(home).execute("SELECT id FROM conversations").fetchone()[0]
    too_long = Canned(status=400, body=json.dumps({"object": "error", "message":
                      "Prompt contains 140000 tokens, too large for model"}).encode())  # fmt: skip
    with serve_canned(too_long) as canned:
        result = run_cli("chat", "-c", "more", env={**canned.env(), **home})
    assert result.code == 6
    assert "too large for model" in result.stderr
    assert f"history show {conversation}" in result.stderr and "start a new one" in result.stderr


# -- what is recorded, what is not -------------------------------------------------------------
def test_fim_is_recorded_and_mock_ping_models_batch_are_not(
    stand_in: Served, home: dict[str, str], tmp_path: Path
) -> None:
    env = {**stand_in.env(), **home}
    assert run_cli("fim", "-m", "codestral-2405", "def f():", env=env).code == 0
    assert run_cli("chat", "--mock", "hi", env=home).code == 0
    assert run_cli("ping", env=env).code == 0
    assert run_cli("models", env=env).code == 0
    batch = tmp_path / "b.jsonl"
    batch.write_text(json.dumps({"prompt": "x"}) + "\n")
    assert run_cli("batch", "run", str(batch), env=env).code == 0
    kinds = db(home).execute("SELECT kind, prompt FROM exchanges").fetchall()
    assert kinds == [("fim", "def f():")]


@pytest.mark.parametrize("how", ["--no-log", "OUTSCALE_NO_HISTORY", "history off"])
def test_recording_can_be_turned_off(stand_in: Served, home: dict[str, str], how: str) -> None:
    extra: dict[str, str] = {}
    args = ["hi"]
    if how == "--no-log":
        args = ["--no-log", "hi"]
    elif how == "OUTSCALE_NO_HISTORY":
        extra = {"OUTSCALE_NO_HISTORY": "1"}
    else:
        off = run_cli("history", "off", env=home)
        assert off.code == 0, off.stderr
        assert "history = false" in Path(home["OUTSCALE_CONFIG"]).read_text()
        status = run_cli("history", "status", env=home)
        assert "recording  off (history = false in" in status.stdout
    result = chat(stand_in, home, *args, **extra)
    assert result.code == 0 and result.stderr == ""
    assert not Path(home["OUTSCALE_HISTORY"]).exists()
    if how == "history off":
        assert run_cli("history", "on", env=home).code == 0
        assert chat(stand_in, home, "hi").code == 0
        assert Path(home["OUTSCALE_HISTORY"]).exists()


@pytest.mark.parametrize("where", ["a-file-as-folder", "read-only-folder", "corrupt", "locked"])
def test_a_history_that_cannot_be_written_never_fails_the_chat(
    stand_in: Served, home: dict[str, str], tmp_path: Path, where: str
) -> None:
    path = Path(home["OUTSCALE_HISTORY"])
    holder = None
    if where == "a-file-as-folder":
        (tmp_path / "file").write_text("")
        home["OUTSCALE_HISTORY"] = str(tmp_path / "file" / "history.sqlite")
    elif where == "read-only-folder":
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders")
        folder = tmp_path / "ro"
        folder.mkdir(mode=0o500)
        home["OUTSCALE_HISTORY"] = str(folder / "history.sqlite")
    elif where == "corrupt":
        path.write_bytes(b"garbage, not sqlite" * 500)
    else:  # another process holds the database past the busy timeout
        assert chat(stand_in, home, "first").code == 0
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
    try:
        result = chat(stand_in, home, "hi")
    finally:
        if holder is not None:
            holder.execute("ROLLBACK")
            holder.close()
    assert result.code == 0
    assert result.stdout.startswith("**Stand-in answer**")
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("outscale-cli: warning: the exchange was not "
                                                   "recorded: "), result.stderr  # fmt: skip


def test_twenty_concurrent_chats_are_all_recorded(stand_in: Served, home: dict[str, str]) -> None:
    env = clean_env({**stand_in.env(), **home})
    processes = [
        subprocess.Popen([*cli_command(), "chat", f"question {i}"], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        for i in range(20)
    ]  # fmt: skip
    for process in processes:
        _, err = process.communicate(timeout=RUN_TIMEOUT * 2)
        assert process.returncode == 0 and err == b"", err
    prompts = {row[0] for row in db(home).execute("SELECT prompt FROM exchanges")}
    assert prompts == {f"question {i}" for i in range(20)}


def test_kill_9_during_an_answer_leaves_a_sound_database(home: dict[str, str]) -> None:
    with serve(MockConfig(pace=0.05, length=400)) as slow:
        env = {**slow.env(), **home}
        for i in range(3):
            assert run_cli("chat", "--no-stream", f"earlier {i}", env=env).code == 0
        process = subprocess.Popen([*cli_command(), "chat", "the one killed"],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, env=clean_env(env))  # fmt: skip
        assert process.stdout is not None
        process.stdout.read(40)  # the answer is streaming
        process.kill()
        process.wait(timeout=RUN_TIMEOUT)
        process.stdout.close()
    connection = db(home)
    assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    prompts = [r[0] for r in connection.execute("SELECT prompt FROM exchanges ORDER BY id")]
    assert prompts == ["earlier 0", "earlier 1", "earlier 2"]


# -- the history commands --------------------------------------------------------------------------
def test_history_list_search_show_rm_export(stand_in: Served, home: dict[str, str]) -> None:
    assert chat(stand_in, home, "--name", "monet", "Monet and water lilies").code == 0
    assert chat(stand_in, home, "-c", "Where is Giverny?").code == 0
    assert chat(stand_in, home, "Bread recipes").code == 0
    recent = run_cli("history", env=home)
    assert [line.split("\t")[3] for line in recent.stdout.splitlines()] == [
        "Monet and water lilies", "Where is Giverny?", "Bread recipes"]  # fmt: skip
    listed = run_cli("history", "conversations", env=home).stdout.splitlines()
    assert len(listed) == 2 and listed[1].split("\t")[1:3] == ["monet", "2"]
    found = run_cli("history", "search", "water lilies", "--json", env=home)
    assert [json.loads(x)["prompt"] for x in found.stdout.splitlines()] == [
        "Monet and water lilies"]  # fmt: skip
    shown = run_cli("history", "show", "monet", env=home).stdout
    assert "Monet and water lilies" in shown and "Where is Giverny?" in shown
    assert "Bread" not in shown
    exported = run_cli("history", "export", "--json", env=home).stdout.splitlines()
    assert len(exported) == 3 and all("sk-" not in line for line in exported)
    record = json.loads(exported[0])
    assert {"messages", "answer", "usage", "model", "server_url", "duration_ms"} <= set(record)
    assert run_cli("history", "rm", "monet", env=home).stderr == (
        "removed 2 exchanges\n")  # fmt: skip
    assert len(run_cli("history", env=home).stdout.splitlines()) == 1
    assert run_cli("history", "rm", "--all", env=home).code == 0
    assert run_cli("history", env=home).stdout == ""
    bad = run_cli("history", "rm", "--older-than", "soon", env=home)
    assert bad.code == 2 and "--older-than takes an age" in bad.stderr


def test_history_path_follows_the_variable(home: dict[str, str]) -> None:
    assert run_cli("history", "path", env=home).stdout == home["OUTSCALE_HISTORY"] + "\n"


def test_the_key_and_headers_are_never_recorded(home: dict[str, str], tmp_path: Path) -> None:
    secret = "sk-never-in-history-123"
    with serve(MockConfig(api_key=secret)) as served:
        env = {**served.env(), **home, "OUTSCALE_API_KEY": secret}
        assert run_cli("chat", "hi", env=env).code == 0
    raw = Path(home["OUTSCALE_HISTORY"]).read_bytes()
    wal = Path(home["OUTSCALE_HISTORY"] + "-wal")
    raw += wal.read_bytes() if wal.exists() else b""
    assert secret.encode() not in raw and b"Bearer" not in raw


# -- chat -i ---------------------------------------------------------------------------------------
def test_interactive_needs_a_terminal(stand_in: Served, home: dict[str, str]) -> None:
    result = chat(stand_in, home, "-i")
    assert result.code == 2
    assert "chat -i needs a terminal" in result.stderr


def spawn_session(env: dict[str, str], *args: str) -> Any:
    pexpect = pytest.importorskip("pexpect")
    full = clean_env({**env, "TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1"})
    return pexpect.spawn(cli_command()[0], [*cli_command()[1:], "chat", "-i", *args], env=full,
                         encoding="utf-8", timeout=20, dimensions=(30, 100))  # fmt: skip


PROMPT_READY = "\x1b[?2004h"  # prompt_toolkit turns bracketed paste on at each new prompt


def test_an_interactive_session(home: dict[str, str]) -> None:
    pexpect = pytest.importorskip("pexpect")
    with serve(MockConfig(pace=0.05, length=120)) as served:
        child = spawn_session({**served.env(), **home})
        try:
            child.expect("Ctrl-D to leave")
            child.expect_exact(PROMPT_READY)
            child.send("first line")
            child.send("\x1b\r")  # Esc, Enter (Alt+Enter): a new line, not sent
            child.send("second line\r")
            child.expect("Stand-in answer")
            time.sleep(0.5)
            child.sendintr()  # Ctrl-C mid-answer: back to the prompt
            child.expect(r"\(interrupted\)")
            child.expect_exact(PROMPT_READY)
            child.send("some half-typed line")
            child.sendintr()  # Ctrl-C at the prompt clears the line
            child.expect_exact(PROMPT_READY)
            child.sendline("/system Be brief.")
            child.expect("system message: Be brief.")
            child.expect_exact(PROMPT_READY)
            child.sendline("next question")
            child.expect_exact(PROMPT_READY, timeout=60)  # after the whole answer
            child.sendeof()  # Ctrl-D leaves
            child.expect(pexpect.EOF)
        finally:
            child.close(force=True)
        assert child.exitstatus == 0
        first, second = (p.json()["messages"] for p in served.posts())
    assert first == [{"role": "user", "content": "first line\nsecond line"}]
    assert second[0] == {"role": "system", "content": "Be brief."}
    assert second[1]["content"] == "first line\nsecond line"
    assert second[2]["role"] == "assistant" and second[2]["content"].startswith("**Stand-in")
    assert second[3] == {"role": "user", "content": "next question"}
    rows = db(home).execute("SELECT prompt, interrupted FROM exchanges ORDER BY id").fetchall()
    assert rows == [("first line\nsecond line", 1), ("next question", 0)]


def slow_editor(folder: Path) -> dict[str, str]:
    """An environment in which the line editor (prompt_toolkit) takes 1.5 s more to load: a
    sitecustomize that sleeps before the import, then loads the loopback guard's own."""
    guard = Path(__file__).resolve().parents[1] / "guard" / "sitecustomize.py"
    (folder / "sitecustomize.py").write_text(
        "import runpy, sys, time\n"
        "class Slow:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'prompt_toolkit':\n"
        "            sys.meta_path.remove(self)\n"
        "            time.sleep(1.5)\n"
        "sys.meta_path.insert(0, Slow())\n"
        f"runpy.run_path({str(guard)!r})\n"
    )
    return {"PYTHONPATH": str(folder)}


def _modes(child: Any) -> tuple[bool, bool]:
    import termios

    lflag = termios.tcgetattr(child.child_fd)[3]
    return bool(lflag & termios.ECHO), bool(lflag & termios.ICANON)


def _raw_soon(child: Any) -> bool:
    """Whether the terminal goes raw (no echo, no lines) within 10 s: the instant prompt is
    written first, and the modes change right after."""
    deadline = time.monotonic() + 10
    while _modes(child) != (False, False):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_the_prompt_shows_before_the_editor_loads_and_keeps_what_is_typed(
    home: dict[str, str], tmp_path: Path
) -> None:
    # The welcome line and "> " show at once; what is typed before the editor takes over
    # (1.5 s later here) is not echoed, and the editor then reads it as typed at its prompt:
    # Ctrl-U clears the line, Enter sends.
    pexpect = pytest.importorskip("pexpect")
    with serve(MockConfig()) as served:
        child = spawn_session({**served.env(), **home, **slow_editor(tmp_path)})
        try:
            child.expect("Ctrl-D to leave")
            child.expect_exact("> ")
            assert _raw_soon(child)  # keys are kept, unechoed, for the editor
            child.send("half a line\x15/help\r")
            child.expect_exact(PROMPT_READY)
            assert "half a line" not in child.before  # no echo before the editor
            child.expect("/reset +start a new conversation")
            child.expect_exact(PROMPT_READY)
            child.sendeof()
            child.expect(pexpect.EOF)
        finally:
            child.close(force=True)
        assert child.exitstatus == 0
        assert served.posts() == []


@pytest.mark.parametrize(("stop", "status"), [("ctrl-c", 130), ("sigterm", 143)])
def test_stopped_before_the_editor_loads_it_gives_the_terminal_back(
    home: dict[str, str], tmp_path: Path, stop: str, status: int
) -> None:
    # Ctrl-C still interrupts before the editor has taken over: a start-up that hangs can be
    # left, as before the instant prompt.
    import signal

    pexpect = pytest.importorskip("pexpect")
    child = spawn_session({**home, **slow_editor(tmp_path)}, "--mock")
    try:
        child.expect("Ctrl-D to leave")
        child.expect_exact("> ")
        assert _raw_soon(child)
        if stop == "ctrl-c":
            child.sendintr()
        else:
            child.kill(signal.SIGTERM)
        child.expect(pexpect.EOF)
        assert _modes(child) == (True, True)  # echo and lines again, as before it started
    finally:
        child.close(force=True)
    assert child.exitstatus == status


def test_an_interactive_session_continues_the_last_conversation(
    stand_in: Served, home: dict[str, str]
) -> None:
    pexpect = pytest.importorskip("pexpect")
    assert chat(stand_in, home, "before").code == 0
    child = spawn_session({**stand_in.env(), **home}, "-c")
    try:
        child.expect("continuing")
        child.expect_exact(PROMPT_READY)
        child.sendline("after")
        child.expect("Stand-in answer")
        child.expect_exact(PROMPT_READY)
        child.sendline("/exit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert [m["content"] for m in sent_messages(stand_in)][::2] == ["before", "after"]


# -- found in review ---------------------------------------------------------------------------
def test_a_corrupt_history_is_exit_3_with_what_to_do(
    stand_in: Served, home: dict[str, str]
) -> None:
    for i in range(30):
        assert chat(stand_in, home, "--no-stream", f"question {i} " + "x" * 2000).code == 0
    path = Path(home["OUTSCALE_HISTORY"])
    data = bytearray(path.read_bytes())
    assert len(data) > 8 * 4096
    data[2 * 4096 : 6 * 4096] = b"\xa5" * (4 * 4096)  # pages past the header: garbage
    path.write_bytes(bytes(data))
    for args in (["history"], ["history", "search", "question"], ["history", "rm", "--all"]):
        result = run_cli(*args, env=home)
        assert result.code == 3, (args, result.stderr)
        lines = result.stderr.splitlines()
        assert "Traceback" not in result.stderr and "internal error" not in result.stderr
        assert lines[0].startswith(f"outscale-cli: error: the history {path} cannot be used")
        assert f"move {path} aside with its -wal and -shm files" in result.stderr


@pytest.mark.parametrize("extra", [["a question"], ["-f", "question.md"], ["--json"],
                                   ["--usage"], ["--prefix", "Sure:"]])  # fmt: skip
def test_interactive_refuses_what_it_would_ignore(
    stand_in: Served, home: dict[str, str], extra: list[str], tmp_path: Path
) -> None:
    (tmp_path / "question.md").write_text("q")
    result = run_cli("chat", "-i", *extra, env={**stand_in.env(), **home}, cwd=tmp_path)
    assert result.code == 2 and result.stdout == ""
    assert "chat -i takes its questions at its own prompt: drop" in result.stderr
    assert stand_in.posts() == []


def test_continue_after_a_fim_continues_the_last_chat(
    stand_in: Served, home: dict[str, str]
) -> None:
    assert chat(stand_in, home, "A chat question.").code == 0
    env = {**stand_in.env(), **home}
    assert run_cli("fim", "-m", "codestral-2405", "def f():", env=env).code == 0
    result = chat(stand_in, home, "-c", "And then?")
    assert result.code == 0, result.stderr
    assert [m["content"] for m in sent_messages(stand_in)][0] == "A chat question."


def test_continue_goes_back_to_the_conversations_profile(home: dict[str, str]) -> None:
    with serve(MockConfig()) as x, serve(MockConfig()) as y:
        Path(home["OUTSCALE_CONFIG"]).write_text(
            f'[profiles.x]\nserver_url = "{x.url}"\nmodel = "small-2409"\n\n'
            f'[profiles.y]\nserver_url = "{y.url}"\nmodel = "small-2409"\n'
        )
        assert run_cli("chat", "-p", "x", "first", env=home).code == 0
        result = run_cli("chat", "-c", "second", env=home)
        assert result.code == 0, result.stderr
        assert len(x.posts()) == 2 and y.posts() == []
        elsewhere = run_cli("chat", "-c", "-p", "y", "third", env=home)  # named: it wins
        assert elsewhere.code == 0 and len(y.posts()) == 1


def test_continue_without_recording_this_turn(stand_in: Served, home: dict[str, str]) -> None:
    assert chat(stand_in, home, "first").code == 0
    result = chat(stand_in, home, "-c", "--no-log", "not kept")
    assert result.code == 0, result.stderr
    assert [m["content"] for m in sent_messages(stand_in)][0] == "first"
    assert [r[0] for r in db(home).execute("SELECT prompt FROM exchanges")] == ["first"]


def test_a_bad_history_value_in_the_file_is_exit_3_naming_its_line(
    stand_in: Served, home: dict[str, str]
) -> None:
    Path(home["OUTSCALE_CONFIG"]).write_text('# mine\nhistory = "no"\n')
    for args in (["history", "status"], ["chat", "hi"]):
        result = run_cli(*args, env={**stand_in.env(), **home})
        assert result.code == 3, (args, result.stderr)
        assert "config.toml:2: history: expected true or false (got 'no')" in result.stderr
    assert stand_in.posts() == []


def test_outscale_no_history_false_keeps_recording(stand_in: Served, home: dict[str, str]) -> None:
    assert chat(stand_in, home, "kept", OUTSCALE_NO_HISTORY="false").code == 0
    assert [r[0] for r in db(home).execute("SELECT prompt FROM exchanges")] == ["kept"]


def test_rm_all_removes_the_typed_lines_too(stand_in: Served, home: dict[str, str]) -> None:
    assert chat(stand_in, home, "hi").code == 0
    typed = Path(home["OUTSCALE_HISTORY"] + ".input")
    typed.write_text("\n# 2026-11-29\n+a secret I typed\n")
    result = run_cli("history", "rm", "--all", env=home)
    assert result.code == 0, result.stderr
    assert not typed.exists()


def test_a_mistyped_profile_keeps_the_session_going(stand_in: Served, home: dict[str, str]) -> None:
    pexpect = pytest.importorskip("pexpect")
    child = spawn_session({**stand_in.env(), **home})
    try:
        child.expect_exact(PROMPT_READY)
        child.sendline("/profile nosuch")
        child.expect("unchanged: still the model and deployment of before")
        child.expect_exact(PROMPT_READY)
        child.sendline("still there?")
        child.expect("Stand-in answer")
        child.expect_exact(PROMPT_READY)
        child.sendline("/exit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    assert [p.json()["messages"][-1]["content"] for p in stand_in.posts()] == ["still there?"]


@pytest.mark.parametrize("stream", [True, False])
def test_a_lone_surrogate_in_an_answer_is_printed_and_recorded_as_a_replacement(
    home: dict[str, str], stream: bool
) -> None:
    half, whole_one = "\\ud83d", "\\ud83d\\ude00"
    message = {"role": "assistant", "content": [
        {"type": "thinking", "thinking": [{"type": "text", "text": f"hm {half}"}]},
        {"type": "text", "text": f"half an emoji: {half}, a whole one: {whole_one}"}]}  # fmt: skip
    if stream:
        chunk = {"id": "x", "object": "chat.completion.chunk", "model": MODEL,
                 "choices": [{"index": 0, "delta": message, "finish_reason": "stop"}]}  # fmt: skip
        body = "data: " + json.dumps(chunk).replace("\\\\u", "\\u") + "\n\ndata: [DONE]\n\n"
        canned = Canned(body=body.encode(), content_type="text/event-stream")
    else:
        choice = {"index": 0, "message": message, "finish_reason": "stop"}
        whole = {"id": "x", "object": "chat.completion", "model": MODEL, "choices": [choice]}
        canned = Canned(body=json.dumps(whole).replace("\\\\u", "\\u").encode())
    with serve_canned(canned) as served:
        args = ["--show-thinking"] + ([] if stream else ["--no-stream"])
        result = chat(served, home, *args, "hi")
    assert result.code == 0, result.stderr
    assert "half an emoji: \ufffd, a whole one: \U0001f600" in result.stdout
    assert result.stderr.count("\n") <= 1 and "Traceback" not in result.stderr
    answer, thinking = db(home).execute("SELECT answer, thinking FROM exchanges").fetchone()
    assert answer == "half an emoji: \ufffd, a whole one: \U0001f600\n"[: len(answer)]
    assert thinking == "hm \ufffd"


@pytest.mark.parametrize("name", ["a\tb", "two\nlines", "bell\x07"])
def test_a_name_with_control_characters_is_refused(
    stand_in: Served, home: dict[str, str], name: str
) -> None:
    result = chat(stand_in, home, "--name", name, "hi")
    assert result.code == 2 and "without control characters" in result.stderr
    assert stand_in.posts() == []
