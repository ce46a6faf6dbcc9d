"""outscale-cli's benchmark suite: prints figures, never passes or fails anything.

    python benchmarks/run.py            # everything, full size (a few minutes)
    python benchmarks/run.py --quick    # everything, small and fast (CI proves it still runs)
    python benchmarks/run.py --only startup,request

Run it with the venv's own python (the one outscale-cli is installed in). Every comparison
alternates ours and the reference command in the same run, round after round, since these
machines are noisy; each table gives the median and the spread (25th-75th percentile). It
starts the stand-in deployment itself. Whole commands are timed with hyperfine when it is
installed (a few runs per round), with time.perf_counter loops otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import pty
import random
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
CLI = str(BIN / "outscale-cli")
PY = sys.executable
MODEL = "small-2409"
HYPERFINE = shutil.which("hyperfine")


def _natural_answer_tokens() -> int:
    """How many tokens the stand-in's own answer to "Hello" has."""
    from outscale_cli.mock.answers import chat_text, tokens_of

    body = {"messages": [{"role": "user", "content": "Hello"}]}
    return len(tokens_of(chat_text(body, MODEL)))


BASE_TOKENS = _natural_answer_tokens()


# -- measuring ------------------------------------------------------------------------------
def _time_once(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def _hyperfine_round(commands: list[list[str]], runs: int) -> list[list[float]]:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run(
            [HYPERFINE or "hyperfine", "-N", "--warmup", "1", "--runs", str(runs),
             "--export-json", out.name, *[" ".join(c) for c in commands]],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
        )  # fmt: skip
        data = json.loads(Path(out.name).read_text())
    return [result["times"] for result in data["results"]]


def alternate(commands: list[list[str]], rounds: int, runs: int = 3) -> list[list[float]]:
    """Wall times of each command, the commands alternated round after round."""
    times: list[list[float]] = [[] for _ in commands]
    for round_no in range(rounds):
        order = list(range(len(commands)))
        if round_no % 2:
            order.reverse()  # no command always goes first
        if HYPERFINE and all(" " not in part for c in commands for part in c):
            batch = _hyperfine_round([commands[i] for i in order], runs)
            for i, samples in zip(order, batch, strict=True):
                times[i].extend(samples)
        else:
            for _ in range(runs):
                for i in order:
                    times[i].append(_time_once(commands[i]))
    return times


def summary(samples: list[float], scale: float = 1000.0) -> str:
    q = statistics.quantiles(samples, n=4) if len(samples) > 1 else [samples[0]] * 3
    return f"{statistics.median(samples) * scale:.1f} ({q[0] * scale:.1f}-{q[2] * scale:.1f})"


def ratio(ours: list[float], reference: list[float]) -> float:
    return statistics.median(ours) / statistics.median(reference)


class Table:
    def __init__(self, title: str, columns: list[str]) -> None:
        self.title, self.columns, self.rows = title, columns, []  # type: ignore[var-annotated]

    def add(self, *cells: object) -> None:
        self.rows.append([str(c) for c in cells])

    def print(self) -> None:
        print(f"\n### {self.title}\n")
        print("| " + " | ".join(self.columns) + " |")
        print("|" + "---|" * len(self.columns))
        for row in self.rows:
            print("| " + " | ".join(row) + " |")
        sys.stdout.flush()


def verdict(value: float, goal: float) -> str:
    return "met" if value <= goal else "NOT met"


# -- servers --------------------------------------------------------------------------------
@contextmanager
def stand_in(*args: str) -> Iterator[str]:
    """The stand-in deployment as its own process; yields its URL."""
    process = subprocess.Popen(
        [CLI, "mock-server", "--port", "0", "-q", "--pace", "0", "-m", MODEL, *args],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def sse_file(events: int, folder: Path) -> Path:
    """A recorded-style stream of `events` content events, then finish, usage and [DONE]."""
    path = folder / f"stream-{events}.sse"
    with path.open("w") as out:
        for i in range(events):
            chunk = {
                "id": "bench", "object": "chat.completion.chunk", "model": MODEL,
                "choices": [{"index": 0, "delta": {"content": f"word{i % 97} "},
                             "finish_reason": None}],
            }  # fmt: skip
            out.write(f"data: {json.dumps(chunk)}\n\n")
        last = {
            "id": "bench", "object": "chat.completion.chunk", "model": MODEL,
            "choices": [{"index": 0, "delta": {"content": "end."}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": events + 1,
                      "total_tokens": events + 6},
        }  # fmt: skip
        out.write(f"data: {json.dumps(last)}\n\ndata: [DONE]\n\n")
    return path


def chat(url: str, *args: str) -> list[str]:
    return [CLI, "chat", "--server-url", url, "-m", MODEL, *args, "Hello"]


# -- the benchmarks -------------------------------------------------------------------------
def bench_startup(quick: bool) -> None:
    reference = [PY, "-c", "import typer"]
    ours = {
        "outscale-cli --version": ([CLI, "--version"], 1.2),
        "outscale-cli --help": ([CLI, "--help"], 1.5),
        "outscale-cli chat --help": ([CLI, "chat", "--help"], 1.5),
    }
    names = list(ours)
    times = alternate([reference, *[ours[n][0] for n in names]], rounds=3 if quick else 10)
    table = Table(
        'Start-up (ms), against `python -c "import typer"` in the same venv',
        ["command", "ours", "reference", "ratio", "goal", ""],
    )
    for i, name in enumerate(names, start=1):
        r = ratio(times[i], times[0])
        goal = ours[name][1]
        table.add(name, summary(times[i]), summary(times[0]), f"{r:.2f}x", f"<= {goal}x",
                  verdict(r, goal))  # fmt: skip
    table.print()


COLLECTOR_STACKS = {
    "chat -i (typer, prompt_toolkit, a PromptSession)":
        "import typer, prompt_toolkit; prompt_toolkit.PromptSession()",
    "batch run (typer, our settings, httpx-aiohttp)":
        "import typer, outscale_cli.settings, httpx_aiohttp",
}  # fmt: skip
_TIMED_IMPORT = (
    "import time; started = time.process_time(); {pause}; {stack}; "
    "print((time.process_time() - started) * 1000)"
)


def bench_collector(quick: bool) -> None:
    """What pausing the garbage collector while the program loads saves (startup.py): the
    CPU time of a command's imports in a fresh interpreter, collector on against paused as
    the entry point pauses it, alternated run by run."""
    runs = 10 if quick else 50
    table = Table("Start-up and the collector: CPU of a command's imports (ms, median of "
                  f"{runs} alternated runs)", ["imports of", "collector on", "paused",
                  "saved"])  # fmt: skip
    for name, stack in COLLECTOR_STACKS.items():
        samples: dict[str, list[float]] = {"on": [], "paused": []}
        for _ in range(runs):
            for key, pause in (("on", "pass"), ("paused", "import gc; gc.disable()")):
                code = _TIMED_IMPORT.format(pause=pause, stack=stack)
                done = subprocess.run([PY, "-c", code], capture_output=True, text=True,
                                      stdin=subprocess.DEVNULL, check=True)  # fmt: skip
                samples[key].append(float(done.stdout))
        on, paused = statistics.median(samples["on"]), statistics.median(samples["paused"])
        table.add(name, f"{on:.0f}", f"{paused:.0f}", f"{on - paused:.0f} ({1 - paused / on:.0%})")
    table.print()


@contextmanager
def deployment_env(url: str) -> Iterator[None]:
    """Ours and the reference scripts read the deployment from the same variables."""
    saved = {k: os.environ.get(k) for k in ("OUTSCALE_SERVER_URL", "OUTSCALE_MODEL_NAME")}
    os.environ.update(OUTSCALE_SERVER_URL=url, OUTSCALE_MODEL_NAME=MODEL)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def reference(script: str, *args: str) -> list[str]:
    return [PY, str(HERE / "reference" / script), *args]


def bench_request(quick: bool) -> None:
    with stand_in() as url, deployment_env(url):
        commands = [
            [CLI, "chat", "--no-stream", "Hello"],
            reference("settings_httpx_chat.py", "Hello"),
            reference("httpx_chat.py", "Hello"),
        ]
        body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "Hello"}]})
        curl = shutil.which("curl")
        if curl:
            commands.append([curl, "-s", "-H", "Content-Type:application/json", "-d", body,
                             f"{url}/v1/chat/completions"])  # fmt: skip
        times = alternate(commands, rounds=3 if quick else 10)
    table = Table(
        "One whole chat request to the stand-in, piped (ms)",
        ["command", "median (p25-p75)", "ours / it", "goal", ""],
    )
    table.add("outscale-cli chat --no-stream", summary(times[0]), "", "", "")
    r = ratio(times[0], times[1])
    table.add("pydantic-settings + httpx script", summary(times[1]), f"{r:.2f}x", "<= 1.2x",
              verdict(r, 1.2))  # fmt: skip
    table.add("httpx script, no settings library", summary(times[2]),
              f"{ratio(times[0], times[2]):.2f}x", "(context)", "")  # fmt: skip
    if curl:
        table.add("curl", summary(times[3]), f"{ratio(times[0], times[3]):.2f}x", "(context)", "")
    table.print()
    cost = statistics.median(times[1]) - statistics.median(times[2])
    print(f"\nWhat the settings library costs a call: {cost * 1000:.0f} ms "
          "(the pydantic-settings script minus the bare httpx one).")  # fmt: skip


