"""How a column reaches a model: provider, endpoint, inference parameters, limits, pricing.

`provider` is a name, not a closed list: providers live in the model layer (`synthloom.models`,
plugins through the `synthloom.providers` entry-point group), which this layer must not import.
`synthloom.models.check_models` resolves the name and lets the provider check the rest; the checks
below for the built-in names run here as well, so those mistakes are reported at load time with
the file and line.
"""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "Distribution",
    "EndpointConfig",
    "InferenceParams",
    "ModelConfig",
    "Pricing",
    "ServeConfig",
    "StructuredOutputParams",
]

#: The providers synthloom ships (the model layer registers them; plugins may add more).
_BUILTIN_PROVIDERS = ("openai", "anthropic", "local")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Distribution(_Strict):
    """A parameter drawn per request: `{distribution: uniform, low: 0.5, high: 1.0}`."""

    distribution: Literal["uniform", "gaussian", "choice"]
    low: float | None = None
    high: float | None = None
    mean: float | None = None
    stddev: float | None = None
    values: list[float] | None = None

    @model_validator(mode="after")
    def _check(self) -> Distribution:
        if self.distribution == "uniform" and (self.low is None or self.high is None or self.low > self.high):
            raise ValueError("uniform needs 'low' <= 'high'")
        if self.distribution == "gaussian" and (self.mean is None or self.stddev is None or self.stddev < 0):
            raise ValueError("gaussian needs 'mean' and a non-negative 'stddev'")
        if self.distribution == "choice" and not self.values:
            raise ValueError("choice needs a non-empty 'values' list")
        return self


FloatOrDistribution = float | Distribution


class InferenceParams(_Strict):
    """Sampling parameters sent with every request; columns may override any of them."""

    temperature: FloatOrDistribution | None = None
    top_p: FloatOrDistribution | None = None
    max_tokens: Annotated[int, Field(gt=0)] | None = None
    stop: list[str] | None = None
    seed: int | None = None
    extra_body: dict[str, Any] = Field(default_factory=dict)

    def merged(self, override: InferenceParams | None) -> InferenceParams:
        """These parameters with every field `override` sets replacing ours."""
        if override is None:
            return self
        data = self.model_dump(exclude_unset=True)
        data.update(override.model_dump(exclude_unset=True))
        return InferenceParams.model_validate(data)


class Pricing(_Strict):
    """Price in the user's currency per million tokens, for the cost column of usage.json."""

    input_per_million: Annotated[float, Field(ge=0)] = 0.0
    output_per_million: Annotated[float, Field(ge=0)] = 0.0


class StructuredOutputParams(_Strict):
    """How hard to try for a parseable reply before the cell fails."""

    mode: Literal["auto", "json_schema", "prompt"] = "auto"
    correction_turns: Annotated[int, Field(ge=0)] = 2
    restarts: Annotated[int, Field(ge=0)] = 1


class EndpointConfig(_Strict):
    """One server (replica) of a model served by several: requests go to the least-loaded healthy one.

    `api_key_env` and `max_parallel_requests` default to the model's own."""

    url: Annotated[str, Field(min_length=1, pattern=r"^https?://")]
    api_key_env: str | None = None
    max_parallel_requests: Annotated[int, Field(gt=0, le=10_000)] | None = None


class ServeConfig(_Strict):
    """How synthloom starts a model's servers itself (instead of `base_url`): `replicas` processes of
    `engine` on free loopback ports, health-checked, restarted when one dies, stopped with the run.

    `engine`: `llama.cpp` (a GGUF file `model`, the bundled SmolLM2 when omitted, through the same
    package as `provider: local`), `vllm` or `sglang` (their own `serve` command lines), or `command`
    (any OpenAI-compatible server: `args` is its command line, `{port}`, `{host}` and `{model}` filled
    in). `args` are appended to the engine's command line. `resources` (`num_cpus`, `num_gpus`) are
    what each replica needs: checked against the machine, and given to each replica its own GPUs."""

    engine: Literal["llama.cpp", "vllm", "sglang", "command"]
    model: str | None = None
    replicas: Annotated[int, Field(ge=1, le=64)] = 1
    args: list[str] = Field(default_factory=list)
    resources: dict[str, Annotated[float, Field(ge=0)]] = Field(default_factory=dict)
    #: The first replica's port (the others count up from it); None: free ports.
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    #: Path answering 200 once the server is ready.
    health: str = "/health"
    startup_timeout: Annotated[float, Field(gt=0)] = 600.0
    #: Restarts per replica before it is given up (the others carry on).
    max_restarts: Annotated[int, Field(ge=0)] = 3

    @model_validator(mode="after")
    def _check(self) -> ServeConfig:
        if self.engine == "command" and not self.args:
            raise ValueError("engine 'command' needs 'args': the server's command line, with {port}")
        if self.engine in ("vllm", "sglang") and not self.model:
            raise ValueError(f"engine '{self.engine}' needs 'model' (the weights it serves)")
        unknown = sorted(set(self.resources) - {"num_cpus", "num_gpus"})
        if unknown:
            raise ValueError(f"unknown resources {unknown}: use num_cpus, num_gpus")
        return self


