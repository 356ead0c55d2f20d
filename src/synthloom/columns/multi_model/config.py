"""The `multi-model` column: the same prompt to several model aliases at once, the value keyed by alias.

    - name: answers
      type: multi-model
      models: [small, large, other]       # two or more aliases, asked concurrently
      system_prompt: You are a helpful assistant.
      prompt: "{{ instruction }}"
      judge:                              # optional: pick the best and the worst reply (DPO pairs)
        model: grader
        criteria: Which reply follows the instruction best, correct and clear?

The value is `{alias: reply}` (an ensemble, or the candidates of a preference pair). With a `judge`, the
replies are shown to the judge model under letters, in an order shuffled per record (reproducibly, from
the run seed), and it scores each from 1 to 10; `<name>__judgement` holds `{chosen, rejected,
chosen_model, rejected_model, scores: {alias: score}, reasoning}`. The chosen reply is the best scored,
the rejected the worst; when every reply has the same score there is no pair and both are null (a
`dpo` output then filters the row).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, field_validator

from synthloom.config.base import ColumnConfig, StrictModel
from synthloom.config.model_config import InferenceParams

__all__ = ["DEFAULT_CRITERIA", "MultiModelColumn", "MultiModelJudge"]

DEFAULT_CRITERIA = "Which response answers the task best: correct, helpful, complete and clear?"


class MultiModelJudge(StrictModel):
    """The model that compares the replies and picks `chosen` and `rejected`."""

    #: The alias of the judging model.
    model: str
    #: What makes a reply better (a template over the row).
    criteria: str = DEFAULT_CRITERIA
    #: The judge's system message.
    system_prompt: str | None = None
    #: Sampling parameters for the judge's requests.
    inference: InferenceParams | None = None


class MultiModelColumn(ColumnConfig):
    """One prompt, several aliases (see the module docstring)."""

    template_field_names: ClassVar[tuple[str, ...]] = ("when", "prompt", "system_prompt")

    example: ClassVar[Mapping[str, Any] | None] = {
        "name": "answers",
        "type": "multi-model",
        "models": ["writer", "other_writer"],
        "prompt": "Answer: {{ question }}",
    }

    type: Literal["multi-model"] = "multi-model"
    #: Two or more model aliases, each answering the same prompt.
    models: list[Annotated[str, Field(min_length=1)]]
    #: The user prompt: a Jinja2 template.
    prompt: str
    #: A system prompt sent to every alias.
    system_prompt: str | None = None
    #: Sent with every alias's request (each alias's own `inference` from `models:` still applies).
    inference: InferenceParams | None = None
    #: An optional judge that compares the answers.
    judge: MultiModelJudge | None = None

    @field_validator("models")
    @classmethod
    def _two_or_more(cls, value: list[str]) -> list[str]:
        if len(value) < 2:
            raise ValueError(
                f"a multi-model column asks two or more model aliases (got {len(value)}); for one model "
                "use an llm-text column"
            )
        if len(value) > 26:
            raise ValueError("at most 26 aliases (the judge sees the replies as A to Z)")
        dupes = sorted({alias for alias in value if value.count(alias) > 1})
        if dupes:
            raise ValueError(f"alias listed twice: {', '.join(dupes)}")
        return value

    def templates(self) -> dict[str, str]:
        out = super().templates()
        if self.judge is not None:
            out["judge.criteria"] = self.judge.criteria
        return out

    def model_aliases(self) -> dict[str, str]:
        out = {f"models.{i}": alias for i, alias in enumerate(self.models)}
        if self.judge is not None:
            out["judge.model"] = self.judge.model
        return out

    def side_columns(self) -> list[str]:
        return [f"{self.name}__judgement"] if self.judge is not None else []