def bench_stream(quick: bool) -> None:
    events = 2000 if quick else 10000
    with tempfile.TemporaryDirectory() as folder:
        recorded = sse_file(events, Path(folder))
        with stand_in("--replay", str(recorded)) as url, deployment_env(url):
            ours = [CLI, "chat", "Hi"]
            times = alternate(
                [ours, reference("httpx_sse_stream.py", "Hi")], rounds=3 if quick else 8
            )
    r = ratio(times[0], times[1])
    table = Table(
        f"A streamed answer of {events:,} events, piped (ms)",
        ["command", "median (p25-p75)", "ratio", "goal", ""],
    )
    table.add("outscale-cli chat", summary(times[0]), f"{r:.2f}x", "<= 1.3x", verdict(r, 1.3))
    table.add("pydantic-settings + httpx + httpx-sse script", summary(times[1]), "", "", "")
    table.print()


def _cpu_in_pty(argv: list[str]) -> float:
    """CPU seconds (user + system) the command spent with a terminal (80x24) as stdout."""
    import fcntl
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24"}
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    while True:  # drain the terminal, as a terminal would
        try:
            if not os.read(master, 65536):
                break
        except OSError:
            break
    _, _, usage = os.wait4(process.pid, 0)
    os.close(master)
    process.returncode = 0
    return usage.ru_utime + usage.ru_stime


