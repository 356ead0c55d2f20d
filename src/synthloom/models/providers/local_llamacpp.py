"""`provider: local`: the embedded llama.cpp server, started on first use, spoken to as OpenAI."""

from __future__ import annotations

from synthloom.config.model_config import ModelConfig
from synthloom.models.local_server import LocalModelServer
from synthloom.models.providers.base import ProviderCapabilities
from synthloom.models.providers.openai_chat import OpenAIProvider

__all__ = ["LocalProvider"]

#: llama.cpp slots: more parallel requests than this only queue inside the server on a laptop's CPU.
_LOCAL_PARALLEL = 4


class LocalProvider(OpenAIProvider):
    """SmolLM2-135M-Instruct (or the GGUF file in `model_path`) served by llama.cpp on a free port.

    The server runs without a chat-template tool parser and without a vision projector, so it
    declares neither tools nor image input.
    """

    name = "local"
    capabilities = ProviderCapabilities(json_schema=True, embeddings=True)
    starts_locally = True

    def check_config(self, config: ModelConfig) -> None:
        """Everything a local model needs has a default."""

    def model_id(self, config: ModelConfig) -> str:
        return config.model or "local"

    def limiter_key(self, config: ModelConfig) -> tuple[str, str]:
        # The pool starts one server per first part: aliases serving the same file share it.
        return (f"local:{config.model_path or 'bundled'}", self.model_id(config))

    def local_server(self, config: ModelConfig) -> LocalModelServer:
        return LocalModelServer(
            model_path=config.model_path,
            n_ctx=config.n_ctx,
            n_threads=config.n_threads,
            n_parallel=min(_LOCAL_PARALLEL, config.max_parallel_requests),
        )
