"""batch run --max-time bounds the whole command: when it expires, the requests in flight get
no grace (the grace that Ctrl-C and SIGTERM give them would overrun it), and the run ends with
exit 5, leaving what did not finish to --resume."""

from __future__ import annotations

import json
import time
from pathlib import Path

from .helpers import run_cli, silent_server


def test_max_time_ends_the_run_without_the_grace_of_a_signal(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(
        "".join(
            json.dumps({"id": f"q{i}", "prompt": f"Question {i}"}) + "\n" for i in range(20)
        )  # fmt: skip
    )
    out = tmp_path / "out.jsonl"
    with silent_server() as silent:  # answers nothing: four requests stay in flight
        started = time.monotonic()
        result = run_cli(
            "batch", "run", str(source), "-o", str(out), "-j", "4", "--timeout", "60",
            "--max-time", "8",
            env={"OUTSCALE_SERVER_URL": silent.url, "OUTSCALE_MODEL_NAME": "small-2409"},
        )  # fmt: skip
        took = time.monotonic() - started
        assert silent.connected.is_set(), result.stderr
    assert result.code == 5, result.stderr
    assert "--max-time 8 s expired" in result.stderr
    assert "--resume" in result.stderr
    assert out.read_text() == ""  # nothing finished: all of it is left to --resume
    # The grace given to requests in flight is 5 s: had it been given, the run would have
    # lasted 13 s at least, however fast the machine. (8 s, not less, so that a loaded
    # machine surely starts and sends before it expires.)
    assert took < 12, result.stderr
