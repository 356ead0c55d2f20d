"""How a column reaches a model: provider, endpoint, inference parameters, limits, pricing.

`provider` is a name, not a closed list: providers live in the model layer (`synthloom.models`,
plugins through the `synthloom.providers` entry-point group), which this layer must not import.
`synthloom.models.check_models` resolves the name and lets the provider check the rest; the checks
below for the built-in names run here as well, so those mistakes are reported at load time with
the file and line.
"""

from __future__ import annotations

import os
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from synthloom.errors import ConfigError

__all__ = [
    "BatchConfig",
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


#: `${NAME}` in `base_url` and `headers`: replaced from the environment when requests are built.
_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

#: What an environment variable's name looks like (`OPENAI_API_KEY`).
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

#: Prefixes of API keys as providers issue them.
_KEY_PREFIXES = ("sk-", "sk_", "hf_", "gsk_", "xai-", "ghp_", "github_pat_", "AIza", "pplx-", "nvapi-")


def _env_name(value: str | None) -> str | None:
    """`api_key_env` must name a variable. A value that looks like the key itself is refused without
    repeating it (the message, the run's config.yaml and its metadata would otherwise hold it)."""
    if value is None:
        return value
    looks_like_key = (
        not _ENV_NAME.match(value)
        or value.startswith(_KEY_PREFIXES)
        or (len(value) >= 24 and any(c.islower() for c in value) and any(c.isdigit() for c in value))
    )
    if looks_like_key:
        raise ValueError(
            "this looks like an API key, not the name of an environment variable (the value is not "
            "shown): put the key in a variable (export OPENAI_API_KEY=...) and write its name here "
            "(api_key_env: OPENAI_API_KEY)"
        )
    return value


def _url_with_scheme(value: str | None) -> str | None:
    if value is None or value.startswith(("http://", "https://", "${")):
        return value
    if "://" in value:
        raise ValueError(f"'{value}' is not an http:// or https:// URL")
    raise ValueError(f"'{value}' has no scheme: write 'http://{value}' (or https://)")


EnvName = Annotated[str, AfterValidator(_env_name)]
HttpUrl = Annotated[str, AfterValidator(_url_with_scheme)]


def expand_env(text: str, *, model: str, field: str) -> str:
    """`text` with every `${NAME}` replaced by the variable's value. An unset variable is a
    `ConfigError` naming it (never its value)."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        found = os.environ.get(name)
        if found is None:
            raise ConfigError(
                f"environment variable '{name}' (written '${{{name}}}') is not set", model=model, field=field
            )
        return found

    return _ENV_REFERENCE.sub(value, text)


class _Strict(BaseModel):
    # A pasted key must not come back in an error message: inputs are left out of them.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class Distribution(_Strict):
    """A parameter drawn per request: `{distribution: uniform, low: 0.5, high: 1.0}`."""

    #: How the value is drawn per request: `uniform` (low, high), `gaussian` (mean, stddev) or `choice`
    #: (values).
    distribution: Literal["uniform", "gaussian", "choice"]
    #: Lower bound of a uniform draw.
    low: float | None = None
    #: Upper bound of a uniform draw.
    high: float | None = None
    #: Mean of a gaussian draw.
    mean: float | None = None
    #: Standard deviation of a gaussian draw.
    stddev: float | None = None
    #: The values a `choice` draw picks from.
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

    #: Sampling temperature (a number, or a distribution drawn per request).
    temperature: FloatOrDistribution | None = None
    #: Nucleus sampling mass (a number, or a distribution drawn per request).
    top_p: FloatOrDistribution | None = None
    #: The most tokens a reply may have; a reply cut there is reported as cut by max_tokens.
    max_tokens: Annotated[int, Field(gt=0)] | None = None
    #: Sequences that end the reply.
    stop: list[str] | None = None
    #: The seed sent to the server (per request, for servers that honour it).
    seed: int | None = None
    #: Extra JSON merged into the request body last (provider-specific options).
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

    #: Price of a million input tokens.
    input_per_million: Annotated[float, Field(ge=0)] = 0.0
    #: Price of a million output tokens.
    output_per_million: Annotated[float, Field(ge=0)] = 0.0
    #: The share taken off these prices for a request sent through the provider's batch API
    #: (`batch:`): 0.5 is half price, as OpenAI and Anthropic bill batches.
    batch_discount: Annotated[float, Field(ge=0, le=1)] = 0.5


class StructuredOutputParams(_Strict):
    """How hard to try for a parseable reply before the cell fails."""

    #: `json_schema` (the server constrains the reply), `prompt` (the schema is in the prompt), or `auto`.
    mode: Literal["auto", "json_schema", "prompt"] = "auto"
    #: Turns that show the model its invalid reply and the error before a restart.
    correction_turns: Annotated[int, Field(ge=0)] = 2
    #: Fresh attempts after the correction turns ran out.
    restarts: Annotated[int, Field(ge=0)] = 1


class BatchConfig(_Strict):
    """How a model's requests go through its provider's batch API (`batch: true` takes these defaults).

    Requests are collected per model and submitted as one batch once `size` are waiting or the oldest
    has waited `max_wait` seconds; each batch is polled every `poll_interval` seconds until it ends.
    A request a batch did not answer (an error, an expired batch) goes into a later batch, at most
    `max_attempts` times in all; then its cell fails."""

    #: Requests per batch (OpenAI takes up to 50,000 per file, Anthropic 100,000 per batch).
    size: Annotated[int, Field(gt=0, le=50_000)] = 1000
    #: Seconds the oldest waiting request may wait before a smaller batch is submitted.
    max_wait: Annotated[float, Field(ge=0)] = 30.0
    #: Seconds between two status checks of a batch in progress.
    poll_interval: Annotated[float, Field(gt=0)] = 30.0
    #: Batches a request may be sent in before its cell fails.
    max_attempts: Annotated[int, Field(ge=1, le=20)] = 3
    #: How long the provider may take (OpenAI's `completion_window`; Anthropic batches end within 24 h).
    completion_window: Literal["24h"] = "24h"


def _batch_choice(value: Any) -> Any:
    """`batch: true` is the default batch settings, `batch: false` none."""
    if value is True:
        return BatchConfig()
    if value is False:
        return None
    return value


class EndpointConfig(_Strict):
    """One server (replica) of a model served by several: requests go to the least-loaded healthy one.

    `api_key_env` and `max_parallel_requests` default to the model's own."""

    #: The server's base URL (`http://10.0.0.2:8000/v1`).
    url: Annotated[HttpUrl, Field(min_length=1)]
    #: The name of the environment variable holding this server's API key (default: the model's).
    api_key_env: EnvName | None = None
    #: The most requests in flight to this server (default: the model's).
    max_parallel_requests: Annotated[int, Field(gt=0, le=10_000)] | None = None


class ServeConfig(_Strict):
    """How synthloom starts a model's servers itself (instead of `base_url`): `replicas` processes of
    `engine` on free loopback ports, health-checked, restarted when one dies, stopped with the run.

    `engine`: `llama.cpp` (a GGUF file `model`, the bundled SmolLM2 when omitted, through the same
    package as `provider: local`), `vllm` or `sglang` (their own `serve` command lines), or `command`
    (any OpenAI-compatible server: `args` is its command line, `{port}`, `{host}` and `{model}` filled
    in). `args` are appended to the engine's command line. `resources` (`num_cpus`, `num_gpus`) are
    what each replica needs: checked against the machine, and given to each replica its own GPUs."""

    #: The server program: `llama.cpp` (built in), `vllm`, `sglang`, or `command` (any server).
    engine: Literal["llama.cpp", "vllm", "sglang", "command"]
    #: What the server serves: a GGUF file for llama.cpp (default: the bundled model), weights for vLLM.
    model: str | None = None
    #: How many servers to start; requests are spread over them.
    replicas: Annotated[int, Field(ge=1, le=64)] = 1
    #: Arguments appended to the engine's command line (`command`: the whole line, with `{port}`).
    args: list[str] = Field(default_factory=list)
    #: What each replica needs (`num_cpus`, `num_gpus`), checked against the machine.
    resources: dict[str, Annotated[float, Field(ge=0)]] = Field(default_factory=dict)
    #: The first replica's port (the others count up from it); None: free ports.
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    #: Path answering 200 once the server is ready.
    health: str = "/health"
    #: Seconds a replica may take to answer its health check before the run gives up.
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

    #: The name columns use for this model (`model: writer`).
    alias: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")]
    #: A provider name: `openai` (any OpenAI-compatible server), `anthropic`, `local`, or a plugin's.
    provider: Annotated[
        str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$", examples=list(_BUILTIN_PROVIDERS))
    ] = "openai"
    #: The server's URL (`http://127.0.0.1:8000/v1`); `${NAME}` is replaced from the environment.
    base_url: HttpUrl | None = None
    #: Several servers of the same model behind this alias, instead of one `base_url`. Each has its
    #: own adaptive limiter and health; they are not part of the run's fingerprint, so replicas can be
    #: added or removed when a run is resumed.
    endpoints: Annotated[list[EndpointConfig], Field(min_length=1)] | None = None
    #: The model id the server serves (sent in every request).
    model: str | None = None
    #: The name of the environment variable holding the API key (never the key itself).
    api_key_env: EnvName | None = None
    #: Extra request headers; `${NAME}` in a value is replaced from the environment when requests are
    #: built, so a token never sits in the config or the run's artifacts.
    headers: dict[str, str] = Field(default_factory=dict)
    #: Sampling parameters for every request to this model; a column's `inference` overrides them.
    inference: InferenceParams = Field(default_factory=InferenceParams)
    #: The most requests in flight; the adaptive limiter stays at or below it.
    max_parallel_requests: Annotated[int, Field(gt=0, le=10_000)] = 16
    #: Seconds a request may take before it counts as failed (and is retried).
    timeout: Annotated[float, Field(gt=0)] = 120.0
    #: Retries of a request after a timeout, a dropped connection or a 5xx.
    max_retries: Annotated[int, Field(ge=0)] = 5
    #: Prices per million tokens, for the cost in usage.json.
    pricing: Pricing | None = None
    #: Send chat requests through the provider's batch API (`true`, or `{size, max_wait, poll_interval,
    #: max_attempts}`): cheaper (`pricing.batch_discount`), answered within the provider's window.
    batch: Annotated[BatchConfig | None, BeforeValidator(_batch_choice)] = None

    #: How hard to try for a reply that parses and fits the schema.
    structured_output: StructuredOutputParams = Field(default_factory=StructuredOutputParams)
    #: Servers synthloom starts for this model (instead of `base_url` / `endpoints`).
    serve: ServeConfig | None = None
    #: `provider: local` only: a GGUF file to serve instead of the bundled SmolLM2-135M-Instruct.
    model_path: str | None = None
    #: `provider: local` only: context size and CPU threads for llama.cpp.
    n_ctx: Annotated[int, Field(gt=0)] = 4096
    #: `provider: local` only: CPU threads for llama.cpp (default: all cores).
    n_threads: Annotated[int, Field(gt=0)] | None = None

    @field_validator("batch")
    @classmethod
    def _batch_needs_a_batch_api(cls, value: BatchConfig | None, info: ValidationInfo) -> BatchConfig | None:
        if value is not None and info.data.get("provider") == "local":
            raise ValueError(
                "'batch' needs a provider with a batch API (openai, anthropic); 'local' has none"
            )
        return value

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
        if self.batch is not None:
            if self.serve is not None:
                raise ValueError(
                    "'batch' needs a provider with a batch API (openai, anthropic); a served model has none"
                )
            if self.endpoints:
                raise ValueError("'batch' sends to one server: give 'base_url', not 'endpoints'")
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

    def resolved_base_url(self) -> str | None:
        """`base_url` with `${NAME}` replaced from the environment (never stored anywhere)."""
        if self.base_url is None:
            return None
        return expand_env(self.base_url, model=self.alias, field="base_url")

    def resolved_headers(self) -> dict[str, str]:
        """`headers` with `${NAME}` replaced from the environment (never stored anywhere)."""
        return {
            key: expand_env(value, model=self.alias, field=f"headers.{key}")
            for key, value in self.headers.items()
        }

    def api_key(self) -> str | None:
        """The key from the environment, or None when no `api_key_env` is set or it is empty."""
        if not self.api_key_env:
            return None
        return os.environ.get(self.api_key_env) or None