class ModelConfig(_Strict):
    """One model alias. The API key is read from the environment variable `api_key_env` at run time;
    it never appears in a config, an artifact or a log."""

    alias: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")]
    #: A provider name: `openai` (any OpenAI-compatible server), `anthropic`, `local`, or a plugin's.
    provider: Annotated[
        str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$", examples=list(_BUILTIN_PROVIDERS))
    ] = "openai"
    base_url: str | None = None
    #: Several servers of the same model behind this alias, instead of one `base_url`. Each has its
    #: own adaptive limiter and health; they are not part of the run's fingerprint, so replicas can be
    #: added or removed when a run is resumed.
    endpoints: Annotated[list[EndpointConfig], Field(min_length=1)] | None = None
    model: str | None = None
    api_key_env: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    inference: InferenceParams = Field(default_factory=InferenceParams)
    max_parallel_requests: Annotated[int, Field(gt=0, le=10_000)] = 16
    timeout: Annotated[float, Field(gt=0)] = 120.0
    max_retries: Annotated[int, Field(ge=0)] = 5
    pricing: Pricing | None = None
    structured_output: StructuredOutputParams = Field(default_factory=StructuredOutputParams)
    #: Servers synthloom starts for this model (instead of `base_url` / `endpoints`).
    serve: ServeConfig | None = None
    #: `provider: local` only: a GGUF file to serve instead of the bundled SmolLM2-135M-Instruct.
    model_path: str | None = None
    #: `provider: local` only: context size and CPU threads for llama.cpp.
    n_ctx: Annotated[int, Field(gt=0)] = 4096
    n_threads: Annotated[int, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _check_provider_fields(self) -> ModelConfig:
        if self.endpoints is not None:
            if self.base_url:
                raise ValueError("give either 'base_url' (one server) or 'endpoints' (several), not both")
            if self.provider == "local":
                raise ValueError("'endpoints' is for remote servers, not provider 'local'")
            urls = [endpoint.url.rstrip("/") for endpoint in self.endpoints]
            dupes = sorted({url for url in urls if urls.count(url) > 1})
            if dupes:
                raise ValueError(f"'endpoints' lists {', '.join(dupes)} more than once")
        if self.serve is not None:
            if self.base_url or self.endpoints:
                raise ValueError(
                    "give 'serve' (servers synthloom starts) or 'base_url'/'endpoints', not both"
                )
            if self.provider != "openai":
                raise ValueError("'serve' starts OpenAI-compatible servers: use provider 'openai'")
            return self
        # Built-in providers only; a plugin provider checks its own fields (`Provider.check_config`).
        if self.provider == "openai" and not (self.base_url or self.endpoints):
            raise ValueError(
                "provider 'openai' needs 'base_url' (e.g. http://127.0.0.1:8000/v1) or 'endpoints'"
            )
        if self.provider in ("openai", "anthropic") and not self.model:
            raise ValueError(f"provider '{self.provider}' needs 'model' (the model id the server serves)")
        if self.provider in ("openai", "anthropic") and self.model_path:
            raise ValueError("'model_path' is only for provider 'local'")
        return self

    def replicas(self) -> list[ModelConfig]:
        """One config per server: this one when it has a `base_url`; with `endpoints`, a copy per
        endpoint with its URL, key and ceiling in place of the model's."""
        if not self.endpoints:
            return [self]
        return [
            self.model_copy(
                update={
                    "base_url": endpoint.url,
                    "endpoints": None,
                    "api_key_env": endpoint.api_key_env or self.api_key_env,
                    "max_parallel_requests": endpoint.max_parallel_requests or self.max_parallel_requests,
                }
            )
            for endpoint in self.endpoints
        ]

    def api_key(self) -> str | None:
        """The key from the environment, or None when no `api_key_env` is set or it is empty."""
        if not self.api_key_env:
            return None
        return os.environ.get(self.api_key_env) or None