# The render benchmark feeds a document written as a model writes one (the stand-in's --length
# answers repeat one paragraph): sections with headings, paragraphs with inline code, emphasis
# and links, bullet and numbered lists (some nested), code blocks and tables. Deterministic.
_WORDS = (
    "the a request stream token server client answer model terminal cache buffer line block "
    "render parser table column value field setting profile retry timeout latency memory "
    "process thread signal error status response header body event chunk delta usage cost "
    "width height scroll output input file path option flag default config key secret "
    "deployment endpoint proxy certificate connection socket queue batch limit rate measure "
    "compare update change check keep print write read send receive start stop quickly once "
    "every each both only still also then when while because simple large small long short "
    "fast slow new old first last next previous same other"
).split()
_NAMES = "parse_events render_block open_stream retry_after read_config send_request".split()


def _sentence(rng: random.Random, words: int) -> str:
    out = []
    for i in range(words):
        word, roll = rng.choice(_WORDS), rng.random()
        if roll < 0.04:
            word = f"`{rng.choice(_NAMES)}()`"
        elif roll < 0.07:
            word = f"**{word}**"
        elif roll < 0.09:
            word = f"*{word}*"
        elif roll < 0.1:
            word = f"[{word}](https://example.com/{word})"
        elif 0 < i < words - 1 and roll > 0.92:
            word += ","
        out.append(word)
    text = " ".join(out)
    return text[0].upper() + text[1:] + rng.choice(".....?!")


def _paragraph(rng: random.Random) -> str:
    return " ".join(_sentence(rng, rng.randint(8, 22)) for _ in range(rng.randint(2, 6)))


def _code_block(rng: random.Random) -> str:
    lang = rng.choice(("python", "bash", "json", "toml"))
    w = lambda: rng.choice(_WORDS)  # noqa: E731
    if lang == "python":
        lines = [f"def {rng.choice(_NAMES)}(path: str, retries: int = 3) -> dict[str, int]:",
                 f'    """{_sentence(rng, 6)}"""']  # fmt: skip
        for _ in range(rng.randint(3, 12)):
            lines.append(rng.choice((
                f"    {w()}_count = len({w()}) + {rng.randint(1, 99)}",
                f'    if {w()} is None:\n        raise ValueError("no {w()}")',
                f"    for item in {w()}s:\n        total += item.{w()}",
                f"    # {_sentence(rng, 7)}",
                f'    result["{w()}"] = {rng.choice(_NAMES)}({w()}, timeout={rng.random():.2f})',
            )))  # fmt: skip
        lines.append("    return result")
    elif lang == "bash":
        lines = [rng.choice((
            f'outscale-cli chat -m {MODEL} --max-time {rng.randint(5, 60)} "{w()}"',
            f"export OUTSCALE_{w().upper()}={w()}",
            f"curl -s http://127.0.0.1:{rng.randint(1024, 65535)}/v1/models | jq '.data[].id'",
            f"# {_sentence(rng, 6)}",
        )) for _ in range(rng.randint(2, 8))]  # fmt: skip
    elif lang == "json":
        items = [f'  "{w()}": {rng.randint(0, 5000)}' for _ in range(rng.randint(3, 9))]
        lines = ["{", ",\n".join(items), "}"]
    else:
        lines = [f"[profile.{w()}]", *(f'{w()} = "{w()}"' for _ in range(rng.randint(2, 7)))]
    return f"```{lang}\n" + "\n".join(lines) + "\n```"


def _list(rng: random.Random) -> str:
    ordered = rng.random() < 0.4
    items = []
    for n in range(1, rng.randint(3, 8)):
        lead = f"**{rng.choice(_WORDS).capitalize()}**: " if rng.random() < 0.5 else ""
        item = f"{f'{n}.' if ordered else '-'} {lead}{_sentence(rng, rng.randint(5, 25))}"
        if rng.random() < 0.2:
            nested = (
                f"   - {_sentence(rng, rng.randint(3, 10))}" for _ in range(rng.randint(1, 3))
            )
            item += "\n" + "\n".join(nested)
        items.append(item)
    return "\n".join(items)


