"""The response cache: a wrapper in the model-call chain over one SQLite file. Tested with a handler in
place of the network (what reaches it is what was not answered from the cache) and a real file."""

from __future__ import annotations

import asyncio
import logging
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from synthloom import DatasetConfig
from synthloom.config.model_config import ModelConfig
from synthloom.interface.api import resolve_cache
from synthloom.models import CallScope, FunctionHandler, ModelClient, UsageTracker
from synthloom.models.calls import ResponseCache, build_chain
from synthloom.models.calls.caching import FORMAT_VERSION
from synthloom.models.retry_policy import RetryPolicy

USER = [{"role": "user", "content": "Say hi"}]
FAST = RetryPolicy(base_delay=0.0, max_delay=0.0)


def _reply(request: Any) -> dict[str, Any]:
    text = f"reply {len(request.body['messages'])} {request.body.get('temperature')}"
    return {
        "choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3},
    }


class Setup:
    """A client whose chain has `cache` in it, over a counting stand-in for the network."""

    def __init__(self, cache: ResponseCache, **model: Any) -> None:
        self.network = FunctionHandler(_reply)
        self.usage = UsageTracker()
        fields: dict[str, Any] = {"alias": "m", "provider": "openai", "base_url": "http://127.0.0.1:9/v1"}
        self.config = ModelConfig(**{**fields, "model": "x", **model})
        chain = build_chain(
            self.config, self.network, usage=self.usage, retry_policy=FAST, extra=[cache.wrap]
        )
        self.client = ModelClient(self.config, handler=chain)

    async def ask(self, *, seed: int = 7, attempt: int = 1, text: str = "Say hi") -> str:
        scope = CallScope(tag="col", record=0, row_group=0, seed=seed, attempt=attempt)
        result = await self.client.generate_text([{"role": "user", "content": text}], scope=scope)
        return result.text


