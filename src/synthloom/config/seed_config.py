"""The `seed:` block: where seed records come from, how they are reshaped, and how they are sampled.

One source per seed (exactly one of these keys):

    path: data/papers.jsonl          files: .jsonl .json .csv .parquet (compressed too), globs,
                                     a `save_to_disk` folder
    hf: owner/name                   a Hugging Face dataset (Hub id, or a local folder in Hub layout),
                                     with `config`, `split`, `revision`, `streaming`
    documents: "docs/**/*.md"        text, markdown, HTML and PDF files, one record per file or `chunk`
    run: out/stage1                  a previous synthloom run (its committed row groups), with `where`
    sources: [{...}, {...}]          several seeds, put together by `combine`
    stage: questions                 in a pipeline file: an earlier stage's records (with `where`)
    reader: markdown-sections        a seed-reader plugin (entry point `synthloom.seed_readers`), with
                                     `files` (what it reads) and `options` (its own)

Then, in order: `columns` (keep only these fields), `transforms` (a list of steps, see
`SeedTransform`), and `sampling` (which seed record each generated record gets).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from synthloom.config.base import StrictModel

__all__ = ["ChunkConfig", "SeedConfig", "SeedTransform", "SkipSpec", "SortSpec", "WindowSpec"]

Sampling = Literal["ordered", "shuffle", "with_replacement"]
#: How several sources become one record:
#: `join` (inner join on `key`), `left_join` (every record of the first source, matched or not),
#: `zip` (record i of each source, as many as the shortest), `cross` (every combination),
#: `sample` (each source sampled on its own for every generated record, by its own `sampling`).
Combine = Literal["join", "left_join", "zip", "cross", "sample"]

_SOURCE_KEYS = ("path", "hf", "documents", "run", "sources", "reader", "stage")
#: Options that only make sense for one kind of source.
_OPTION_OWNER: dict[str, str | tuple[str, ...]] = {
    "format": "path",
    "config": "hf",
    "split": "hf",
    "revision": "hf",
    "streaming": "hf",
    "shuffle_buffer": "hf",
    "chunk": "documents",
    "where": ("run", "stage"),
    "combine": "sources",
    "key": "sources",
    "files": "reader",
    "options": "reader",
}


class ChunkConfig(StrictModel):
    """Split each document into chunks of at most `size` units, the next starting `overlap` units
    before the previous one ends. Cuts prefer headings, then paragraphs, lines, sentences, words."""

    #: The most units per chunk.
    size: Annotated[int, Field(gt=0)] = 2000
    #: How many units a chunk repeats from the end of the previous one.
    overlap: Annotated[int, Field(ge=0)] = 0
    #: `chars`, or `tokens`: words and punctuation marks, counted offline by a regular expression
    #: (`\\w+|[^\\w\\s]`); close to, not equal to, a model tokenizer's count.
    unit: Literal["chars", "tokens"] = "chars"

    @model_validator(mode="after")
    def _overlap_below_size(self) -> ChunkConfig:
        if self.overlap >= self.size:
            raise ValueError(f"chunk overlap ({self.overlap}) must be smaller than the size ({self.size})")
        return self


class SkipSpec(StrictModel):
    """Leave out the first and/or last records."""

    #: Records left out at the start.
    first: Annotated[int, Field(ge=0)] = 0
    #: Records left out at the end.
    last: Annotated[int, Field(ge=0)] = 0


class WindowSpec(StrictModel):
    """Combine consecutive records: windows of `size` records, a new one every `step` records
    (`step` = `size`: side by side; smaller: overlapping; larger: gaps)."""

    #: Records per window.
    size: Annotated[int, Field(gt=1)]
    #: Records between window starts (default: `size`).
    step: Annotated[int, Field(gt=0)] | None = None
    #: How a field's values become one: a separator for every field (`"\\n\\n"`), or per field
    #: (`{text: "\\n"}`). A field with no separator becomes the list of its values.
    join: str | dict[str, str] | None = None
    #: Keep the last windows when fewer than `size` records are left for them.
    partial: bool = False


class SortSpec(StrictModel):
    """Order the records by one or more fields (nulls last). Reads every record first: a sort holds
    the whole source in memory."""

    #: The field, or fields, to order by.
    by: str | Annotated[list[str], Field(min_length=1)]
    #: Largest first.
    descending: bool = False

    @property
    def fields(self) -> list[str]:
        return [self.by] if isinstance(self.by, str) else list(self.by)


class SeedTransform(StrictModel):
    """One step of `seed.transforms`; exactly one key:

    - `rename: {old: new}`       rename fields (onto a field that exists is an error)
    - `select: [a, b]`           keep only these fields, in this order
    - `drop: [c]`                remove these fields
    - `filter: "{{ n > 3 }}"`    keep records whose condition renders true ('false', '0', 'none', ''
                                 and 'no' are false)
    - `skip: {first: 10, last: 2}`
    - `window: {size: 3, step: 1, join: {text: "\\n"}}`   combine consecutive records
    - `dedup: key` or `[a, b]`   keep the first record of each distinct key
    - `sort: field`, `[a, b]` or `{by: [a, b], descending: true}`   order the records (reads them all)
    - `limit: 100`               keep the first 100 records (reading stops there)
    """

    #: Rename fields: `{old: new}`.
    rename: dict[str, Annotated[str, Field(min_length=1)]] | None = None
    #: Keep only these fields, in this order.
    select: Annotated[list[str], Field(min_length=1)] | None = None
    #: Remove these fields.
    drop: Annotated[list[str], Field(min_length=1)] | None = None
    #: Keep the records for which this Jinja condition renders true.
    filter: Annotated[str, Field(min_length=1)] | None = None
    #: Leave out the first and/or last records.
    skip: SkipSpec | None = None
    #: Combine consecutive records into one.
    window: WindowSpec | None = None
    #: Keep the first record of each distinct value of these fields.
    dedup: str | Annotated[list[str], Field(min_length=1)] | None = None
    #: Order the records by one or more fields (the whole source is read first).
    sort: SortSpec | None = None
    #: Keep the first this many records (reading stops there).
    limit: Annotated[int, Field(gt=0)] | None = None

    @field_validator("sort", mode="before")
    @classmethod
    def _sort_shorthand(cls, value: object) -> object:
        return {"by": value} if isinstance(value, str | list) else value

    @property
    def kind(self) -> str:
        """The step's key: `rename`, `select`, ..."""
        return next(k for k in type(self).model_fields if getattr(self, k) is not None)

    @model_validator(mode="after")
    def _one_step(self) -> SeedTransform:
        given = [k for k in type(self).model_fields if getattr(self, k) is not None]
        if len(given) != 1:
            steps = ", ".join(type(self).model_fields)
            what = f"got {', '.join(given)}" if given else "got none"
            raise ValueError(f"each transform is exactly one of {steps}; {what}")
        return self


