"""Numbers from a model per row: token counts, perplexity and a reward model's score.

- `token-count`: a messages list goes through the model's chat template, then its tokenizer. For a
  `provider: local` model that is llama.cpp's `/apply-template` and `/tokenize`; for an OpenAI-compatible
  server vLLM's `/tokenize` (which applies the template itself). With `tokenizer:` a `tokenizer.json`
  file counts the text in process (the `tokenizers` package), no model needed.
- `perplexity`: llama.cpp returns no log-probabilities for a prompt, so the text's own tokens are
  made the only continuation the server may generate (a grammar of token ids) and the log-probability
  of each, taken before sampling, is read back (`n_probs`). An OpenAI-compatible server is asked for
  its prompt log-probabilities instead (`/completions` with `echo`, as vLLM answers).
- `reward`: the conversation is posted to a reward model's route and the score read from the reply.

Each is a cell generator: its requests go through the alias's limiter and are accounted under the
column. Empty or non-text input gives null; thresholds (`filter`) turn the number into a gate. A text the
server cannot take (llama.cpp's 500 "empty grammar stack" on some garbled or non-Latin texts, a chat
template that cannot render a conversation) gives null with the reason in `<name>__unscored`: a tag,
not a failed row, so it never counts toward early shutdown.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthloom.columns.quality.config import PerplexityColumn, RewardColumn, TagBounds, TokenCountColumn
from synthloom.columns.quality.tag_bounds import outside
from synthloom.columns.quality.text_values import as_conversation, as_text, path_value, turn_text
from synthloom.engine.generator import CellFiltered, CellGenerator, CellOutput
from synthloom.errors import ConfigError, ModelError, ModelHTTPError, RequestRejectedError, ServerError

if TYPE_CHECKING:
    from synthloom.engine.contexts import CellContext, GeneratorSetup

__all__ = ["PerplexityGenerator", "RewardGenerator", "TokenCountGenerator", "read_score", "unscorable"]


def _value(row: Mapping[str, Any], path: str) -> Any:
    column, _, rest = path.partition(".")
    value = row.get(column)
    return path_value(value, rest.split(".")) if rest else value


def _provider(setup: GeneratorSetup, alias: str) -> str:
    for model in setup.config.models:
        if model.alias == alias:
            return str(model.provider)
    return "openai"


#: What a server says when it cannot take a text (rather than when it is down): llama.cpp's grammar,
#: template and tokenizer errors, vLLM's validation errors.
_CONTENT_PROBLEMS = ("grammar", "template", "tokeniz", "utf-8", "utf8", "unicode", "parse", "invalid")


def unscorable(exc: ModelHTTPError) -> str | None:
    """The reason a text cannot be scored, when `exc` says the text is the trouble; None when the
    server failed for another reason (then the cell is retried and may fail as usual)."""
    if not isinstance(exc, RequestRejectedError | ServerError):
        return None
    text = f"{exc.body} {exc}".lower()
    if exc.status_code in (401, 403, 404) or not any(word in text for word in _CONTENT_PROBLEMS):
        return None
    return f"HTTP {exc.status_code}: {(exc.body or str(exc))[:200]}"


def _gated(name: str, value: Any, bounds: TagBounds | None) -> CellOutput | CellFiltered:
    if bounds is not None:
        reason = outside(name, None, value, bounds)
        if reason is not None:
            return CellFiltered(reason)
    return CellOutput(value)


class TokenCountGenerator(CellGenerator[TokenCountColumn]):
    def __init__(self, config: TokenCountColumn, setup: GeneratorSetup) -> None:
        super().__init__(config, setup)
        self._tokenizer: Any = None
        if config.tokenizer is not None:
            self._tokenizer = _load_tokenizer(config.tokenizer, setup)
        self._local = config.model is not None and _provider(setup, config.model) == "local"

    async def generate(self, row: Mapping[str, Any], ctx: CellContext) -> CellOutput | CellFiltered:
        value = _value(row, self.config.source)
        conversation = as_conversation(value)
        text = as_text(value)
        if text is None:
            return CellOutput(None)
        if self._tokenizer is not None:
            count = len(self._tokenizer.encode(text, add_special_tokens=False).ids)
        else:
            try:
                count = await self._server_count(ctx, text, conversation)
            except ModelHTTPError as exc:
                reason = unscorable(exc)
                if reason is None:
                    raise
                return CellOutput(None, {f"{self.config.name}__unscored": reason})
        return _gated(self.config.name, count, self.config.filter)

    async def _server_count(
        self, ctx: CellContext, text: str, conversation: list[dict[str, Any]] | None
    ) -> int:
        alias = self.config.model
        assert alias is not None
        templated = conversation is not None and self.config.chat_template
        if self._local:
            if templated:
                messages = [{"role": m["role"], "content": turn_text(m)} for m in conversation or []]
                reply = await ctx.client(alias).post("/apply-template", {"messages": messages})
                text = str(reply.get("prompt", text))
            reply = await ctx.client(alias).post("/tokenize", {"content": text, "add_special": templated})
            return len(reply.get("tokens") or [])
        model = ctx.client(alias).model
        payload: dict[str, Any] = {"model": model}
        if templated:
            payload["messages"] = [{"role": m["role"], "content": turn_text(m)} for m in conversation or []]
        else:
            payload["prompt"] = text
        reply = await ctx.client(alias).post("/tokenize", payload)
        if "count" in reply:
            return int(reply["count"])
        return len(reply.get("tokens") or [])


def _load_tokenizer(path_text: str, setup: GeneratorSetup) -> Any:
    path = Path(path_text).expanduser()
    if not path.is_absolute() and setup.config.source_dir is not None:
        path = Path(setup.config.source_dir) / path
    if not path.is_file():
        raise ConfigError(f"tokenizer file not found: {path}", field="tokenizer")
    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise ConfigError(
            "'tokenizer' needs the tokenizers package: pip install tokenizers", field="tokenizer"
        ) from None
    try:
        return Tokenizer.from_file(str(path))
    except Exception as exc:
        raise ConfigError(f"{path} is not a tokenizer.json file: {exc}", field="tokenizer") from None


def gbnf_tokens(tokens: list[int]) -> str:
    """A llama.cpp grammar whose only sentence is `tokens`, by id (no re-tokenisation)."""
    return "root ::= " + " ".join(f"<[{t}]>" for t in tokens)


class PerplexityGenerator(CellGenerator[PerplexityColumn]):
    def __init__(self, config: PerplexityColumn, setup: GeneratorSetup) -> None:
        super().__init__(config, setup)
        self._local = _provider(setup, config.model) == "local"

    async def generate(self, row: Mapping[str, Any], ctx: CellContext) -> CellOutput | CellFiltered:
        text = as_text(_value(row, self.config.source))
        if not text or not text.strip():
            return CellOutput(None)
        try:
            scoring = self._local_logprobs(ctx, text) if self._local else self._echo_logprobs(ctx, text)
            logprobs = await scoring
        except ModelHTTPError as exc:
            reason = unscorable(exc)
            if reason is None:
                raise
            return CellOutput(None, {f"{self.config.name}__unscored": reason})
        if not logprobs:
            return CellOutput(None)
        value = round(math.exp(-sum(logprobs) / len(logprobs)), 4)
        return _gated(self.config.name, value, self.config.filter)

    async def _local_logprobs(self, ctx: CellContext, text: str) -> list[float]:
        alias = self.config.model
        reply = await ctx.client(alias).post("/tokenize", {"content": text, "add_special": False})
        tokens = [int(t) for t in reply.get("tokens") or []][: self.config.max_tokens]
        if len(tokens) < 2:
            return []
        # The first token is the context; each later one is forced and its probability read.
        payload = {
            "prompt": tokens[:1],
            "n_predict": len(tokens) - 1,
            "grammar": gbnf_tokens(tokens[1:]),
            "n_probs": 1,
            "post_sampling_probs": False,
            "temperature": 0,
            "cache_prompt": False,
        }
        reply = await ctx.client(alias).post("/completion", payload, input_tokens=len(tokens))
        probs = reply.get("completion_probabilities") or []
        return [float(p["logprob"]) for p in probs if isinstance(p, dict) and "logprob" in p]

    async def _echo_logprobs(self, ctx: CellContext, text: str) -> list[float]:
        client = ctx.client(self.config.model)
        payload = {
            "model": client.model,
            "prompt": text,
            "max_tokens": 1,
            "echo": True,
            "logprobs": 0,
            "temperature": 0,
        }
        reply = await ctx.client(self.config.model).post("/completions", payload, under_base_url=True)
        try:
            choice = reply["choices"][0]
            values = (choice.get("logprobs") or {}).get("token_logprobs") or []
            if not values and isinstance(choice.get("prompt_logprobs"), list):
                values = [
                    next(iter(entry.values())).get("logprob") if isinstance(entry, dict) and entry else None
                    for entry in choice["prompt_logprobs"]
                ]
        except (KeyError, IndexError, TypeError, AttributeError):
            raise ModelError(
                f"model '{self.config.model}' returned no prompt log-probabilities (perplexity needs "
                "/completions with echo and logprobs, as vLLM serves it, or provider: local)"
            ) from None
        # The first token has no log-probability (nothing precedes it); the generated one is not the text's.
        usable = [float(v) for v in values[1 : self.config.max_tokens] if v is not None]
        return usable


def read_score(body: Any, path: str | None) -> float | None:
    """The reward in a reply: at `path` when given, else the first number in the usual places."""
    if path:
        value = path_value(body, path.split("."))
        return _number(value)
    candidates: list[Any] = []
    if isinstance(body, dict):
        for key in ("score", "reward", "rewards", "scores", "logits"):
            if key in body:
                candidates.append(body[key])
        data = body.get("data")
        if isinstance(data, list) and data:
            first = data[0]
            if isinstance(first, dict):
                candidates.extend(first.get(k) for k in ("score", "data", "probs", "embedding") if k in first)
            else:
                candidates.append(first)
    else:
        candidates.append(body)
    for candidate in candidates:
        number = _number(candidate)
        if number is not None:
            return number
    return None


def _number(value: Any) -> float | None:
    while isinstance(value, list) and value:
        value = value[-1] if all(not isinstance(v, list) for v in value) else value[0]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


class RewardGenerator(CellGenerator[RewardColumn]):
    async def generate(self, row: Mapping[str, Any], ctx: CellContext) -> CellOutput | CellFiltered:
        config = self.config
        if config.messages is not None:
            conversation = as_conversation(_value(row, config.messages))
            if conversation is None:
                return CellOutput(None)
            messages = [{"role": m["role"], "content": turn_text(m)} for m in conversation]
        else:
            response = as_text(_value(row, config.response or ""))
            if response is None:
                return CellOutput(None)
            messages = []
            if config.prompt is not None:
                messages.append({"role": "user", "content": as_text(_value(row, config.prompt)) or ""})
            messages.append({"role": "assistant", "content": response})
        client = ctx.client(config.model)
        body = await ctx.client(config.model).post(config.path, {"model": client.model, "messages": messages})
        score = read_score(body, config.score_path)
        if score is None:
            raise ModelError(
                f"model '{config.model}': no score in the reward reply"
                + (f" at '{config.score_path}'" if config.score_path else " (set 'score_path')")
            )
        return _gated(config.name, round(score, 6), config.filter)
