"""The `quality-tags` column: cheap heuristic tags of a text or conversation, per row group at once.

It runs in a worker thread (`cpu_bound`) after the row group's model columns (`needs_whole_group`),
so a million-row run tags in bulk without ever holding up the event loop. Bad input never fails a row:
null, non-text values, mixed scripts and megabyte texts get tags (`unknown` or null where nothing can
be said), and texts longer than `max_chars` are tagged on their beginning (their lengths stay exact).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from synthloom.columns.quality.boilerplate import BoilerplateDetector
from synthloom.columns.quality.characteristics import characteristics
from synthloom.columns.quality.config import HEURISTIC_TAG_GROUPS, QualityTagsColumn
from synthloom.columns.quality.conversation import conversation_tags
from synthloom.columns.quality.encoding import encoding_label, repair, require_ftfy
from synthloom.columns.quality.language import UNKNOWN, LanguageDetector
from synthloom.columns.quality.lexical import mtld, ttr, words_of
from synthloom.columns.quality.markup import markup_label
from synthloom.columns.quality.repetition import (
    compression_ratio,
    loop_stats,
    repeated_ngram_ratio,
    sentence_repeats,
)
from synthloom.columns.quality.tag_bounds import outside
from synthloom.columns.quality.text_values import as_conversation, as_text, column_values
from synthloom.columns.quality.truncation import looks_truncated, value_tail
from synthloom.engine.generator import BatchGenerator, CellFiltered, CellRewrite, RowGroupSlice

if TYPE_CHECKING:
    from synthloom.engine.contexts import GeneratorSetup

__all__ = ["HeuristicTagger", "QualityTagsGenerator"]


class HeuristicTagger:
    """Computes the tag groups of one `quality-tags` config for a batch of values."""

    def __init__(self, config: QualityTagsColumn) -> None:
        self.config = config
        self.groups = set(config.tags)
        self._language = (
            LanguageDetector(config.languages, min_confidence=config.min_language_confidence)
            if "language" in self.groups
            else None
        )
        self._boilerplate = BoilerplateDetector(config.languages) if "boilerplate" in self.groups else None
        if "encoding" in self.groups:
            require_ftfy()

    def empty(self) -> dict[str, Any]:
        """The tags of a null value: nothing known."""
        out: dict[str, Any] = {key: None for group in self.config.tags for key in HEURISTIC_TAG_GROUPS[group]}
        if "language" in self.groups:
            out.update(language=UNKNOWN, language_confidence=0.0)
        if "length" in self.groups:
            out.update(chars=0, words=0, lines=0, truncated=False)
        if "characteristics" in self.groups:
            out.update(has_code=False, has_math=False, has_citation=False, has_table=False, has_list=False)
            out["category"] = UNKNOWN
        return out

    def tag(self, value: Any) -> dict[str, Any]:
        return self.tag_many([value])[0]

    def tag_many(self, values: Sequence[Any]) -> list[dict[str, Any]]:
        """The tags of each value; their languages are identified in one batch."""
        values = [_decoded(v) for v in values]
        texts = [as_text(v) for v in values]
        languages: list[tuple[str, float]] | None = None
        if self._language is not None:
            languages = self._language.detect(
                [None if t is None else t[: self.config.max_chars] for t in texts]
            )
        out = []
        for i, (value, text) in enumerate(zip(values, texts, strict=True)):
            if text is None:
                out.append(self.empty())
            else:
                out.append(self._tags(value, text, None if languages is None else languages[i]))
        return out

    def _tags(self, value: Any, text: str, language: tuple[str, float] | None) -> dict[str, Any]:
        out = self.empty()
        full_length = len(text)
        text = text[: self.config.max_chars]
        words = words_of(text)
        groups = self.groups
        if "length" in groups:
            out.update(
                chars=full_length,
                words=len(words),
                lines=text.count("\n") + 1 if text else 0,
                truncated=looks_truncated(text if full_length <= len(text) else value_tail(value)),
            )
        if language is not None:
            out["language"], out["language_confidence"] = language
        if "lexical" in groups:
            out.update(ttr=ttr(words), mtld=mtld(words))
        if "repetition" in groups:
            score, repeats = loop_stats(words)
            out.update(
                repeated_ngram_ratio=repeated_ngram_ratio(words, self.config.ngram),
                loop_score=score,
                loop_repeats=repeats,
                compression_ratio=compression_ratio(text),
            )
            out["repeated_sentence_ratio"], out["max_sentence_repeats"] = sentence_repeats(text)
        if self._boilerplate is not None:
            code = out.get("language")
            out["boilerplate"] = self._boilerplate.label(text, code if code != UNKNOWN else None)
        if "encoding" in groups:
            out["encoding"], out["encoding_repairable"] = encoding_label(text)
            out["repaired"] = False
        if "markup" in groups:
            out["markup"] = markup_label(text)
        conversation = (
            as_conversation(value) if "conversation" in groups or "characteristics" in groups else None
        )
        if "characteristics" in groups and text.strip():
            found = characteristics(text)
            if conversation is not None and found["category"] == "prose":
                found["category"] = "conversation"
            out.update(found)
        if "conversation" in groups:
            out.update(conversation_tags(conversation))
        return out


def _decoded(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        # Bytes in a text column: tagged as the text they may be; what is not UTF-8 stays as lone
        # surrogates, which the encoding tag reports (`invalid_utf8`) instead of failing the row.
        return bytes(value).decode("utf-8", "surrogateescape")
    return value


class QualityTagsGenerator(BatchGenerator[QualityTagsColumn]):
    """The value is a mapping of tags; a row outside a `filter` bound is filtered with the reason."""

    cpu_bound: ClassVar[bool] = True
    needs_whole_group: ClassVar[bool] = True

    def __init__(self, config: QualityTagsColumn, setup: GeneratorSetup) -> None:
        super().__init__(config, setup)
        self.tagger = HeuristicTagger(config)
        self.gates = config.gates_in_force()

    def generate(
        self, table: Mapping[str, Sequence[Any]], group: RowGroupSlice, active: Sequence[bool] | None
    ) -> list[Any]:
        values = column_values(table, self.config.source, group.size)
        out: list[Any] = [None] * group.size
        rows = [i for i in range(group.size) if active is None or active[i]]
        for i, tags in zip(rows, self.tagger.tag_many([values[i] for i in rows]), strict=True):
            value = values[i]
            if self.config.repair and tags.get("encoding_repairable") and isinstance(value, str):
                out[i] = self._repaired(value, tags)
            else:
                out[i] = self._verdict(tags)
        return out

    def _repaired(self, value: str, before: dict[str, Any]) -> Any:
        """The tags of the repaired text (gated as usual), with the rewrite of the source column; a
        repaired row that a gate still removes is filtered and keeps its text as it was."""
        fixed = repair(value)
        tags = self.tagger.tag(fixed)
        tags["repaired"] = True
        verdict = self._verdict(tags)
        if isinstance(verdict, CellFiltered):
            return verdict
        note = {"repair": "ftfy.fix_text", "found": before.get("encoding"), "before": value}
        return CellRewrite(verdict, self.config.source, fixed, note)

    def _verdict(self, tags: dict[str, Any]) -> Any:
        for key, bounds in self.gates.items():
            reason = outside(self.config.name, key, tags.get(key), bounds)
            if reason is not None:
                return CellFiltered(reason)
        return tags