def _table(rng: random.Random) -> str:
    columns = rng.randint(2, 4)
    rows = ["| " + " | ".join(rng.choice(_WORDS).capitalize() for _ in range(columns)) + " |",
            "|" + "---|" * columns]  # fmt: skip
    for _ in range(rng.randint(2, 7)):
        cells = [f"`{rng.choice(_WORDS)}`"] + [
            rng.choice((str(rng.randint(1, 9999)), _sentence(rng, rng.randint(1, 6))[:-1]))
            for _ in range(columns - 1)
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def realistic_markdown(tokens: int, seed: int = 18) -> str:
    """An answer of exactly `tokens` stand-in tokens (word-sized pieces), in Markdown."""
    from outscale_cli.mock.answers import tokens_of

    rng = random.Random(seed)
    pieces: list[str] = []
    while len(pieces) < tokens:
        section = [f"## {_sentence(rng, rng.randint(2, 6))[:-1]}", _paragraph(rng)]
        for _ in range(rng.randint(1, 4)):
            section.append(rng.choice((_paragraph, _list, _code_block, _table, _paragraph))(rng))
        if rng.random() < 0.3:
            section.append(f"### {_sentence(rng, 3)[:-1]}\n{_paragraph(rng)}")
        pieces.extend(tokens_of("\n\n".join(section) + "\n\n"))
    return "".join(pieces[:tokens])


def markdown_sse_file(text: str, folder: Path, name: str) -> Path:
    """A recorded-style stream of `text`, one content event a stand-in token."""
    from outscale_cli.mock.answers import tokens_of

    pieces = tokens_of(text)
    path = folder / f"{name}.sse"
    with path.open("w") as out:
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            chunk: dict[str, object] = {
                "id": "bench", "object": "chat.completion.chunk", "model": MODEL,
                "choices": [{"index": 0, "delta": {"content": piece},
                             "finish_reason": "stop" if last else None}],
            }  # fmt: skip
            if last:
                chunk["usage"] = {"prompt_tokens": 5, "completion_tokens": len(pieces),
                                  "total_tokens": len(pieces) + 5}  # fmt: skip
            out.write(f"data: {json.dumps(chunk)}\n\n")
        out.write("data: [DONE]\n\n")
    return path


# rich rendering the whole answer once, as `python -m rich.markdown` does: the reference.
RICH_ONE_SHOT = """\
import sys
from rich.console import Console
from rich.markdown import Markdown
with open(sys.argv[1], encoding="utf-8") as answer:
    text = answer.read()
Console().print(Markdown(text))
"""
# Our streamed render on its own: MarkdownWriter given the answer piece by piece, as `chat`
# gives it each delta, without the HTTP and event-stream work around it.
STREAMED = """\
import sys
from outscale_cli.mock.answers import tokens_of
from outscale_cli.render import MarkdownWriter
with open(sys.argv[1], encoding="utf-8") as answer:
    pieces = tokens_of(answer.read())
writer = MarkdownWriter(sys.stdout)
for piece in pieces:
    writer.write(piece)
writer.finish()
"""


def bench_render(quick: bool) -> None:
    from outscale_cli.mock.answers import chat_text

    sizes = (1000, 5000) if quick else (1000, 20000)
    large = sizes[-1]
    rounds = 2 if quick else 7
    # The baseline is the stand-in's natural answer (BASE_TOKENS tokens: a heading, a list and
    # a code block), so that one-off costs (importing rich and the syntax highlighter,
    # starting the live display) fall in the start-up, not in the per-token figure. The other
    # answers are realistic Markdown, replayed by the stand-in. The largest also goes, as a
    # file, to rich's one-shot render and to MarkdownWriter alone: each command a process on a
    # pty, all alternated round after round.
    natural = chat_text({"messages": [{"role": "user", "content": "Hello"}]}, MODEL)
    texts = {BASE_TOKENS: natural, **{n: realistic_markdown(n) for n in sizes}}
    with tempfile.TemporaryDirectory() as folder, ExitStack() as stack:
        files = {n: Path(folder) / f"answer-{n}.md" for n in texts}
        urls = {BASE_TOKENS: stack.enter_context(stand_in())}
        for n, text in texts.items():
            files[n].write_text(text, encoding="utf-8")
            if n != BASE_TOKENS:
                replay = markdown_sse_file(text, Path(folder), f"answer-{n}")
                urls[n] = stack.enter_context(stand_in("--replay", str(replay)))
        commands: dict[str, Callable[[int], list[str]]] = {
            "chat": lambda n: chat(urls[n]),
            "json": lambda n: chat(urls[n], "--json"),
            "streamed": lambda n: [PY, "-c", STREAMED, str(files[n])],
            "rich": lambda n: [PY, "-c", RICH_ONE_SHOT, str(files[n])],
        }
        runs = [("chat", n) for n in texts] + [
            (name, n) for name in ("json", "streamed", "rich") for n in (BASE_TOKENS, large)
        ]
        cpu: dict[tuple[str, int], list[float]] = {run: [] for run in runs}
        for round_no in range(rounds):
            for name, n in runs[:: -1 if round_no % 2 else 1]:
                cpu[name, n].append(_cpu_in_pty(commands[name](n)))

    def per_token(name: str, n: int, i: int | None = None) -> float:
        """µs a token above the baseline: medians, or round `i`'s own figures."""
        if i is None:
            big, base = statistics.median(cpu[name, n]), statistics.median(cpu[name, BASE_TOKENS])
        else:
            big, base = cpu[name, n][i], cpu[name, BASE_TOKENS][i]
        return (big - base) / (n - BASE_TOKENS) * 1e6

    ours = {n: per_token("chat", n) for n in sizes}
    r = ours[sizes[1]] / ours[sizes[0]]
    table = Table(
        "Markdown rendering on a terminal (a pty, 80x24): CPU per token, start-up subtracted "
        "(a realistic answer: headings, paragraphs, lists, code blocks, tables)",
        ["answer", "CPU (ms, median)", "per token (µs)", "goal", ""],
    )
    base = statistics.median(cpu["chat", BASE_TOKENS])
    table.add(f"{BASE_TOKENS} tokens (the baseline)", f"{base * 1000:.0f}", "", "", "")
    for n in sizes:
        table.add(f"{n:,} tokens", f"{statistics.median(cpu['chat', n]) * 1000:.0f}",
                  f"{ours[n]:.1f}", "<= 50 µs", verdict(ours[n], 50))  # fmt: skip
    table.add(f"ratio {sizes[1]:,} / {sizes[0]:,}", "", f"{r:.2f}", "<= 1.5 (linear)",
              verdict(r, 1.5))  # fmt: skip
    table.print()
    # The machine's speed drifts between rounds more than between two neighbouring runs: the
    # ratio is taken in each round, then its median (and spread) over the rounds.
    ratios = [per_token("streamed", large, i) / per_token("rich", large, i) for i in range(rounds)]
    whole = [per_token("chat", large, i) / per_token("rich", large, i) for i in range(rounds)]
    ratio = statistics.median(ratios)
    q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratio] * 3
    table = Table(
        f"Our streamed render against rich rendering the same document once "
        f"(`Console().print(Markdown(text))`), {large:,} tokens: CPU per token (µs, medians), "
        "start-up subtracted, a pty",
        ["streamed render alone", "rich once", "ratio (p25-p75)", "goal", "", "chat",
         "chat --json (not rendered)", "chat / rich once"],
    )  # fmt: skip
    table.add(f"{per_token('streamed', large):.1f}", f"{per_token('rich', large):.1f}",
              f"{ratio:.2f}x ({q[0]:.2f}-{q[2]:.2f})", "<= 1.5x", verdict(ratio, 1.5),
              f"{ours[large]:.1f}", f"{per_token('json', large):.1f}",
              f"{statistics.median(whole):.2f}x")  # fmt: skip
    table.print()
    print("\nThe streamed render alone is MarkdownWriter given the answer piece by piece in a "
          "process of its own, as `chat` gives it each delta; `chat` also reads the HTTP "
          "stream and decodes its events, which `chat --json` does alone (its answer printed "
          "once, at the end).")  # fmt: skip


