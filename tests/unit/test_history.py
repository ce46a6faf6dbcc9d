"""outscale_cli.history: recording, reading, conversations, search, removal, migrations."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from outscale_cli.history import (
    MIGRATIONS,
    SCHEMA,
    Exchange,
    History,
    HistoryError,
    new_conversation_id,
)
from outscale_cli.recording import earlier, reply_of, with_system

USER = {"role": "user", "content": "q"}


def exchange(prompt: str, answer: str = "an answer", **extra: object) -> Exchange:
    messages = [{"role": "user", "content": prompt}]
    return Exchange("chat", messages, prompt, answer, model="small-2409", **extra)  # type: ignore[arg-type]


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