class SeedConfig(StrictModel):
    """Seed records whose fields every template can read. One seed record per generated record."""

    # -- the source: exactly one ----------------------------------------------------------------------
    #: A file or folder (glob) of seed records: jsonl, json, csv, parquet; relative to the config file.
    path: Annotated[str, Field(min_length=1)] | None = None
    #: A Hugging Face dataset id.
    hf: Annotated[str, Field(min_length=1)] | None = None
    #: Documents (a file, folder or glob): one seed record per file, or per chunk with `chunk`.
    documents: Annotated[str, Field(min_length=1)] | None = None
    #: A previous synthloom run directory: its committed records are the seed.
    run: Annotated[str, Field(min_length=1)] | None = None
    #: Several sources combined.
    sources: Annotated[list[SeedConfig], Field(min_length=2)] | None = None
    #: In a pipeline file: the records an earlier stage kept (the pipeline points it at that stage's run).
    stage: Annotated[str, Field(min_length=1)] | None = None
    #: A seed-reader plugin by name (`markdown-sections`, or one a package registers).
    reader: Annotated[str, Field(min_length=1)] | None = None

    # -- options of one kind of source ----------------------------------------------------------------
    #: `path`: force a format instead of guessing from the file name: jsonl, json, csv, parquet, hf.
    format: Literal["jsonl", "json", "csv", "parquet", "hf"] | None = None
    #: `path`, JSON Lines: leave out a line that is not UTF-8, not JSON or not an object (listed in
    #: seed_report.json) instead of stopping with an error naming it.
    skip_bad_lines: bool = False
    #: `hf`: the dataset's configuration (subset) name, split (default: `train`, or the only one),
    #: revision (branch, tag or commit), and whether to stream it instead of downloading it whole.
    config: str | None = None
    #: `hf`: the split to read.
    split: str | None = None
    #: `hf`: the revision (branch, tag or commit) to read.
    revision: str | None = None
    #: `hf`: stream the dataset instead of downloading it first.
    streaming: bool = False
    #: `hf` with `streaming` and `sampling: shuffle`: a stream can only be shuffled within a buffer.
    shuffle_buffer: Annotated[int, Field(gt=0)] | None = None
    #: `documents`: one record per chunk instead of one per file.
    chunk: ChunkConfig | None = None
    #: `run`: keep only the records for which this condition renders true.
    where: Annotated[str, Field(min_length=1)] | None = None
    #: `sources`: how they become one record, and the field(s) a join matches on.
    combine: Combine | None = None
    #: Fields that identify a seed record (for combining sources).
    key: str | Annotated[list[str], Field(min_length=1)] | None = None
    #: `reader`: the files it reads (a glob, relative to the config's folder), and its own options.
    files: Annotated[str, Field(min_length=1)] | None = None
    #: `reader`: the seed reader's own options.
    options: dict[str, Any] | None = None

    # -- for every source -------------------------------------------------------------------------------
    #: Keep only these fields (all by default); applied before `transforms`.
    columns: list[str] | None = None
    #: Steps applied to the seed records in order: rename, select, drop, filter, skip, window, dedup.
    transforms: list[SeedTransform] = Field(default_factory=list)
    #: How generated records map to seed records: in order, shuffled, or drawn with replacement.
    sampling: Sampling = "ordered"

    @property
    def kind(self) -> str:
        """Which source this is: `path`, `hf`, `documents`, `run` or `sources`."""
        return next(k for k in _SOURCE_KEYS if getattr(self, k) is not None)

    @model_validator(mode="after")
    def _one_source(self) -> SeedConfig:
        given = [k for k in _SOURCE_KEYS if getattr(self, k) is not None]
        if len(given) != 1:
            what = f"got {', '.join(given)}" if given else "got none"
            raise ValueError(f"a seed needs exactly one of {', '.join(_SOURCE_KEYS)}; {what}")
        kind = given[0]
        for option, owner in _OPTION_OWNER.items():
            owners = owner if isinstance(owner, tuple) else (owner,)
            if (
                kind not in owners
                and option in self.model_fields_set
                and getattr(self, option) not in (None, False)
            ):
                raise ValueError(f"'{option}' applies only to a '{owners[0]}' seed, not to a '{kind}' seed")
        if kind == "sources":
            self._check_sources()
        if self.shuffle_buffer is not None and not self.streaming:
            raise ValueError("'shuffle_buffer' applies only with 'streaming: true'")
        if self.streaming and self.sampling == "with_replacement":
            raise ValueError("a streamed dataset has no known length: use sampling 'ordered' or 'shuffle'")
        return self

    def _check_sources(self) -> None:
        if self.combine is None:
            raise ValueError("several 'sources' need 'combine': join, left_join, zip, cross or sample")
        joins = self.combine in ("join", "left_join")
        if joins and self.key is None:
            raise ValueError(f"'combine: {self.combine}' needs 'key': the field(s) to match on")
        if not joins and self.key is not None:
            raise ValueError(f"'key' applies only to 'combine: join' or 'left_join', not '{self.combine}'")
        if self.combine == "sample":
            if "sampling" in self.model_fields_set:
                raise ValueError(
                    "with 'combine: sample' each source is sampled on its own: set 'sampling' in the sources"
                )
            if self.transforms or self.columns is not None:
                raise ValueError(
                    "with 'combine: sample' there is no combined record list to transform: put "
                    "'transforms' and 'columns' in the sources"
                )
        else:
            for i, source in enumerate(self.sources or []):
                if "sampling" in source.model_fields_set:
                    raise ValueError(
                        f"sources[{i}]: 'sampling' applies to the combined seed (or to each source only "
                        "with 'combine: sample')"
                    )