async def test_a_second_run_is_answered_from_the_file_and_accounted_as_cached(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    first = ResponseCache(path)
    one = Setup(first)
    text = await one.ask()
    await first.aclose()
    second = ResponseCache(path)
    two = Setup(second)
    assert await two.ask() == text
    await second.aclose()
    assert len(two.network.requests) == 0
    model = two.usage.summary()["models"]["m"]
    assert (model["requests"], model["cached"], model["cost"], model["input_tokens"]) == (1, 1, 0.0, 0)
    assert (first.stored, second.hits, second.misses) == (1, 1, 0)


async def test_seed_attempt_body_and_model_each_make_a_different_key(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "c.sqlite3")
    setup = Setup(cache)
    await setup.ask()
    await setup.ask(seed=8)
    await setup.ask(attempt=2)
    await setup.ask(text="Say bye")
    other = Setup(cache, model="y")
    await other.ask()
    await cache.aclose()
    assert (len(setup.network.requests), len(other.network.requests)) == (4, 1)


async def test_the_same_request_twice_in_one_cell_gets_two_answers_and_both_come_back(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    cache = ResponseCache(path)
    setup = Setup(cache)
    await setup.ask()
    await setup.ask()
    await cache.aclose()
    assert len(setup.network.requests) == 2  # the repeat was not answered with the first reply
    again = ResponseCache(path)
    replay = Setup(again)
    await replay.ask()
    await replay.ask()
    await again.aclose()
    assert (len(replay.network.requests), again.hits) == (0, 2)


async def test_read_only_never_writes_and_refresh_always_asks(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    warm = ResponseCache(path)
    await Setup(warm).ask()
    await warm.aclose()
    before = path.read_bytes()
    reader = ResponseCache(path, mode="read_only")
    setup = Setup(reader)
    await setup.ask()  # a hit
    await setup.ask(seed=99)  # a miss: asked, not stored
    await reader.aclose()
    assert (reader.hits, reader.misses, reader.stored, len(setup.network.requests)) == (1, 1, 0, 1)
    assert path.read_bytes() == before
    refresh = ResponseCache(path, mode="refresh")
    setup = Setup(refresh)
    await setup.ask()
    await refresh.aclose()
    assert (refresh.hits, refresh.stored, len(setup.network.requests)) == (0, 1, 1)


async def test_read_only_without_a_file_is_a_miss_not_an_error(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "absent.sqlite3", mode="read_only")
    setup = Setup(cache)
    await setup.ask()
    await cache.aclose()
    assert len(setup.network.requests) == 1
    assert not (tmp_path / "absent.sqlite3").exists()


async def test_a_corrupt_file_gives_misses_and_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "c.sqlite3"
    path.write_bytes(b"this is not a database at all" * 200)
    cache = ResponseCache(path)
    setup = Setup(cache)
    with caplog.at_level(logging.WARNING, logger="synthloom.models.calls.caching"):
        for seed in range(3):
            await setup.ask(seed=seed)
    await cache.aclose()
    assert len(setup.network.requests) == 3
    assert cache.disabled is not None
    assert len([r for r in caplog.records if "not usable" in r.message]) == 1


async def test_a_file_of_another_format_version_is_refused_never_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "c.sqlite3"
    warm = ResponseCache(path)
    await Setup(warm).ask()
    await warm.aclose()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'format'", (str(FORMAT_VERSION + 1),))
    cache = ResponseCache(path)
    setup = Setup(cache)
    with caplog.at_level(logging.WARNING, logger="synthloom.models.calls.caching"):
        await setup.ask()
    await cache.aclose()
    assert (len(setup.network.requests), cache.hits) == (1, 0)
    assert f"format {FORMAT_VERSION + 1}" in str(cache.disabled)


async def test_a_locked_file_gives_misses_and_one_warning(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    warm = ResponseCache(path)
    await Setup(warm).ask()
    await warm.aclose()
    holder = sqlite3.connect(path, timeout=0)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")  # another process holding the file for good
    try:
        cache = ResponseCache(path)
        cache_timeout_short(cache)
        setup = Setup(cache)
        await setup.ask()
        await setup.ask(seed=1)
        await cache.aclose()
    finally:
        holder.rollback()
        holder.close()
    assert len(setup.network.requests) == 2
    assert cache.disabled is not None and "locked" in cache.disabled


def cache_timeout_short(cache: ResponseCache) -> None:
    """Wait 0 s for a lock instead of the default 5 s: the lock is held for good here."""
    cache.lock_timeout = 0.0


async def test_the_file_stays_within_its_size_evicting_the_least_recently_used(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    cache = ResponseCache(path, max_bytes=2_000)
    setup = Setup(cache)
    await setup.ask(seed=0)
    for seed in range(1, 40):
        await cache.flush()  # written before the other run looks (answers are written in batches)
        # Seed 0's answer stays in use: asked for by another run (a run asks for a cell once).
        user = ResponseCache(path)
        await Setup(user).ask(seed=0)
        await user.aclose()
        assert user.hits == 1
        await setup.ask(seed=seed)
    await cache.aclose()
    assert cache.evicted > 0
    assert cache.size() <= 2_000
    with sqlite3.connect(path) as db:
        stored = db.execute("SELECT COUNT(*), SUM(size) FROM responses").fetchone()
    assert stored[1] <= 2_000 and stored[0] < 40
    check = ResponseCache(path, mode="read_only")
    survivor = Setup(check)
    await survivor.ask(seed=0)
    await check.aclose()
    assert check.hits == 1  # the one used all along was not evicted


async def test_two_caches_on_one_file_see_each_others_answers(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    one, two = ResponseCache(path), ResponseCache(path)
    first, second = Setup(one), Setup(two)
    await first.ask(seed=1)
    await second.ask(seed=2)
    await one.flush()
    await two.flush()  # answers are written in batches; once written, the other process sees them
    await first.ask(seed=2)
    await second.ask(seed=1)
    await one.aclose()
    await two.aclose()
    assert (len(first.network.requests), len(second.network.requests)) == (1, 1)


async def test_the_api_key_is_never_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CACHE_TEST_KEY", "sk-very-secret-value")
    path = tmp_path / "c.sqlite3"
    cache = ResponseCache(path)
    setup = Setup(cache, api_key_env="CACHE_TEST_KEY")
    await setup.ask()
    await cache.aclose()
    for file in tmp_path.iterdir():
        assert b"sk-very-secret-value" not in file.read_bytes()


WRITER = """
import asyncio, sys
sys.path.insert(0, {tests!r})
from test_response_cache import Setup
from synthloom.models.calls import ResponseCache

async def main():
    cache = ResponseCache({path!r})
    setup = Setup(cache)
    for seed in range(50):
        await setup.ask(seed=seed)
    def half_written():  # on the cache's own thread and connection: a write begun, never committed
        cache._db.execute("BEGIN IMMEDIATE")
        cache._db.execute(
            "INSERT INTO responses (key, value, size, used) VALUES (?, ?, ?, ?)", (b"x" * 32, b"half", 4, 0.0)
        )

    cache._thread.submit(half_written).result()
    print("writing", flush=True)
    sys.stdin.read()  # killed here, holding the write lock

asyncio.run(main())
"""


def test_a_writer_killed_inside_a_write_leaves_a_file_that_still_answers(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    script = WRITER.format(tests=str(Path(__file__).parent), path=str(path))
    writer = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "writing"
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        for stream in (writer.stdin, writer.stdout):
            if stream is not None:
                stream.close()
    assert writer.returncode == -signal.SIGKILL

    async def replay() -> tuple[ResponseCache, Setup]:
        cache = ResponseCache(path)
        setup = Setup(cache)
        for seed in range(50):
            await setup.ask(seed=seed)
        await setup.ask(seed=10_000_000)  # and it still takes new answers
        await cache.aclose()
        return cache, setup

    cache, setup = asyncio.run(replay())
    assert cache.disabled is None
    assert (cache.hits, len(setup.network.requests), cache.stored) == (50, 1, 1)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT COUNT(*) FROM responses WHERE key = ?", (b"x" * 32,)).fetchone()[0] == 0


def test_where_the_cache_is_argument_then_config_then_environment_then_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def config(cache: Any = None) -> DatasetConfig:
        run = {} if cache is None else {"cache": cache}
        data = {"name": "c", "columns": [{"name": "x", "type": "sampler", "sampler": "uuid"}], "run": run}
        return DatasetConfig.model_validate(data)

    monkeypatch.delenv("SYNTHLOOM_CACHE")
    default = resolve_cache(config(), tmp_path / "out")
    assert default is not None and default.path == str(tmp_path / "out" / ".cache" / "responses.sqlite3")
    monkeypatch.setenv("SYNTHLOOM_CACHE", str(tmp_path / "env.sqlite3"))
    assert resolve_cache(config(), tmp_path).path == str(tmp_path / "env.sqlite3")  # type: ignore[union-attr]
    chosen = resolve_cache(config({"path": str(tmp_path / "c.sqlite3"), "mode": "read_only"}), tmp_path)
    assert chosen is not None and (chosen.path, chosen.mode) == (str(tmp_path / "c.sqlite3"), "read_only")
    given = resolve_cache(config(str(tmp_path / "c.sqlite3")), tmp_path, path=tmp_path / "a", mode="refresh")
    assert given is not None and (given.path, given.mode) == (str(tmp_path / "a"), "refresh")
    assert resolve_cache(config(False), tmp_path) is None
    assert resolve_cache(config(), tmp_path, mode="off") is None
    monkeypatch.setenv("SYNTHLOOM_CACHE", "off")
    assert resolve_cache(config(), tmp_path) is None


async def test_lookups_made_together_are_answered_together_each_with_its_own_answer(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    first = ResponseCache(path)
    one = Setup(first)
    texts = await asyncio.gather(*(one.ask(seed=seed, text=f"Say {seed}") for seed in range(40)))
    await first.aclose()
    again = ResponseCache(path)
    two = Setup(again)
    # Forty lookups in one turn of the event loop: one query, forty answers, each to its own cell.
    assert await asyncio.gather(*(two.ask(seed=seed, text=f"Say {seed}") for seed in range(40))) == texts
    await again.aclose()
    assert (again.hits, again.misses, len(two.network.requests)) == (40, 0, 0)


async def test_a_sole_writer_does_not_read_a_file_that_was_empty_yet_shares_what_it_stores(
    tmp_path: Path,
) -> None:
    path = tmp_path / "c.sqlite3"
    fresh = ResponseCache(path, sole_writer=True)
    one = Setup(fresh)
    text = await one.ask()
    await fresh.aclose()
    assert (fresh.misses, fresh.stored, len(one.network.requests)) == (1, 1, 1)
    # The next run opens a file with an answer in it: it reads, and is answered from the file.
    later = ResponseCache(path, sole_writer=True)
    two = Setup(later)
    assert await two.ask() == text
    await later.aclose()
    assert (later.hits, len(two.network.requests)) == (1, 0)


def test_answers_go_to_sqlite_one_statement_per_chunk_not_one_per_answer(tmp_path: Path) -> None:
    """The sqlite3 module lets go of the interpreter lock at every step of a statement; a cache thread
    taking it back from a busy event loop waits up to 5 ms each time. Answers written or read row by
    row therefore fell behind a fast run (its queue, and the run's memory, grew without bound): they
    must reach SQLite as one statement, and come back as one result row, per chunk."""
    from synthloom.models.calls.caching import _CHUNK

    count = 2 * _CHUNK + 50
    answers = {bytes([i % 256, i // 256]) * 16: b'{"n": %d}' % i for i in range(count)}

    async def write() -> None:
        cache = ResponseCache(tmp_path / "c.sqlite3")
        for key, value in answers.items():
            await cache.put(key, value)
        await cache.aclose()

    asyncio.run(write())

    async def read() -> tuple[dict[bytes, bytes], list[str]]:
        cache = ResponseCache(tmp_path / "c.sqlite3")
        statements: list[str] = []
        await cache._call(_trace, (cache, statements.append), None)  # on the cache's own thread
        found = await cache._call(cache._get_many, (list(answers),), {})
        await cache._call(_trace, (cache, None), None)
        await cache.aclose()
        return found, statements

    found, statements = asyncio.run(read())
    assert found == answers
    assert sum(s.lstrip().upper().startswith("SELECT") for s in statements) == 3

    with sqlite3.connect(tmp_path / "c.sqlite3") as db:
        assert db.execute("SELECT COUNT(*) FROM responses").fetchone()[0] == count
    cache = ResponseCache(tmp_path / "d.sqlite3")
    statements: list[str] = []

    async def flush_once() -> None:
        await cache._call(_trace, (cache, statements.append), None)
        cache._pending.update(answers)  # queued at once, written by one flush
        await cache._call(cache._flush, (), None)
        await cache.aclose()

    asyncio.run(flush_once())
    inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT")]
    assert len(inserts) == 3


def _trace(cache: ResponseCache, sink: Any) -> None:
    assert cache._db is not None
    cache._db.set_trace_callback(sink)
