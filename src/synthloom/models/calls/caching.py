"""`ResponseCache` and its wrapper `Caching`: an answer already paid for is not asked for again.

What makes a reply is what the key is made of: the provider, the model (id and file), the route, the
rendered body (which already holds the drawn inference parameters), any uploaded file's digest, and the
cell's seed and attempt — the body alone does not say which cell asked, and two attempts of one cell
must not get the same answer. A cell that sends the very same body twice (a restart without a seed)
gets its second answer under a second key: the *occurrence* of that body within the cell. The base URL
and the API key are not part of it (replicas of one model share answers; the key is never written).

The store is one SQLite file in WAL mode: readers never block the writer, a `kill -9` loses at most the
answers queued for the next batch (a transaction is all or nothing; they are asked for again), and
several runs, preview and Ray workers on one machine open the same file at once. Answers are written in
batches, one transaction each, so that no request waits on a write: at thousands of requests a second
a transaction per answer made the cache's thread the bottleneck. (SQLite's locking does not hold on
network filesystems: on a multi-node cluster each node should point `run.cache.path` at a local disk,
and keeps its own cache.)
All SQLite work runs on one thread of its own, off the event loop. The file carries its format version;
a file of another version, a corrupt file or one that stays locked turns the cache off for the run with
one warning: every request is then a miss, never an error.

Size is bounded: the least recently used answers are evicted once the file's answers pass `max_bytes`.
Hits refresh their use time in batches (written with the next batch), so a hit costs one indexed read.
Lookups made in one turn of the event loop reach the cache's thread as one query, and a file that held
no answer when the run opened it is not read at all (a fresh run's requests are all misses): the cache
costs a fresh run next to nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import orjson

from synthloom.config.model_config import ModelConfig
from synthloom.config.run_config import CacheConfig
from synthloom.models.calls.handler import Handler, Wrapper
from synthloom.models.calls.repeats import RepeatKeys, repeat_key
from synthloom.models.calls.request import ModelRequest, ModelResponse
from synthloom.models.results import CallUsage

__all__ = ["FORMAT_VERSION", "Caching", "ResponseCache", "request_key"]

logger = logging.getLogger(__name__)

#: Bumped whenever the key, the stored value or the table changes: a file of another version is refused.
#: 2: a rowid table with the key in an index of its own (format 1 kept whole answers in the key's B-tree,
#: so every insert at a random key rewrote a page full of answers: 3 times the cost per answer).
FORMAT_VERSION = 2

_MODES = ("read_write", "read_only", "refresh")
#: Rows per statement: lookups, inserts (4 parameters a row), use times and deletions go to SQLite as one
#: statement per chunk, never one statement (or one result row) per answer. The sqlite3 module lets go
#: of the interpreter lock at every step of a statement, and a thread taking it back from a busy event
#: loop waits up to the switch interval (5 ms): row by row, a busy run stored under 900 answers a second
#: and read about 600, so answers queued faster than they were written. Kept under the 999 parameters of
#: SQLite builds older than 3.32.
_CHUNK = 200
#: Answers queued and not yet written before `put` waits for the cache's thread (a bound on memory).
_MAX_PENDING = 20_000
T = TypeVar("T")


def request_key(config: ModelConfig, request: ModelRequest, occurrence: int = 0) -> bytes:
    """The cache key of `request` sent to the model of `config`: a 32-byte digest. The `occurrence`-th
    repeat of a request within its cell (0: the first) has a key of its own."""
    scope = request.scope
    identity = {
        "v": FORMAT_VERSION,
        "provider": config.provider,
        "model": config.model,
        "model_path": config.model_path,
        "route": request.route,
        "body": request.body,
        "files": [
            [f.field, f.filename, f.media_type, hashlib.sha256(f.content).hexdigest()] for f in request.files
        ],
        "seed": scope.seed,
        "attempt": scope.attempt,
    }
    base = hashlib.sha256(orjson.dumps(identity, option=orjson.OPT_SORT_KEYS, default=str)).digest()
    return base if occurrence == 0 else repeat_key(base, occurrence)


class ResponseCache:
    """One cache file, shared by every model of a run (`wrap` is the `ModelPool` wrapper factory).

    `mode`: `read_write`, `read_only` (never writes, not even use times) or `refresh` (always asks the
    server, stores the answer). Counts `hits`, `misses`, `stored` and `evicted`; `report()` is the
    `cache` section of usage.json.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        mode: str = "read_write",
        max_bytes: int = 2 << 30,
        sole_writer: bool = False,
    ) -> None:
        if mode not in _MODES:
            raise ValueError(f"cache mode must be one of {', '.join(_MODES)}, not {mode!r}")
        self.path = Path(path)
        self.mode = mode
        self.max_bytes = max_bytes
        #: Only this process stores answers it could look up while it runs (a local run; not a Ray
        #: worker, which may take over a row group another worker began): a file empty at open is
        #: then never read.
        self.sole_writer = sole_writer
        self.hits = self.misses = self.stored = self.evicted = 0
        #: Why the cache was turned off for this run (None: working).
        self.disabled: str | None = None
        #: Seconds to wait for another process's write lock before giving up on the file.
        self.lock_timeout = 5.0
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="response-cache")
        self._db: sqlite3.Connection | None = None
        self._opened = False
        self._touched: set[bytes] = set()
        # Answers handed to `put` and not yet written: written in one transaction per batch by the cache's
        # thread, so that a run's requests never wait on a write (nor queue behind one another's).
        self._pending: dict[bytes, bytes] = {}
        self._pending_lock = threading.Lock()
        self._flush_queued = False
        self._flushes: set[asyncio.Future[None]] = set()
        self._size = 0
        self._repeats = RepeatKeys()
        #: Lookups waiting for this turn of the event loop to end (then sent as one query).
        self._lookups: list[tuple[bytes, asyncio.Future[bytes | None]]] = []
        #: Set once the file is open: it held no answer then (see `get`).
        self._empty_at_open = False

    @classmethod
    def from_config(cls, config: CacheConfig | None, *, sole_writer: bool = False) -> ResponseCache | None:
        """The cache `run.cache` asks for, once its path is resolved (None: off or no path)."""
        if config is None or config.mode == "off" or config.path is None:
            return None
        return cls(
            config.path,
            mode=config.mode,
            max_bytes=int(config.max_size_mb * 1024 * 1024),
            sole_writer=sole_writer,
        )

    # -- the wrapper -------------------------------------------------------------------------------

    def wrap(self, inner: Handler, config: ModelConfig) -> Handler:
        """The `ModelPool` wrapper factory: `inner` behind this cache, for the model of `config`."""
        return Caching(inner, cache=self, config=config)

    def key(self, request: ModelRequest, config: ModelConfig) -> bytes:
        """The key of `request`, counting how many times its cell already sent this very request in
        this process (a repeat gets a key of its own)."""
        base = request_key(config, request)
        return self._repeats.key(base)

    # -- the store ---------------------------------------------------------------------------------

    async def get(self, key: bytes) -> bytes | None:
        if self.mode == "refresh":
            return None
        with self._pending_lock:
            waiting = self._pending.get(key)
        if waiting is not None:
            return waiting
        if self._empty_at_open:
            # Nothing was in the file when this process opened it, and a process never asks twice for
            # a key it stored (a repeat has a key of its own): every lookup would miss.
            return None
        # Lookups asked for in one turn of the event loop go to the cache's thread as one query.
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bytes | None] = loop.create_future()
        self._lookups.append((key, future))
        if len(self._lookups) == 1:
            loop.call_soon(self._send_lookups, loop)
        return await future

    def _send_lookups(self, loop: asyncio.AbstractEventLoop) -> None:
        batch, self._lookups = self._lookups, []
        keys = [key for key, _ in batch]
        found = loop.run_in_executor(self._thread, self._guarded, self._get_many, (keys,), {})

        def answer(done: asyncio.Future[dict[bytes, bytes]]) -> None:
            values = done.result() if not done.cancelled() and done.exception() is None else {}
            for key, future in batch:
                if not future.done():
                    future.set_result(values.get(key))

        found.add_done_callback(answer)

    async def put(self, key: bytes, value: bytes) -> None:
        """Queue `value` to be written (in a batch, on the cache's thread); returns at once."""
        if self.mode == "read_only" or self.disabled is not None:
            return
        with self._pending_lock:
            self._pending[key] = value
            backlog = len(self._pending) >= _MAX_PENDING
            queued, self._flush_queued = self._flush_queued, True
        if queued:
            if backlog and self._flushes:
                await asyncio.gather(*self._flushes)  # a disk slower than the server: wait for it
            return
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._thread, self._guarded, self._flush, (), None)
        self._flushes.add(future)
        future.add_done_callback(self._flushes.discard)

    def report(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "mode": self.mode,
            "hits": self.hits,
            "misses": self.misses,
            "stored": self.stored,
            "evicted": self.evicted,
            "disabled": self.disabled,
        }

    async def open(self) -> None:
        """Open the file now, on the cache's thread (else the first lookup opens it). A run opens it
        before its first request: then a file that held no answer is known to before any lookup is
        made, and a fresh run's first thousand cells never wait for the file to open."""
        await self._call(lambda: None, (), None)

    async def flush(self) -> None:
        """Wait until every answer queued so far is written."""
        if self._flushes:
            await asyncio.gather(*self._flushes)
        await self._call(self._flush, (), None)

    async def aclose(self) -> None:
        """Write what is queued, then close the file."""
        await self.flush()
        await self._call(self._close, (), None)
        self._thread.shutdown(wait=True)

    def size(self) -> int:
        """Bytes of answers in the file (as this process last counted them)."""
        return self._size

    async def _call(self, function: Callable[..., T], arguments: tuple[Any, ...], fallback: T) -> T:
        if self.disabled is not None:
            return fallback
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._guarded, function, arguments, fallback)

    def _guarded(self, function: Callable[..., T], arguments: tuple[Any, ...], fallback: T) -> T:
        """Runs on the cache's thread: any SQLite failure turns the cache off, with one warning."""
        if self.disabled is not None:
            return fallback
        try:
            if not self._opened:
                self._open()
            if self.disabled is not None:
                return fallback
            return function(*arguments)
        except sqlite3.Error as exc:
            self._disable(f"{type(exc).__name__}: {exc}")
            return fallback

    def _disable(self, reason: str) -> None:
        self.disabled = reason
        logger.warning(
            "response cache %s is not usable (%s); this run continues without it", self.path, reason
        )
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None

    def _open(self) -> None:
        self._opened = True
        if self.mode == "read_only":
            if not self.path.exists():
                self._disable("read_only, and the file does not exist")
                return
            uri = f"{self.path.resolve().as_uri()}?mode=ro"
            db = sqlite3.connect(uri, uri=True, timeout=self.lock_timeout)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=self.lock_timeout)
        self._db = db
        db.isolation_level = None  # explicit transactions
        if self.mode != "read_only":
            db.execute("PRAGMA journal_mode=WAL")
            # With WAL, NORMAL loses no committed transaction to a killed process (only to power loss).
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
                # Answers are appended in rowid order; the random keys live in a small index of their own.
                db.execute(
                    "CREATE TABLE IF NOT EXISTS responses (id INTEGER PRIMARY KEY, key BLOB NOT NULL UNIQUE, "
                    "value BLOB NOT NULL, size INTEGER NOT NULL, used REAL NOT NULL)"
                )
                db.execute("CREATE INDEX IF NOT EXISTS responses_used ON responses (used)")
                db.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES ('format', ?)", (str(FORMAT_VERSION),)
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        row = db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
        if row is None or row[0] != str(FORMAT_VERSION):
            found = "no version" if row is None else f"format {row[0]}"
            self._disable(f"it holds {found}, this synthloom reads format {FORMAT_VERSION}")
            return
        self._size = int(db.execute("SELECT COALESCE(SUM(size), 0) FROM responses").fetchone()[0])
        self._empty_at_open = (
            self.sole_writer and db.execute("SELECT 1 FROM responses LIMIT 1").fetchone() is None
        )

    def _get_many(self, keys: list[bytes]) -> dict[bytes, bytes]:
        assert self._db is not None
        found: dict[bytes, bytes] = {}
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            # One result row for the whole chunk (hex pairs), not one row per answer: see `_CHUNK`.
            pairs = "group_concat(hex(key) || ',' || hex(value), ';')"
            (joined,) = self._db.execute(
                f"SELECT {pairs} FROM responses WHERE key IN ({marks})", chunk
            ).fetchone()
            for pair in joined.split(";") if joined else ():
                key, value = pair.split(",")
                found[bytes.fromhex(key)] = bytes.fromhex(value)
        if self.mode != "read_only":
            self._touched.update(found)
        return found

    def _touch(self, db: sqlite3.Connection, now: float) -> None:
        """Write the use time of every answer read since the last write (inside a transaction)."""
        touched = list(self._touched)
        for start in range(0, len(touched), _CHUNK):
            chunk = touched[start : start + _CHUNK]
            db.execute(
                f"UPDATE responses SET used = ? WHERE key IN ({','.join('?' * len(chunk))})", [now, *chunk]
            )
        self._touched.clear()

    def _flush(self) -> None:
        """Write every queued answer in one transaction (runs on the cache's thread)."""
        with self._pending_lock:
            batch, self._pending = self._pending, {}
            self._flush_queued = False
        if not batch:
            return
        db = self._db
        assert db is not None
        now = time.time()
        db.execute("BEGIN IMMEDIATE")
        try:
            items = list(batch.items())
            for start in range(0, len(items), _CHUNK):
                chunk = items[start : start + _CHUNK]
                rows = ",".join(["(?, ?, ?, ?)"] * len(chunk))
                db.execute(
                    f"INSERT OR REPLACE INTO responses (key, value, size, used) VALUES {rows}",
                    [field for key, value in chunk for field in (key, value, len(value), now)],
                )
            if self._touched:
                self._touch(db, now)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self.stored += len(batch)
        self._size += sum(len(value) for value in batch.values())
        if self._size > self.max_bytes:
            self._evict()

    def _evict(self) -> None:
        """Remove the least recently used answers until the file's answers fill 90 % of `max_bytes`
        (recounted first: other processes write to the same file)."""
        db = self._db
        assert db is not None
        db.execute("BEGIN IMMEDIATE")
        try:
            size = int(db.execute("SELECT COALESCE(SUM(size), 0) FROM responses").fetchone()[0])
            goal = int(self.max_bytes * 0.9)
            removed = 0
            while size > goal:
                rows = db.execute("SELECT key, size FROM responses ORDER BY used LIMIT 256").fetchall()
                if not rows:
                    break
                victims = []
                for key, bytes_ in rows:
                    if size <= goal:
                        break
                    victims.append(key)
                    size -= int(bytes_)
                if victims:
                    marks = ",".join("?" * len(victims))
                    db.execute(f"DELETE FROM responses WHERE key IN ({marks})", victims)
                removed += len(victims)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._size = size
        self.evicted += removed

    def _close(self) -> None:
        if self._db is None:
            return
        try:
            if self._touched and self.mode != "read_only":
                self._touch(self._db, time.time())
            self._db.close()
        except sqlite3.Error as exc:  # pragma: no cover - a file gone bad at the very end
            logger.warning("response cache %s: %s", self.path, exc)
        self._db = None


class Caching(Wrapper):
    """Answers a request from `cache` when it holds the answer (marked `cached`, parsed again by the
    request's own parser), else passes it on and stores what comes back. Failures are never stored."""

    def __init__(self, inner: Handler, *, cache: ResponseCache, config: ModelConfig) -> None:
        super().__init__(inner)
        self.cache = cache
        self.config = config

    async def handle(self, request: ModelRequest) -> ModelResponse:
        cache = self.cache
        if cache.disabled is not None:
            return await self.inner.handle(request)
        key = cache.key(request, self.config)
        stored = await cache.get(key)
        if stored is not None:
            try:
                body = orjson.loads(stored)
                parsed = request.parse(body)
            except Exception:  # an answer this version cannot read is a miss
                parsed = None
            if parsed is not None:
                cache.hits += 1
                usage = CallUsage(input_tokens=parsed.input_tokens, output_tokens=parsed.output_tokens)
                return ModelResponse(value=parsed.value, body=body, usage=usage, cached=True)
        cache.misses += 1
        response = await self.inner.handle(request)
        await cache.put(key, orjson.dumps(response.body))
        return response
