"""outscale_cli.history: recording, reading, conversations, search, removal, migrations."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import types
from pathlib import Path

import pytest

from outscale_cli.errors import UsageError
from outscale_cli.history import (
    MIGRATIONS,
    SCHEMA,
    Exchange,
    History,
    HistoryError,
    NameTaken,
    failure,
    new_conversation_id,
)
from outscale_cli.recording import (
    Recorder,
    earlier,
    input_history_path,
    no_history,
    reply_of,
    with_system,
)

USER = {"role": "user", "content": "q"}


def exchange(prompt: str, answer: str = "an answer", **extra: object) -> Exchange:
    messages = [{"role": "user", "content": prompt}]
    extra.setdefault("model", "small-2409")
    return Exchange("chat", messages, prompt, answer, **extra)  # type: ignore[arg-type]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "h" / "history.sqlite"


def test_record_and_read_back(path: Path) -> None:
    with History(path) as history:
        first = history.record(exchange("one", usage={"total_tokens": 3}), conversation=None,
                               name=None)  # fmt: skip
        again = history.record(exchange("two"), conversation=first, name=None)
        other = history.record(exchange("three"), conversation=None, name="monet")
        assert again == first and other != first
        got = history.exchanges(first)
        assert [e.prompt for e in got] == ["one", "two"]
        assert got[0].usage == {"total_tokens": 3} and got[0].conversation_id == first
        assert history.last_conversation() == other
        assert history.find("monet") == other and history.find(first) == first
        assert history.find(first[:17]) == first  # a unique prefix
        assert history.counts() == (2, 3)
    assert oct(path.stat().st_mode & 0o777) == "0o600"  # prompts are private


def test_conversation_ids_sort_by_time_and_do_not_collide() -> None:
    ids = [new_conversation_id() for _ in range(200)]
    assert len(set(ids)) == 200
    later = new_conversation_id()
    time.sleep(1.1)
    assert new_conversation_id() > later


def test_an_unknown_conversation_is_a_usage_error(path: Path) -> None:
    from outscale_cli.errors import UsageError

    with History(path) as history, pytest.raises(UsageError, match="no conversation 'nope'"):
        history.find("nope")


def test_twenty_threads_record_at_once(path: Path) -> None:
    History(path).db.close()  # created once, as the first command would

    def record(i: int) -> None:
        with History(path) as history:
            history.record(exchange(f"q{i}"), conversation=None, name=None)

    threads = [threading.Thread(target=record, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with History(path) as history:
        assert history.counts() == (20, 20)


# -- search -------------------------------------------------------------------------------------
def test_search_ranks_the_best_match_first(path: Path) -> None:
    with History(path) as history:
        for prompt, answer in [
            ("Tell me about Giverny", "Monet lived there."),
            ("water lilies", "Monet painted water lilies, many water lilies."),
            ("Impressionism", "A movement; Monet painted water lilies too."),
            ("Bread", "Flour and water."),
        ]:
            history.record(exchange(prompt, answer), conversation=None, name=None)
        found = [e.prompt for e in history.search("water lilies", 10)]
    assert found[0] == "water lilies"
    assert set(found) == {"water lilies", "Impressionism"}  # both words, in either field
    assert "Bread" not in found


@pytest.mark.parametrize("query", ['"unclosed', "a AND OR b", "water*", "NEAR(", "-x", "\\"])
def test_search_takes_a_users_words_never_fts_syntax(path: Path, query: str) -> None:
    with History(path) as history:
        history.record(exchange("plain"), conversation=None, name=None)
        assert history.search(query, 5) == []


def test_search_without_fts5_falls_back_to_a_substring(path: Path) -> None:
    with History(path) as history:
        history.record(exchange("Giverny gardens"), conversation=None, name=None)
        history.record(exchange("100% sure"), conversation=None, name=None)
        history.fts = False
        assert [e.prompt for e in history.search("verny", 5)] == ["Giverny gardens"]
        assert [e.prompt for e in history.search("%", 5)] == ["100% sure"]  # escaped


# -- removing --------------------------------------------------------------------------------------
def test_remove_a_conversation_older_ones_and_all(path: Path) -> None:
    with History(path) as history:
        old = exchange("old")
        old.created_at -= 40 * 86400
        history.record(old, conversation=None, name=None)
        named = history.record(exchange("named"), conversation=None, name="keep")
        history.record(exchange("other"), conversation=None, name=None)
        assert history.remove_older_than(30 * 86400) == 1
        assert history.counts() == (2, 2)
        assert history.remove_conversation(named) == 1
        assert history.counts() == (1, 1)
        assert [e.prompt for e in history.search("named", 5)] == []  # gone from the index too
        assert history.remove_all() == 1 and history.counts() == (0, 0)


# -- migrations --------------------------------------------------------------------------------
def test_a_first_schema_database_is_migrated_keeping_its_exchanges(path: Path) -> None:
    path.parent.mkdir(parents=True)
    db = sqlite3.connect(path)
    for statement in MIGRATIONS[0]:
        db.execute(statement)
    db.execute("INSERT INTO conversations VALUES ('20250101-000000-aaaaaa', 1.0, 1.0)")
    db.execute(
        "INSERT INTO exchanges (conversation_id, kind, created_at, messages, prompt, answer) "
        "VALUES ('20250101-000000-aaaaaa', 'chat', 1.0, '[]', 'old water lilies', 'old answer')"
    )
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    with History(path) as history:
        version = history.db.execute("PRAGMA user_version").fetchone()[0]
        assert version == SCHEMA == 2
        old = history.exchanges("20250101-000000-aaaaaa")
        assert [e.prompt for e in old] == ["old water lilies"]
        assert old[0].thinking is None and old[0].interrupted is False
        assert [e.prompt for e in history.search("lilies", 5)] == ["old water lilies"]
        history.record(exchange("new"), conversation=None, name="now-named")
        assert history.named("now-named") is not None


def test_a_newer_schema_is_refused(path: Path) -> None:
    path.parent.mkdir(parents=True)
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA + 1}")
    db.close()
    with pytest.raises(HistoryError, match="newer outscale-cli"):
        History(path)


def test_a_file_that_is_not_a_database(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(HistoryError, match="cannot use the history"):
        History(path)


# -- continuing ------------------------------------------------------------------------------
def test_continuing_resends_the_messages_and_the_answer(path: Path) -> None:
    with History(path) as history:
        first = Exchange("chat", [{"role": "system", "content": "S"}, USER], "q", "A1",
                         model="m1")  # fmt: skip
        conversation = history.record(first, conversation=None, name=None)
        found = earlier(history, conversation)
    assert found.model == "m1"
    assert found.messages == [{"role": "system", "content": "S"}, USER,
                              {"role": "assistant", "content": "A1"}]  # fmt: skip
    assert with_system(found.messages, "T")[0] == {"role": "system", "content": "T"}
    assert len(with_system(found.messages, "T")) == 3


def test_a_reasoning_answer_goes_back_with_its_thinking() -> None:
    reply = reply_of(Exchange("chat", [USER], "q", "323", thinking="17*19 = 323"))
    assert reply == {"role": "assistant", "content": [
        {"type": "thinking", "thinking": [{"type": "text", "text": "17*19 = 323"}],
         "closed": True},
        {"type": "text", "text": "323"},
    ]}  # fmt: skip


# -- found in review: what a user can get wrong, and what others do meanwhile ------------------
def test_older_than_removes_whole_conversations_so_nothing_they_said_stays(path: Path) -> None:
    with History(path) as history:
        old = exchange("an old secret")
        old.created_at -= 40 * 86400
        stale = history.record(old, conversation=None, name=None)
        later = exchange("a later turn", created_at=old.created_at + 60)
        later.messages = [{"role": "user", "content": "an old secret"},
                          {"role": "assistant", "content": "an answer"},
                          {"role": "user", "content": "a later turn"}]  # fmt: skip
        history.record(later, conversation=stale, name=None)
        resumed = history.record(exchange("asked long ago", created_at=old.created_at),
                                 conversation=None, name=None)  # fmt: skip
        history.record(exchange("continued today"), conversation=resumed, name=None)
        assert history.remove_older_than(30 * 86400) == 2  # both turns of the stale one
        assert [c.id for c in history.conversations()] == [resumed]  # used today: kept whole
        assert "an old secret" not in "".join(
            json.dumps(e.as_json()) for e in history.every())  # fmt: skip


@pytest.mark.parametrize("wanted", ["", "   ", "2", "202"])
def test_an_empty_or_very_short_id_names_no_conversation(path: Path, wanted: str) -> None:
    with History(path) as history:
        history.record(exchange("only one"), conversation=None, name=None)
        with pytest.raises(UsageError, match="not empty|no conversation"):
            history.find(wanted)


def test_a_prefix_of_four_characters_or_more_names_its_conversation(path: Path) -> None:
    with History(path) as history:
        first = history.record(exchange("one"), conversation=None, name=None)
        second = history.record(exchange("two"), conversation=None, name=None)
        assert history.find(first[:-1] if first[:-1] != second[:-1] else first) == first
        with pytest.raises(UsageError, match="begins the ids of several"):
            history.find(first[:8])  # the date: both


def test_a_conversation_removed_meanwhile_is_recorded_again_under_its_id(path: Path) -> None:
    with History(path) as history:
        conversation = history.record(exchange("one"), conversation=None, name=None)
        history.remove_conversation(conversation)  # `history rm` from another terminal
        assert history.record(exchange("two"), conversation=conversation, name=None) == conversation
        assert [e.prompt for e in history.exchanges(conversation)] == ["two"]


def test_a_name_taken_meanwhile_is_not_stolen(path: Path) -> None:
    with History(path) as history:
        first = history.record(exchange("one"), conversation=None, name="dup")
        with pytest.raises(NameTaken):
            history.record(exchange("two"), conversation=None, name="dup")
        assert history.named("dup") == first and history.counts() == (1, 1)


def test_the_recorder_keeps_the_exchange_unnamed_when_its_name_was_taken(path: Path) -> None:
    warnings: list[str] = []
    env = types.SimpleNamespace(warn=warnings.append)
    with History(path) as history:
        taken = history.record(exchange("one"), conversation=None, name="dup")
    recorder = Recorder(env, path, name="dup")  # type: ignore[arg-type]
    recorder.save(exchange("two"))
    assert recorder.conversation not in (None, taken)
    assert len(warnings) == 1 and "'dup' was taken meanwhile" in warnings[0]
    assert recorder.conversation in warnings[0]
    with History(path) as history:
        assert history.named("dup") == taken and history.counts() == (2, 2)


def test_a_history_that_cannot_be_opened_is_told_when_saving(tmp_path: Path) -> None:
    warnings: list[str] = []
    (tmp_path / "file").write_text("")
    recorder = Recorder(types.SimpleNamespace(warn=warnings.append),  # type: ignore[arg-type]
                        tmp_path / "file" / "history.sqlite")  # fmt: skip
    recorder.save(exchange("one"))
    assert len(warnings) == 1 and "the exchange was not recorded: cannot open" in warnings[0]


def test_continue_skips_fim_exchanges(path: Path) -> None:
    with History(path) as history:
        chat = history.record(exchange("a chat"), conversation=None, name=None)
        fim = Exchange("fim", {"prompt": "def f():"}, "def f():", "pass")
        history.record(fim, conversation=None, name=None)
        assert history.last_conversation() == chat


def test_a_conversation_lists_the_model_last_used(path: Path) -> None:
    with History(path) as history:
        conversation = history.record(exchange("one", model="small-2409"), conversation=None,
                                      name=None)  # fmt: skip
        history.record(exchange("two", model="codestral-2405"), conversation=conversation,
                       name=None)  # fmt: skip
        history.record(exchange("three", model="ministral-8b"), conversation=conversation,
                       name=None)  # fmt: skip
        assert [c.model for c in history.conversations()] == ["ministral-8b"]


def test_the_write_ahead_log_is_private_too(path: Path) -> None:
    with History(path) as history:
        history.record(exchange("private"), conversation=None, name=None)
        companions = [path.with_name(path.name + s) for s in ("-wal", "-shm")]
        assert all(p.exists() for p in companions)  # while it is open
        modes = {p.name: oct(p.stat().st_mode & 0o777) for p in [path, *companions]}
    assert set(modes.values()) == {"0o600"}, modes


def test_a_sqlite_error_becomes_one_line_with_what_to_do(path: Path) -> None:
    cases = {
        "database is locked": "another outscale-cli is writing it",
        "attempt to write a readonly database": "writable",
        "database or disk is full": "free some disk space",
        "database disk image is malformed": f"move {path} aside with its -wal and -shm files",
    }
    for text, hint in cases.items():
        error = failure(path, sqlite3.OperationalError(text))
        assert isinstance(error, HistoryError) and error.status == 3
        assert error.message == f"the history {path} cannot be used: {text}"
        assert error.hint is not None and hint in error.hint


def test_a_failed_statement_is_told_not_the_rollback_after_it(path: Path) -> None:
    with History(path) as history:
        history.db.execute(
            "CREATE TRIGGER boom BEFORE INSERT ON exchanges "
            "BEGIN SELECT RAISE(ROLLBACK, 'disk I/O error (simulated)'); END"
        )
        with pytest.raises(sqlite3.DatabaseError, match="simulated"):
            history.record(exchange("one"), conversation=None, name=None)


@pytest.mark.parametrize(("value", "off"), [("", False), ("0", False), ("false", False),
                                            ("No", False), ("off", False), ("1", True),
                                            ("yes", True), ("true", True)])  # fmt: skip
def test_outscale_no_history_reads_as_a_user_means_it(value: str, off: bool) -> None:
    assert no_history({"OUTSCALE_NO_HISTORY": value}) is off


def test_the_input_history_is_named_after_the_history(tmp_path: Path) -> None:
    assert input_history_path(tmp_path / "h.sqlite") == tmp_path / "h.sqlite.input"


def test_a_table_on_a_terminal_shows_brackets_as_written() -> None:
    import io

    from outscale_cli.commands.history import _table

    out = io.StringIO()
    env = types.SimpleNamespace(stdout_isatty=True, stdout=out)
    rows = [("[/bold] closes nothing", "arr[i] and mask[b]", "[/]")]
    _table(env, ("prompt", "answer", "name"), rows)  # rich markup would raise on "[/]"
    shown = out.getvalue()
    assert "[/bold] closes nothing" in shown and "arr[i] and mask[b]" in shown and "[/]" in shown


def test_search_ranks_within_the_latest_matches(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import outscale_cli.history as module

    monkeypatch.setattr(module, "SEARCH_WINDOW", 3)
    with History(path) as history:
        conversation = history.record(exchange("giverny giverny giverny giverny"),
                                      conversation=None, name=None)  # fmt: skip
        for i in range(4):
            history.record(exchange(f"giverny once, then words {i} " + "more " * 20),
                           conversation=conversation, name=None)  # fmt: skip
        found = [e.prompt for e in history.search("giverny", 10)]
    assert len(found) == 3 and all(p.startswith("giverny once") for p in found)  # the old best
    assert found[0].startswith("giverny once, then words 3")  # ties: the newest first


def test_an_exchange_is_a_value_with_defaults_of_its_own() -> None:
    a, b = exchange("q", usage={"total_tokens": 3}), exchange("q", usage={"total_tokens": 3})
    b.created_at = a.created_at
    assert a == b and a != exchange("other") and a != "q"
    a.options["temperature"] = 0.5
    assert b.options == {}  # not one dict shared by every exchange
    with pytest.raises(TypeError):
        hash(a)
    assert list(a.as_json())[:4] == ["id", "conversation", "kind", "created_at"]
    assert set(a.as_json()) == {"id", "conversation", "kind", "created_at", "model", "profile",
                                "server_url", "system", "messages", "prompt", "answer",
                                "thinking", "finish_reason", "usage", "first_token_ms",
                                "duration_ms", "options", "interrupted"}  # fmt: skip
    assert "prompt='q'" in repr(a)


def test_close_behind_closes_and_the_file_alone_then_holds_the_exchange(
    path: Path, tmp_path: Path
) -> None:
    from outscale_cli import startup
    from outscale_cli.store import Database

    database = Database(path, one=True)  # as a recorded chat opens it
    database.record(exchange("q"), conversation=None, name=None)
    database.close_behind()
    startup.finish()  # as the entry point does before the process ends
    assert startup._behind == []
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        database.db.execute("SELECT 1")
    copy = tmp_path / "copy.sqlite"  # the file alone, without its -wal: the log was copied in
    copy.write_bytes(path.read_bytes())
    with sqlite3.connect(copy) as db:
        assert db.execute("SELECT prompt FROM exchanges").fetchall() == [("q",)]


def test_one_exchange_commits_without_syncing_into_a_new_log_only(path: Path) -> None:
    """A recorded chat's commit into a new log waits for no disk (synchronous = OFF, and no
    checkpoint can run meanwhile); NORMAL is back right after, for the close's checkpoint."""
    from outscale_cli.store import Database

    with Database(path):
        pass  # made, migrated, closed: no log left
    database = Database(path, one=True)
    said: list[str] = []
    database.db.set_trace_callback(said.append)
    database.record(exchange("q"), conversation=None, name=None)
    assert said[:3] == ["PRAGMA synchronous = OFF", "PRAGMA wal_autocheckpoint = 0",
                        "BEGIN IMMEDIATE"]  # fmt: skip
    assert said[-3:] == [
        "COMMIT",
        "PRAGMA synchronous = NORMAL",
        "PRAGMA wal_autocheckpoint = 1000",
    ]
    assert database.db.execute("PRAGMA synchronous").fetchone() == (1,)
    database.close()
    assert not path.with_name(path.name + "-wal").exists()  # copied in, and removed
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT prompt FROM exchanges").fetchall() == [("q",)]