def bench_latency(quick: bool) -> None:
    """Time from an event leaving a loopback server to its text on the CLI's stdout."""
    count = 40 if quick else 200
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    sent: dict[int, float] = {}

    def serve() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                     b"Connection: close\r\n\r\n")  # fmt: skip
        for i in range(count):
            time.sleep(0.01)
            finish = "stop" if i == count - 1 else None
            delta = {"index": 0, "delta": {"content": f"<{i}>"}, "finish_reason": finish}
            chunk = {"choices": [delta]}
            sent[i] = time.perf_counter()
            conn.sendall(f"data: {json.dumps(chunk)}\n\n".encode())
        conn.sendall(b"data: [DONE]\n\n")
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    process = subprocess.Popen(chat(url), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               stdin=subprocess.DEVNULL)  # fmt: skip
    assert process.stdout is not None
    seen: dict[int, float] = {}
    buffer = b""
    fd = process.stdout.fileno()
    while len(seen) < count:
        part = os.read(fd, 65536)
        if not part:
            break
        now = time.perf_counter()
        buffer += part
        for match in re.finditer(rb"<(\d+)>", buffer):
            seen.setdefault(int(match.group(1)), now)
    process.wait(timeout=30)
    listener.close()
    delays = [seen[i] - sent[i] for i in seen if i in sent]
    median_ms = statistics.median(delays) * 1000
    table = Table(
        "From an event's arrival to its text on stdout, piped",
        ["events", "median (ms)", "p90 (ms)", "goal", ""],
    )
    p90 = statistics.quantiles(delays, n=10)[8] * 1000
    table.add(str(len(delays)), f"{median_ms:.3f}", f"{p90:.3f}", "< 1 ms", verdict(median_ms, 1))
    table.print()


def _peak_rss_kib(argv: list[str]) -> int:
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               stdin=subprocess.DEVNULL)  # fmt: skip
    _, _, usage = os.wait4(process.pid, 0)
    process.returncode = 0
    return int(usage.ru_maxrss)


def bench_memory(quick: bool) -> None:
    large = 20000 if quick else 100000
    with tempfile.TemporaryDirectory() as folder:
        small_file, large_file = sse_file(1000, Path(folder)), sse_file(large, Path(folder))
        with (
            stand_in("--replay", str(small_file)) as small,
            stand_in("--replay", str(large_file)) as big,
        ):
            peaks: dict[str, list[int]] = {"small": [], "large": []}
            for _ in range(2 if quick else 3):
                peaks["small"].append(_peak_rss_kib(chat(small)))
                peaks["large"].append(_peak_rss_kib(chat(big)))
    s, b = statistics.median(peaks["small"]), statistics.median(peaks["large"])
    r = b / s
    table = Table(
        "Peak memory of a streamed answer, piped (max RSS, MiB)",
        ["answer", "peak", "ratio", "goal", ""],
    )
    table.add("1,000 tokens", f"{s / 1024:.1f}", "", "", "")
    table.add(f"{large:,} tokens", f"{b / 1024:.1f}", f"{r:.2f}x", "<= 1.2x", verdict(r, 1.2))
    table.print()


