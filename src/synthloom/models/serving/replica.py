"""`ReplicaProcess`: one served replica — a server process under its guard, on one loopback port.

    replica = ReplicaProcess("qwen", 0, launch, port=8001, health="/health", startup_timeout=600)
    await replica.start()      # spawned, and healthy (or a ServingError with the end of its log)
    await replica.wait()       # returns when the process exits
    await replica.stop()       # SIGTERM to its process group, SIGKILL after a grace period

The process runs under `guard.py`, which leads its own process group and stops the server when this
process disappears, so a killed driver leaves nothing listening. Its output goes to a log file kept
for the error message when it fails to start.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from synthloom.errors import ServingError
from synthloom.models.serving.engines import HOST, Launch

__all__ = ["ReplicaProcess"]

#: Seconds a stopped server gets to exit before its group is killed.
_STOP_GRACE = 10.0
_LOG_TAIL = 2000


class ReplicaProcess:
    """One replica's process (see the module doc)."""

    def __init__(
        self, alias: str, index: int, launch: Launch, *, port: int, health: str, startup_timeout: float
    ) -> None:
        self.alias = alias
        self.index = index
        self.launch = launch
        self.port = port
        self.health = health if health.startswith("/") else "/" + health
        self.startup_timeout = startup_timeout
        self._process: asyncio.subprocess.Process | None = None
        self._exited: asyncio.Future[int] | None = None
        self._log = Path(tempfile.mkstemp(prefix=f"synthloom-serve-{alias}-{index}-", suffix=".log")[1])

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    @property
    def pid(self) -> int | None:
        """The guard's pid (the leader of the replica's process group)."""
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def start(self) -> None:
        """Start the process and wait until it answers its health check."""
        env = {**os.environ, **self.launch.env}
        guard = [sys.executable, "-m", "synthloom.models.serving.guard", str(os.getpid()), "--"]
        with self._log.open("ab") as log:
            try:
                self._process = await asyncio.create_subprocess_exec(
                    *guard,
                    *self.launch.argv,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    env=env,
                    start_new_session=True,
                )
            except OSError as exc:
                raise ServingError(
                    f"model '{self.alias}': cannot start replica {self.index}: {exc}"
                ) from None
        self._exited = asyncio.ensure_future(self._process.wait())
        try:
            await self._wait_healthy()
        except BaseException:
            await self.stop()
            raise

    async def wait(self) -> int:
        """The exit code, once the process has exited."""
        assert self._exited is not None
        return await asyncio.shield(self._exited)

    async def stop(self) -> None:
        """Stop the process group (the server and its guard); idempotent."""
        process = self._process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), _STOP_GRACE + 2)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()

    def log_tail(self) -> str:
        try:
            text = self._log.read_text(errors="replace")
        except OSError:
            return ""
        return text[-_LOG_TAIL:].strip()

    def discard_log(self) -> None:
        with contextlib.suppress(OSError):
            self._log.unlink()

    async def _wait_healthy(self) -> None:
        assert self._process is not None
        url = f"http://{HOST}:{self.port}{self.health}"
        deadline = time.monotonic() + self.startup_timeout
        delay = 0.05
        async with aiohttp.ClientSession() as session:
            while True:
                if self._process.returncode is not None:
                    raise ServingError(
                        f"model '{self.alias}': replica {self.index} exited with code "
                        f"{self._process.returncode} before it became healthy; its output ends:\n"
                        f"{self.log_tail() or '(nothing)'}"
                    )
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as response:
                        if response.status == 200:
                            return
                if time.monotonic() > deadline:
                    raise ServingError(
                        f"model '{self.alias}': replica {self.index} did not answer {self.health} on port "
                        f"{self.port} within {self.startup_timeout:g} s (serve.startup_timeout)"
                    )
                assert self._exited is not None
                await asyncio.wait({self._exited}, timeout=delay)  # at once when the process exits
                delay = min(delay * 2, 0.5)