def test_one_exchange_into_a_log_in_use_keeps_normal_and_its_checkpoints(path: Path) -> None:
    """Another connection holds the history open (a browser): the log it keeps is not new,
    so the commit stays NORMAL, whose automatic checkpoints keep that log from growing."""
    from outscale_cli.store import Database

    with Database(path) as other:
        other.record(exchange("first"), conversation=None, name=None)
        database = Database(path, one=True)
        said: list[str] = []
        database.db.set_trace_callback(said.append)
        database.record(exchange("second"), conversation=None, name=None)
        database.close()
        assert "PRAGMA synchronous = OFF" not in said and "BEGIN IMMEDIATE" in said
        assert other.db.execute("SELECT count(*) FROM exchanges").fetchone() == (2,)


def test_one_exchange_cut_short_by_a_signal_is_rolled_back_and_closes_under_normal(
    path: Path,
) -> None:
    """A signal (Ctrl-C, --max-time) right after BEGIN: the transaction is rolled back, and
    the close's checkpoint syncs as NORMAL does."""
    from outscale_cli.store import Database

    with Database(path):
        pass
    database = Database(path, one=True)
    real = database.db

    class Interrupted:  # the connection, where a signal lands once BEGIN has run
        def __getattr__(self, name: str) -> object:
            return getattr(real, name)

        def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
            cursor = real.execute(sql, *args)
            if sql == "BEGIN IMMEDIATE":
                raise KeyboardInterrupt
            return cursor

    database.db = Interrupted()  # type: ignore[assignment]
    with pytest.raises(KeyboardInterrupt):
        database.record(exchange("q"), conversation=None, name=None)
    assert not real.in_transaction
    assert real.execute("PRAGMA synchronous").fetchone() == (1,)
    said: list[str] = []
    real.set_trace_callback(said.append)
    database.close()
    assert said == ["PRAGMA synchronous = NORMAL", "PRAGMA wal_autocheckpoint = 1000"]


