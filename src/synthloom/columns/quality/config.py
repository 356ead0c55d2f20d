"""Quality and curation columns: heuristic tags, model scores, the rubric preset and dedup.

    - name: tags                    # cheap heuristics, in bulk per row group
      type: quality-tags
      source: answer                # a column (or `column.field`): text or an OpenAI messages list
      filter: {language: {in: [en]}, loop_score: {max: 0.3}, words: {min: 5}}
    - name: tokens
      type: token-count             # through llama.cpp's /tokenize (a `provider: local` model) or a file
      source: answer
      model: writer
      filter: {max: 2048}
    - name: ppl
      type: perplexity              # from the embedded model (or an endpoint with prompt logprobs)
      source: answer
      model: writer
    - name: grade
      type: quality-rubric          # category, then five 1-5 dimensions with explanations
      model: judge
      instruction: question
      response: answer
    - name: unique
      type: dedup                   # across the whole run, resume-safe
      source: [question, answer]
      method: minhash               # exact | minhash | embedding
      threshold: 0.8

A `filter` turns a tag into a gate: a row outside the bounds is *filtered* (filtered.jsonl, with the
tag, its value and the bound), never failed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from synthloom.config.base import ColumnConfig, StrictModel
from synthloom.config.model_config import InferenceParams

__all__ = [
    "DEDUP_METHODS",
    "HEURISTIC_TAG_GROUPS",
    "RECOMMENDED_GATES",
    "RUBRIC_CATEGORIES",
    "RUBRIC_DIMENSIONS",
    "DedupColumn",
    "PerplexityColumn",
    "QualityRubricColumn",
    "QualityTagsColumn",
    "RewardColumn",
    "TagBounds",
    "TokenCountColumn",
    "source_column",
]

#: The tag groups of `quality-tags`, and the keys each one writes into the column's value.
HEURISTIC_TAG_GROUPS: dict[str, tuple[str, ...]] = {
    "language": ("language", "language_confidence"),
    "length": ("chars", "words", "lines", "truncated"),
    "lexical": ("ttr", "mtld"),
    "repetition": (
        "repeated_ngram_ratio",
        "loop_score",
        "loop_repeats",
        "compression_ratio",
        "repeated_sentence_ratio",
        "max_sentence_repeats",
    ),
    "characteristics": ("has_code", "has_math", "has_citation", "has_table", "has_list", "category"),
    "conversation": ("turns", "avg_turn_length", "role_shares"),
    "boilerplate": ("boilerplate",),
    "encoding": ("encoding", "encoding_repairable", "repaired"),
    "markup": ("markup",),
}

#: The recommended gates (`gates: recommended`), per tag key: each removes what is almost never wanted
#: in generated data, and all of them together filter well under 1 % of clean real text (measured in
#: benchmarks/bench_quality_defects.py). A gate applies when its tag's group is computed; a `filter`
#: entry for the same key replaces it.
RECOMMENDED_GATES: dict[str, dict[str, Any]] = {
    "boilerplate": {
        "not_in": ["refusal", "refusal_then_content", "self_reference", "preamble", "disclaimer"]
    },
    "encoding": {"not_in": ["mojibake", "replacement_char", "binary", "control_chars", "invalid_utf8"]},
    "markup": {"not_in": ["special_tokens", "html", "xml", "fenced_prose"]},
    "loop_repeats": {"max": 3},
    "max_sentence_repeats": {"max": 2},
    "repeated_sentence_ratio": {"max": 0.45},
    "truncated": {"in": [False]},
}

#: The categories the rubric classifies into (rules first, a model for what the rules leave open).
RUBRIC_CATEGORIES: tuple[str, ...] = (
    "coding",
    "math",
    "reasoning",
    "open_qa",
    "closed_qa",
    "creative_writing",
    "summarization",
    "extraction",
    "classification",
    "rewriting",
    "brainstorming",
    "chat",
)

#: The five rubric dimensions, scored 1-5 with an explanation each.
RUBRIC_DIMENSIONS: tuple[str, ...] = (
    "instruction_following",
    "contextual_alignment",
    "accuracy",
    "completeness",
    "linguistic_clarity",
)

DEDUP_METHODS = ("exact", "minhash", "embedding")

TagGroup = Literal[
    "language",
    "length",
    "lexical",
    "repetition",
    "characteristics",
    "conversation",
    "boilerplate",
    "encoding",
    "markup",
]


def source_column(path: str) -> str:
    """The column a source path reads: `answer.text` reads `answer`."""
    return path.split(".", 1)[0]


def _check_path(value: str) -> str:
    parts = value.split(".")
    if not value or any(not p.isidentifier() for p in parts):
        raise ValueError(f"{value!r} is not a column name or a `column.field` path")
    return value


class TagBounds(StrictModel):
    """Bounds a tag must satisfy for its row to be kept: `min`/`max` for numbers, `in`/`not_in` for
    labels. A value of `unknown` (or null) fails `in` and passes the others."""

    #: The lowest number kept.
    min: float | None = None
    #: The highest number kept.
    max: float | None = None
    #: Labels kept.
    in_: list[Any] | None = Field(default=None, alias="in")
    #: Labels removed.
    not_in: list[Any] | None = None

    @model_validator(mode="after")
    def _something(self) -> TagBounds:
        if self.min is None and self.max is None and self.in_ is None and self.not_in is None:
            raise ValueError("give at least one of 'min', 'max', 'in', 'not_in'")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"'min' ({self.min}) is above 'max' ({self.max})")
        return self


class _SourceColumn(ColumnConfig):
    """A column that reads one source value (text, or an OpenAI messages list)."""

    #: The column (or `column.path`) whose text is measured.
    source: Annotated[str, Field(min_length=1)]

    @field_validator("source")
    @classmethod
    def _check_source(cls, value: str) -> str:
        return _check_path(value)

    def referenced_columns(self) -> dict[str, list[str]]:
        return {"source": [source_column(self.source)]}


class QualityTagsColumn(_SourceColumn):
    """Cheap heuristic tags of `source`, computed in bulk per row group off the event loop. The value
    is a mapping of tag keys (see `HEURISTIC_TAG_GROUPS`); templates read `{{ tags.language }}`."""

    example: ClassVar[Mapping[str, Any] | None] = {
        "name": "answer_tags",
        "type": "quality-tags",
        "source": "answer",
    }

    type: Literal["quality-tags"] = "quality-tags"
    #: The tag groups to compute (default: all of them).
    tags: Annotated[list[TagGroup], Field(min_length=1)] = [
        "language",
        "length",
        "lexical",
        "repetition",
        "characteristics",
        "conversation",
        "boilerplate",
        "encoding",
        "markup",
    ]
    #: `recommended` turns on `RECOMMENDED_GATES` for the groups computed (`filter` entries override).
    gates: Literal["none", "recommended"] = "none"
    #: Write the source column's text with its mojibake repaired (ftfy), before the row is written; the
    #: row's lineage records the repair. Needs the `encoding` group and a plain column as `source`.
    repair: bool = False
    #: Restrict language detection to these ISO 639-1 codes (faster, and more accurate on short texts).
    languages: list[Annotated[str, Field(pattern=r"^[a-z]{2,3}$")]] | None = None
    #: Below this confidence the language is `unknown`.
    min_language_confidence: Annotated[float, Field(ge=0, le=1)] = 0.5
    #: Word n-gram size for `repeated_ngram_ratio`.
    ngram: Annotated[int, Field(ge=1, le=10)] = 3
    #: Texts longer than this are tagged on their first `max_chars` characters (lengths stay exact).
    max_chars: Annotated[int, Field(ge=100)] = 100_000
    #: Tag key -> bounds: a row outside them is filtered with the tag, its value and the bound.
    filter: dict[str, TagBounds] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _filters_name_tags(self) -> QualityTagsColumn:
        known = {key for group in self.tags for key in HEURISTIC_TAG_GROUPS[group]}
        for key in self.filter:
            if key not in known:
                raise ValueError(
                    f"filter on unknown tag {key!r}: this column computes {', '.join(sorted(known))}"
                )
        if self.repair and "encoding" not in self.tags:
            raise ValueError("'repair' needs the 'encoding' tag group in 'tags'")
        if self.repair and "." in self.source:
            raise ValueError("'repair' rewrites a whole column: 'source' must be a column, not a path")
        return self

    def gates_in_force(self) -> dict[str, TagBounds]:
        """The bounds applied: the recommended gates of the computed groups (with `gates:
        recommended`), then the `filter` entries."""
        out: dict[str, TagBounds] = {}
        if self.gates == "recommended":
            known = {key for group in self.tags for key in HEURISTIC_TAG_GROUPS[group]}
            out = {key: TagBounds.model_validate(b) for key, b in RECOMMENDED_GATES.items() if key in known}
        out.update(self.filter)
        return out


class _ModelScoreColumn(_SourceColumn):
    """A number per row from a model endpoint, with optional bounds."""

    #: The model alias that scores the text.
    model: str
    #: Bounds on the value: a row outside them is filtered (a null value is never filtered).
    filter: TagBounds | None = None

    def model_aliases(self) -> dict[str, str]:
        return {"model": self.model}


class TokenCountColumn(ColumnConfig):
    """How many tokens `source` is, through a chat template when it is a messages list: counted by the
    model's server (llama.cpp's `/apply-template` + `/tokenize` for `provider: local`, vLLM's
    `/tokenize` for an OpenAI-compatible server) or by a `tokenizer.json` file (`tokenizer`, needs the
    `tokenizers` package)."""

    example: ClassVar[Mapping[str, Any] | None] = {
        "name": "answer_tokens",
        "type": "token-count",
        "source": "answer",
        "model": "writer",
        "filter": {"max": 2048},
    }

    type: Literal["token-count"] = "token-count"
    #: The column (or `column.path`) whose tokens are counted.
    source: Annotated[str, Field(min_length=1)]
    #: A model alias whose server counts the tokens (or give `tokenizer`).
    model: str | None = None
    #: A tokenizer.json file that counts the tokens (or give `model`).
    tokenizer: str | None = None
    #: Count a messages list through the model's chat template (server counting only).
    chat_template: bool = True
    #: Bounds (`min`, `max`): rows outside them are filtered.
    filter: TagBounds | None = None

    @field_validator("source")
    @classmethod
    def _check_source(cls, value: str) -> str:
        return _check_path(value)

    @model_validator(mode="after")
    def _one_counter(self) -> TokenCountColumn:
        if (self.model is None) == (self.tokenizer is None):
            raise ValueError(
                "give exactly one of 'model' (a model alias) or 'tokenizer' (a tokenizer.json path)"
            )
        return self

    def referenced_columns(self) -> dict[str, list[str]]:
        return {"source": [source_column(self.source)]}

    def model_aliases(self) -> dict[str, str]:
        return {"model": self.model} if self.model else {}

    def side_columns(self) -> list[str]:
        # Why a value has no count (a chat template that cannot render it): a tag, not a failed row.
        return [f"{self.name}__unscored"]


class PerplexityColumn(_ModelScoreColumn):
    """The perplexity of `source` under `model`: llama.cpp scores the text's own tokens (a
    `provider: local` model), an OpenAI-compatible server its prompt log-probabilities (`/completions`
    with `echo`, as vLLM serves them). Empty text gives null."""

    example: ClassVar[Mapping[str, Any] | None] = {
        "name": "answer_perplexity",
        "type": "perplexity",
        "source": "answer",
        "model": "scorer",
    }

    type: Literal["perplexity"] = "perplexity"
    #: Only the first `max_tokens` tokens are scored.
    max_tokens: Annotated[int, Field(ge=2, le=8192)] = 512

    def side_columns(self) -> list[str]:
        # Why a text has no score (the server could not score it): a tag, never a failed row.
        return [f"{self.name}__unscored"]


class RewardColumn(ColumnConfig):
    """A reward model's score of a response: `POST <server>/<path>` with the conversation (`messages`,
    or the `prompt` and `response` columns as a user and an assistant turn); the number is read from
    the reply at `score_path` (default: the usual places of vLLM's `/pooling`, `/classify`, `/score`
    and of plain `{"score": x}` / `{"reward": x}` servers)."""

    example: ClassVar[Mapping[str, Any] | None] = {
        "name": "answer_reward",
        "type": "reward",
        "model": "reward_model",
        "prompt": "question",
        "response": "answer",
    }

    type: Literal["reward"] = "reward"
    #: The model alias of the reward server.
    model: str
    #: The column holding the prompt (with `response`).
    prompt: str | None = None
    #: The column holding the response that is scored.
    response: str | None = None
    #: The column holding a whole conversation (instead of `prompt` and `response`).
    messages: str | None = None
    #: The path on the model's server, relative to its root (the base URL without `/v1`).
    path: str = "/pooling"
    #: A dotted path into the reply (`data.0.score`); numbers index lists.
    score_path: str | None = None
    #: Bounds (`min`, `max`) on the score: rows outside them are filtered.
    filter: TagBounds | None = None

    @model_validator(mode="after")
    def _inputs(self) -> RewardColumn:
        if self.messages is None and self.response is None:
            raise ValueError("give 'messages' (a messages-list column) or 'response' (and 'prompt')")
        if self.messages is not None and (self.prompt or self.response):
            raise ValueError("give either 'messages' or 'prompt'/'response', not both")
        for name in ("prompt", "response", "messages"):
            value = getattr(self, name)
            if value is not None:
                _check_path(value)
        if not self.path.startswith("/"):
            raise ValueError(f"'path' must start with '/' (got {self.path!r})")
        return self

    def referenced_columns(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for name in ("prompt", "response", "messages"):
            value = getattr(self, name)
            if value is not None:
                out[name] = [source_column(value)]
        return out

    def model_aliases(self) -> dict[str, str]:
        return {"model": self.model}


class QualityRubricColumn(ColumnConfig):
    """The LLM rubric preset: a category (rules first, the model for what they leave open), then five
    1-5 dimensions (`RUBRIC_DIMENSIONS`) with an explanation each, judged with a category-specific
    prompt and calibration examples. The value is `{category, category_source, <dimension>: {score,
    explanation}, ..., overall}`."""

    template_field_names: ClassVar[tuple[str, ...]] = ("when",)

    example: ClassVar[Mapping[str, Any] | None] = {
        "name": "answer_rubric",
        "type": "quality-rubric",
        "model": "judge",
        "instruction": "question",
        "response": "answer",
    }

    type: Literal["quality-rubric"] = "quality-rubric"
    #: The model alias of the rubric's judge.
    model: str
    #: The instruction (a user turn), the response judged, and optional context (a column or path each).
    instruction: str
    #: The column holding the text that is rated.
    response: str
    #: The column holding what the response answers (a prompt, a question).
    context: str | None = None
    #: A column (or path) holding a category already known (`tags.category`); rules and the model
    #: are then skipped for rows where it names one of `categories`.
    category: str | None = None
    #: The rubric's categories to choose from.
    categories: list[str] = Field(default_factory=lambda: list(RUBRIC_CATEGORIES), min_length=2)
    #: Ask the model when the rules find no category (otherwise: `open_qa`).
    classify_with_model: bool = True
    #: Inference parameters for the judge.
    inference: InferenceParams | None = None
    #: Bounds on `overall` (the mean of the five scores): a row outside them is filtered.
    filter: TagBounds | None = None

    @model_validator(mode="after")
    def _paths(self) -> QualityRubricColumn:
        for name in ("instruction", "response", "context", "category"):
            value = getattr(self, name)
            if value is not None:
                _check_path(value)
        return self

    def referenced_columns(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for name in ("instruction", "response", "context", "category"):
            value = getattr(self, name)
            if value is not None:
                out[name] = [source_column(value)]
        return out

    def model_aliases(self) -> dict[str, str]:
        return {"model": self.model}


class DedupColumn(ColumnConfig):
    """Removes duplicates across the whole run: each row is checked against every row kept before it
    in record order, and a duplicate is filtered with the record it duplicates. `exact` compares a
    normalised hash, `minhash` estimates word n-gram Jaccard similarity (LSH), `embedding` the cosine
    similarity of an `embedding` column's vectors. The index is written with each committed row group,
    so a resumed run dedups against everything committed. The column's own value (true) is dropped
    from the output unless `drop: false`."""

    example: ClassVar[Mapping[str, Any] | None] = {
        "name": "unique_question",
        "type": "dedup",
        "source": "question",
        "method": "minhash",
    }

    type: Literal["dedup"] = "dedup"
    #: Text columns (or paths) compared, joined in order (exact and minhash).
    source: list[str] | str | None = None
    #: exact (normalised hash), minhash (n-gram Jaccard) or embedding (cosine).
    method: Literal["exact", "minhash", "embedding"] = "exact"
    #: Jaccard similarity (minhash: of word `ngram`-grams) or cosine similarity (embedding) at or above
    #: which a row is a duplicate. Defaults: 0.7 for minhash (with `ngram: 5` and 256 permutations it
    #: finds 95 % or more of the pairs at Jaccard 0.7 and above), 0.95 for embedding.
    threshold: Annotated[float, Field(gt=0, le=1)] | None = None
    #: The `embedding` column whose vectors are compared (method embedding).
    embedding: str | None = None
    #: MinHash: permutations, and the word n-gram size of the shingles.
    num_perm: Annotated[int, Field(ge=16, le=512)] = 256
    #: minhash: the word n-gram size.
    ngram: Annotated[int, Field(ge=1, le=10)] = 5
    #: Exact: compare case, punctuation and spacing too (default: normalised away).
    case_sensitive: bool = False
    #: Leave the column's own value (true) out of the records.
    drop: bool = True

    @model_validator(mode="after")
    def _method_fields(self) -> DedupColumn:
        sources = self.sources()
        if self.method == "embedding":
            if self.embedding is None:
                raise ValueError("method 'embedding' needs 'embedding': the embedding column to compare")
            if sources:
                raise ValueError("method 'embedding' compares the 'embedding' column; remove 'source'")
        else:
            if not sources:
                raise ValueError(f"method '{self.method}' needs 'source': the text column(s) to compare")
            if self.embedding is not None:
                raise ValueError("'embedding' is only for method 'embedding'")
        for path in sources:
            _check_path(path)
        if self.embedding is not None:
            _check_path(self.embedding)
        if self.method == "exact" and self.threshold is not None:
            raise ValueError("'threshold' is for methods 'minhash' and 'embedding' (exact needs none)")
        for name in ("num_perm", "ngram"):
            if self.method != "minhash" and name in self.model_fields_set:
                raise ValueError(f"'{name}' is only for method 'minhash'")
        return self

    def sources(self) -> list[str]:
        if self.source is None:
            return []
        return [self.source] if isinstance(self.source, str) else list(self.source)

    @property
    def similarity(self) -> float:
        """The threshold in force."""
        if self.threshold is not None:
            return self.threshold
        return 0.95 if self.method == "embedding" else 0.7 if self.method == "minhash" else 1.0

    def referenced_columns(self) -> dict[str, list[str]]:
        if self.embedding is not None:
            return {"embedding": [source_column(self.embedding)]}
        return {"source": [source_column(p) for p in self.sources()]}