def _batch_input(path: Path, count: int) -> Path:
    with path.open("w") as out:
        for i in range(count):
            body = {"messages": [{"role": "user", "content": f"Question {i}"}]}
            out.write(json.dumps({"custom_id": str(i), "body": body}) + "\n")
    return path


def _run_measured(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds (user + system), peak RSS in KiB) of one command."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env=env)  # fmt: skip
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = 0
    if status != 0:
        raise RuntimeError(f"{argv[:3]} failed with status {status}")
    return time.perf_counter() - started, usage.ru_utime + usage.ru_stime, int(usage.ru_maxrss)


BATCH_REFERENCES = {
    "httpx.AsyncClient script": "batch_httpx_async.py",
    "httpx-aiohttp script": "batch_httpx_aiohttp.py",
    "aiohttp script": "batch_aiohttp.py",
}


def bench_batch(quick: bool) -> None:
    """batch run against the stand-in at 64 concurrent requests, beside minimal scripts
    sending the same requests (alternated): CPU a request with no delay; requests a second
    with 0.2 s of latency; peak memory, large input against small."""
    j = "64"
    count = 2000 if quick else 20000
    rounds = 1 if quick else 3
    env = {**os.environ, "OUTSCALE_MODEL_NAME": MODEL}
    with tempfile.TemporaryDirectory() as folder:
        source = _batch_input(Path(folder) / "in.jsonl", count)
        out = str(Path(folder) / "out.jsonl")
        cpu: dict[str, list[float]] = {name: [] for name in ["outscale-cli batch run",
                                                             *BATCH_REFERENCES]}  # fmt: skip
        with stand_in() as url:
            env["OUTSCALE_SERVER_URL"] = url
            commands = {
                "outscale-cli batch run": [CLI, "batch", "run", str(source), "-j", j,
                                           "--unordered", "-o", out],
                **{name: reference(script, url, MODEL, str(count), j)
                   for name, script in BATCH_REFERENCES.items()},
            }  # fmt: skip
            for round_no in range(rounds):
                names = list(commands) if round_no % 2 == 0 else list(reversed(commands))
                for name in names:
                    cpu[name].append(_run_measured(commands[name], env)[1] / count)
        table = Table(
            f"batch: {count:,} requests, -j 64, no delay: client CPU a request (µs)",
            ["command", "CPU a request", "ours / it", "goal", ""],
        )
        ours = statistics.median(cpu["outscale-cli batch run"])
        table.add("outscale-cli batch run", f"{ours * 1e6:.0f}", "", "", "")
        for name in BATCH_REFERENCES:
            theirs = statistics.median(cpu[name])
            goal = name == "httpx-aiohttp script"
            table.add(name, f"{theirs * 1e6:.0f}", f"{ours / theirs:.2f}x",
                      "<= 1.3x" if goal else "(context)",
                      verdict(ours / theirs, 1.3) if goal else "")  # fmt: skip
        table.print()

        slow = 500 if quick else 5000
        source = _batch_input(Path(folder) / "slow.jsonl", slow)
        ideal = 64 / 0.2
        with stand_in("--latency", "0.2") as url:
            env["OUTSCALE_SERVER_URL"] = url
            runs = {
                "outscale-cli batch run": [CLI, "batch", "run", str(source), "-j", j,
                                           "--unordered", "-o", out],
                "httpx-aiohttp script": reference("batch_httpx_aiohttp.py", url, MODEL,
                                                  str(slow), j),
                "aiohttp script": reference("batch_aiohttp.py", url, MODEL, str(slow), j),
            }  # fmt: skip
            samples: dict[str, list[float]] = {name: [] for name in runs}
            for round_no in range(rounds):  # in turn, each round in the other order
                names = list(runs) if round_no % 2 == 0 else list(reversed(runs))
                for name in names:
                    samples[name].append(slow / _run_measured(runs[name], env)[0])
            rates = {name: statistics.median(got) for name, got in samples.items()}
        table = Table(
            f"batch: {slow:,} requests, -j 64, 0.2 s latency: requests/s, whole command "
            f"(start-up included), median of {rounds} (ideal {ideal:.0f})",
            ["command", "requests/s", "of the ideal", "goal", ""],
        )
        for name, rate in rates.items():
            share = rate / ideal
            mine = name.startswith("outscale")
            table.add(name, f"{rate:.0f}", f"{share:.0%}", ">= 90%" if mine else "(context)",
                      ("met" if share >= 0.9 else "NOT met") if mine else "")  # fmt: skip
        table.print()

        small, large = (2000, 20000) if quick else (10000, 1_000_000)
        peaks = {}
        with stand_in() as url:
            env["OUTSCALE_SERVER_URL"] = url
            for size in (small, large):
                path = _batch_input(Path(folder) / f"m{size}.jsonl", size)
                argv = [CLI, "batch", "run", str(path), "-j", j, "--unordered", "-o", out]
                peaks[size] = _run_measured(argv, env)[2] / 1024
                path.unlink()
        ratio_mem = peaks[large] / peaks[small]
        table = Table(
            "batch: peak memory (max RSS, MiB), --unordered, against the stand-in",
            ["input", "peak", "ratio", "goal", ""],
        )
        table.add(f"{small:,} lines", f"{peaks[small]:.1f}", "", "", "")
        table.add(f"{large:,} lines", f"{peaks[large]:.1f}", f"{ratio_mem:.2f}x",
                  "< 100 MiB, <= 1.2x",
                  verdict(ratio_mem, 1.2) if peaks[large] < 100 else "NOT met")  # fmt: skip
        table.print()