def test_max_time_expiring_while_recording_warns_and_keeps_the_answer(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from outscale_cli.errors import Expired
    from outscale_cli.store import Database

    def busy(*args: object, **kwargs: object) -> str:
        raise Expired(2.5)  # the alarm, while the history waited for a lock

    monkeypatch.setattr(Database, "record", busy)
    warnings: list[str] = []
    recorder = Recorder(types.SimpleNamespace(warn=warnings.append), path)  # type: ignore[arg-type]
    recorder.save(exchange("q"))  # does not raise: the answer was whole
    assert warnings == [
        "the exchange was not recorded: --max-time 2.5 s expired while the history was busy"
    ]


def test_sigterm_while_finish_waits_ends_the_wait_not_the_process() -> None:
    import os
    import signal

    from outscale_cli import startup

    release = threading.Event()
    startup.behind(release.wait, "stuck")
    previous = signal.getsignal(signal.SIGTERM)

    def terminate_once_waiting() -> None:  # (before finish's handler, it would kill pytest)
        deadline = time.monotonic() + 30
        while signal.getsignal(signal.SIGTERM) is not startup._stop_waiting:
            if time.monotonic() > deadline:
                return
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=terminate_once_waiting, daemon=True).start()
    started = time.monotonic()
    startup.finish()  # killed by SIGTERM if the wait did not catch it
    assert time.monotonic() - started < startup.BEHIND_WAIT - 1  # the wait ended early
    assert startup._behind == []
    assert signal.getsignal(signal.SIGTERM) == previous
    release.set()