def bench_history(quick: bool) -> None:
    """The history's costs: recording a chat against --no-log (alternated), a full-text
    search over 100,000 exchanges, and how soon chat -i shows its prompt."""
    rounds = 3 if quick else 10
    with tempfile.TemporaryDirectory() as folder, stand_in() as url:
        saved = {k: os.environ.get(k) for k in ("OUTSCALE_HISTORY", "OUTSCALE_NO_HISTORY")}
        os.environ["OUTSCALE_HISTORY"] = str(Path(folder) / "history.sqlite")
        os.environ.pop("OUTSCALE_NO_HISTORY", None)
        try:
            base = [CLI, "chat", "--server-url", url, "-m", MODEL, "--no-stream"]
            # One run of each in turn, many times: a difference of a few ms needs many samples
            # on a noisy machine; CPU time (user + system) is the steadier of the two figures.
            walls: list[list[float]] = [[], []]
            cpus: list[list[float]] = [[], []]
            for _ in range(10 * rounds):
                for i, argv in enumerate(([*base, "Hello"], [*base, "--no-log", "Hello"])):
                    wall, cpu, _ = _run_measured(argv)
                    walls[i].append(wall)
                    cpus[i].append(cpu)
            # The median of the pairs' differences: each pair ran side by side, so a slow
            # spell of the machine falls on both of its runs (a difference of medians does not
            # cancel it, and varied by 20 ms from one run to the next here).
            cost = statistics.median(a - b for a, b in zip(*walls, strict=True)) * 1000
            cpu_cost = statistics.median(a - b for a, b in zip(*cpus, strict=True)) * 1000
            table = Table(f"History: a recorded chat against --no-log (ms, piped, alternated "
                          f"{10 * rounds} times)", ["command", "wall, median (p25-p75)",
                          "CPU, median", "difference, median of pairs (wall / CPU)", "goal",
                          ""])  # fmt: skip
            difference = f"{cost:+.1f} / {cpu_cost:+.1f} ms"
            table.add("chat (recorded)", summary(walls[0]),
                      f"{statistics.median(cpus[0]) * 1000:.1f}", difference, "<= 10 ms",
                      verdict(cost, 10))  # fmt: skip
            table.add("chat --no-log", summary(walls[1]),
                      f"{statistics.median(cpus[1]) * 1000:.1f}", "", "", "")  # fmt: skip
            recorded = _instructions([*base, "Hello"]) if not quick else None
            unrecorded = _instructions([*base, "--no-log", "Hello"]) if recorded else None
            if recorded and unrecorded:
                extra = recorded - unrecorded
                per_second = unrecorded / statistics.median(cpus[1])
                said = f"+{extra / 1e6:.1f} M: {extra / per_second * 1000:.1f} ms at that rate"
                table.add("instructions (valgrind)", f"{recorded / 1e6:.1f} M",
                          f"{unrecorded / 1e6:.1f} M", said, "", "")  # fmt: skip
            table.print()
            size = 10_000 if quick else 100_000
            search_ms = _search_timing(Path(folder) / "big.sqlite", size)
            table = Table(f"History: search over {size:,} exchanges (in one process)",
                          ["query", "median (ms)", "p90 (ms)", "goal", ""])  # fmt: skip
            for query, samples in search_ms.items():
                median = statistics.median(samples)
                p90 = statistics.quantiles(samples, n=10)[8]
                table.add(query, f"{median:.1f}", f"{p90:.1f}", "<= 50 ms", verdict(median, 50))
            table.print()
            # Ours and a user's Typer + prompt_toolkit script, in turn (the floor of the two
            # libraries' imports and first drawing).
            shown: list[float] = []
            ready: list[float] = []
            theirs: list[float] = []
            bare = reference("typer_prompt.py")
            for _ in range(max(rounds, 5) * 2):
                ours_shown, ours_ready = _prompt_ms(url, [CLI, "chat", "-i"])
                shown.append(ours_shown)
                ready.append(ours_ready)
                theirs.append(_prompt_ms(url, bare)[1])
            table = Table("chat -i: from the command to its prompt (ms, on a pseudo-terminal, "
                          "alternated)", ["command", "median (p25-p75)", "goal", ""])  # fmt: skip
            ours = statistics.median(shown)
            table.add("chat -i: the prompt shown", summary([t / 1000 for t in shown]),
                      "<= 300 ms", verdict(ours, 300))  # fmt: skip
            editor = statistics.median(ready) / statistics.median(theirs)
            table.add("chat -i: the line editor's prompt", summary([t / 1000 for t in ready]),
                      f"(context: {editor:.2f}x the script's)", "")  # fmt: skip
            against = ours / statistics.median(theirs)
            table.add("typer + prompt_toolkit script", summary([t / 1000 for t in theirs]),
                      f"(context: ours shown {against:.2f}x)", "")  # fmt: skip
            table.print()
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def _instructions(argv: list[str]) -> int | None:
    """The instructions a command executes, all its threads, counted by valgrind's callgrind
    with a fixed hash seed: within a few percent from run to run, whatever the machine's
    noise. None without valgrind."""
    if shutil.which("valgrind") is None:
        return None
    result = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        check=False, env={**os.environ, "PYTHONHASHSEED": "0"},
    )  # fmt: skip
    found = re.search(r"Collected : (\d+)", result.stderr)
    return int(found.group(1)) if result.returncode == 0 and found else None


def _search_timing(path: Path, size: int) -> dict[str, list[float]]:
    """Fill a history with `size` exchanges, then time searches (ms)."""
    import sqlite3

    from outscale_cli.history import History

    with History(path) as history:
        rng = random.Random(7)
        # A vocabulary of 20,000 made-up words used with Zipf-like frequencies: a few very
        # common, most rare, as in real prompts and answers.
        syllables = "ba be bi bo bu da de di do du ka ke ki ko ku la le li lo lu ma me mi".split()
        vocabulary = [
            "".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(20_000)
        ] + ["water", "lilies", "giverny", "cathedral"]
        weights = [1.0 / (rank + 1) for rank in range(len(vocabulary))]  # fmt: skip
        history.db.execute("BEGIN")
        history.db.execute("INSERT INTO conversations (id, created_at, updated_at) "
                           "VALUES ('bench', 0, 0)")  # fmt: skip
        rows = []
        for i in range(size):
            prompt = " ".join(rng.choices(vocabulary, weights, k=12))
            answer = " ".join(rng.choices(vocabulary, weights, k=80))
            rows.append(("bench", "chat", float(i), "[]", prompt, answer))
        history.db.executemany(
            "INSERT INTO exchanges (conversation_id, kind, created_at, messages, prompt, answer) "
            "VALUES (?,?,?,?,?,?)", rows)  # fmt: skip
        history.db.execute("COMMIT")
        history.db.execute("PRAGMA optimize")
    timings: dict[str, list[float]] = {}
    with History(path) as history:
        # Rare words, and the most common ones (in nearly every exchange: the costly case).
        common = (vocabulary[0], f"{vocabulary[1]} {vocabulary[2]}")
        for query in ("water lilies", "giverny cathedral", "bada", *common):
            samples = []
            for _ in range(15):
                started = time.perf_counter()
                history.search(query, 20)
                samples.append((time.perf_counter() - started) * 1000)
            share = "in most exchanges" if query in common else "rare"
            timings[f"{query} ({share})"] = samples
    del sqlite3
    return timings


def _prompt_ms(url: str, argv: list[str]) -> tuple[float, float]:
    """Milliseconds from starting `argv` (chat -i) in a pseudo-terminal to a prompt on the
    screen, and to the line editor's (prompt_toolkit turning bracketed paste on). The two are
    one for a script that only has the editor's; ours shows "> " before the editor loads."""
    import pexpect  # a test extra

    env = {**os.environ, "TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1",
           "OUTSCALE_SERVER_URL": url, "OUTSCALE_MODEL_NAME": MODEL}  # fmt: skip
    editor = b"\x1b[?2004h"
    started = time.perf_counter()
    child = pexpect.spawn(argv[0], argv[1:], env=env, timeout=30, dimensions=(24, 80))
    first = child.expect_exact([b"> ", editor])
    shown = (time.perf_counter() - started) * 1000
    if first == 0:
        child.expect_exact(editor)
    ready = (time.perf_counter() - started) * 1000
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close(force=True)
    return shown, ready


BENCHMARKS: dict[str, Callable[[bool], None]] = {
    "startup": bench_startup,
    "collector": bench_collector,
    "request": bench_request,
    "stream": bench_stream,
    "render": bench_render,
    "latency": bench_latency,
    "memory": bench_memory,
    "batch": bench_batch,
    "history": bench_history,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few rounds")
    parser.add_argument("--only", default="", help="comma-separated: " + ",".join(BENCHMARKS))
    args = parser.parse_args()
    chosen = [n for n in args.only.split(",") if n] or list(BENCHMARKS)
    # Byte-compile the package as `pip install .` does: an editable install run with
    # PYTHONDONTWRITEBYTECODE=1 would otherwise recompile every module on every call.
    import compileall

    import outscale_cli

    compileall.compile_dir(Path(outscale_cli.__file__).parent, quiet=1)
    os.environ.pop("OUTSCALE_SERVER_URL", None)
    os.environ["OUTSCALE_CONFIG"] = os.devnull + ".absent.toml"  # no profile changes anything
    # Chats are recorded as a user's are (the default), but into a history of their own,
    # never the user's.
    scratch = tempfile.TemporaryDirectory(prefix="outscale-bench-")
    os.environ["OUTSCALE_HISTORY"] = str(Path(scratch.name) / "history.sqlite")
    print(f"## outscale-cli benchmarks{' (quick)' if args.quick else ''}\n")
    print(f"- date: {time.strftime('%Y-%m-%d')}; machine: {platform.machine()}, "
          f"{os.cpu_count()} cores, {platform.system()} {platform.release()}; "
          f"Python {platform.python_version()}")  # fmt: skip
    print(f"- timer: {'hyperfine, alternated in rounds' if HYPERFINE else 'perf_counter loops'}")
    for name in chosen:
        BENCHMARKS[name](args.quick)
    resource.getrusage(resource.RUSAGE_CHILDREN)  # (children are all reaped)
    return 0


if __name__ == "__main__":
    sys.exit(main())