def test_finish_waits_for_the_work_behind_but_not_forever(monkeypatch: pytest.MonkeyPatch) -> None:
    from outscale_cli import startup

    done: list[str] = []
    startup.behind(lambda: (time.sleep(0.2), done.append("quick")), "quick")
    startup.finish()
    assert done == ["quick"]
    release = threading.Event()
    monkeypatch.setattr(startup, "BEHIND_WAIT", 0.3)
    startup.behind(release.wait, "stuck")
    started = time.monotonic()
    startup.finish()
    assert 0.25 <= time.monotonic() - started < 5 and startup._behind == []
    release.set()


def test_work_behind_runs_at_once_where_no_thread_can_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from outscale_cli import startup

    def refuse(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", refuse)
    done: list[int] = []
    startup.behind(lambda: done.append(1), "work")
    assert done == [1] and startup._behind == []


def test_a_history_path_that_is_not_a_file_is_refused_and_nothing_is_written_beside_it(
    tmp_path: Path,
) -> None:
    warnings: list[str] = []
    folder = tmp_path / "folder"
    folder.mkdir()
    recorder = Recorder(types.SimpleNamespace(warn=warnings.append), folder)  # type: ignore[arg-type]
    recorder.save(exchange("one"))
    assert len(warnings) == 1 and f"the history {folder} is not a file" in warnings[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder"]
