"""The `quality-rubric` preset: a category, then five 1-5 dimensions with explanations.

1. Category: a category already known (`category:`) is taken as it is; otherwise rules over the
   instruction and response decide the clear cases (a code block, "summarize", "write a poem"), and
   the model classifies what they leave open (structured output: one of `categories`).
2. Dimensions: an `llm-judge` built per category judges instruction following, contextual alignment,
   accuracy, completeness and linguistic clarity, 1-5 each with a one-sentence explanation. Its system
   prompt says what each dimension means for that category and gives two calibration examples (a
   strong and a weak response with their scores), so scores mean the same thing across rows.

It reuses the judge's generator (its schema, its correction turns and restarts); the value is
`{category, category_source, instruction_following: {score, explanation}, ..., overall}`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from synthloom.columns.llm.config import JudgeScore, LLMJudgeColumn
from synthloom.columns.llm.generator import LLMJudgeGenerator
from synthloom.columns.quality.config import RUBRIC_DIMENSIONS, QualityRubricColumn
from synthloom.columns.quality.tag_bounds import outside
from synthloom.columns.quality.text_values import as_text, path_value
from synthloom.engine.generator import CellFiltered, CellGenerator, CellOutput

if TYPE_CHECKING:
    from synthloom.engine.contexts import CellContext, GeneratorSetup

__all__ = ["QualityRubricGenerator", "category_by_rules"]

#: (category, pattern over the instruction) in the order they are tried; the first match wins.
_INSTRUCTION_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "coding",
        re.compile(
            r"```|\b(?:python|javascript|typescript|java|c\+\+|rust|golang|sql|bash|regex|function|"
            r"script|code|program|compile|bug|debug|api|class|method)\b",
            re.I,
        ),
    ),
    (
        "math",
        re.compile(
            r"\b(?:solve|calculate|compute|equation|integral|derivative|probability|prove that)\b|"
            r"\d\s*[-+*/^\u00d7÷=]\s*\d",
            re.I,
        ),
    ),
    ("summarization", re.compile(r"\b(?:summari[sz]e|summary|tl;?dr|in a nutshell|key points)\b", re.I)),
    (
        "rewriting",
        re.compile(
            r"\b(?:rewrite|rephrase|paraphrase|translate|proofread|simplify|edit this|reword)\b", re.I
        ),
    ),
    ("classification", re.compile(r"\b(?:classify|categori[sz]e|which category|label (?:each|the))\b", re.I)),
    ("extraction", re.compile(r"\b(?:extract|pull out|list all the|find all the|identify all)\b", re.I)),
    (
        "brainstorming",
        re.compile(r"\b(?:brainstorm|ideas for|suggest (?:some|a few|ways)|come up with)\b", re.I),
    ),
    (
        "creative_writing",
        re.compile(r"\b(?:poem|story|haiku|limerick|song|lyrics|fiction|screenplay|creative)\b", re.I),
    ),
    ("reasoning", re.compile(r"\b(?:step by step|riddle|puzzle|logic|reason(?:ing)? about|deduce)\b", re.I)),
)

_DIMENSION_TEXT = {
    "instruction_following": "Does the response do what the instruction asks, in the form it asks for?",
    "contextual_alignment": "Does the response stay consistent with the context and the conversation "
    "(no contradictions, no ignoring what was given)?",
    "accuracy": "Is what the response states correct?",
    "completeness": "Does the response cover everything the instruction needs, without gaps?",
    "linguistic_clarity": "Is the response clear, fluent and well organised?",
}

_CATEGORY_FOCUS = {
    "coding": "Code must run and be correct; accuracy means no bugs, completeness covers edge cases.",
    "math": "Check every step and the final number; an answer with a wrong result is at most 2 on accuracy.",
    "reasoning": "The chain of reasoning must be valid; a right conclusion from a wrong argument is weak.",
    "open_qa": "Facts must be right and the answer must address the question directly.",
    "closed_qa": "The answer must come from the given context; anything beyond it lowers alignment.",
    "creative_writing": "Judge form (the requested kind of text), originality and fluency; accuracy is "
    "consistency with the request.",
    "summarization": "A summary keeps the main points of the source, adds nothing and is shorter.",
    "extraction": "Every requested item must be found and nothing invented.",
    "classification": "The label must be right and one of those asked for.",
    "rewriting": "Meaning must be kept exactly while the requested change is made.",
    "brainstorming": "Ideas should be many, varied and relevant.",
    "chat": "The reply should be helpful, polite and on topic.",
}

_CALIBRATION = """Calibration examples:
Instruction: What is the boiling point of water at sea level in Celsius?
Response: Water boils at 100 °C at sea level (standard atmospheric pressure).
Scores: instruction_following 5, contextual_alignment 5, accuracy 5, completeness 5, linguistic_clarity 5.

Instruction: List three primary colors.
Response: Red and green are colors.
Scores: instruction_following 2 (two items, not three), contextual_alignment 3, accuracy 2 (green is not
a primary pigment color), completeness 1, linguistic_clarity 3."""

_OPTIONS: dict[int | str, str] = {1: "very poor", 2: "poor", 3: "acceptable", 4: "good", 5: "excellent"}


def category_by_rules(instruction: str, response: str, has_context: bool, allowed: set[str]) -> str | None:
    """The category the rules are sure of, or None (ambiguous: ask the model)."""
    for category, pattern in _INSTRUCTION_RULES:
        if category in allowed and pattern.search(instruction):
            return category
    if "coding" in allowed and "```" in response:
        return "coding"
    if has_context and "closed_qa" in allowed and instruction.rstrip().endswith("?"):
        return "closed_qa"
    return None


def _template(path: str) -> str:
    return "{{ " + path + " }}"


class QualityRubricGenerator(CellGenerator[QualityRubricColumn]):
    def __init__(self, config: QualityRubricColumn, setup: GeneratorSetup) -> None:
        super().__init__(config, setup)
        prompt = f"## Instruction\n{_template(config.instruction)}\n"
        if config.context is not None:
            prompt = f"## Context\n{_template(config.context)}\n\n" + prompt
        prompt += f"\n## Response\n{_template(config.response)}"
        self._judges: dict[str, LLMJudgeGenerator] = {}
        for category in config.categories:
            focus = _CATEGORY_FOCUS.get(category, "Judge the response on its merits for this kind of task.")
            judge = LLMJudgeColumn(
                name=config.name,
                model=config.model,
                prompt=prompt,
                system_prompt=(
                    f"You grade responses to '{category.replace('_', ' ')}' instructions on five "
                    f"dimensions, 1 (very poor) to 5 (excellent). {focus}\n\n{_CALIBRATION}"
                ),
                scores=[
                    JudgeScore(name=dim, description=_DIMENSION_TEXT[dim], options=dict(_OPTIONS))
                    for dim in RUBRIC_DIMENSIONS
                ],
                inference=config.inference,
            )
            self._judges[category] = LLMJudgeGenerator(judge, setup)
        self._allowed = set(config.categories)
        self._schema = {
            "type": "object",
            "properties": {"category": {"enum": list(config.categories)}},
            "required": ["category"],
            "additionalProperties": False,
        }

    async def generate(self, row: Mapping[str, Any], ctx: CellContext) -> CellOutput | CellFiltered:
        config = self.config
        category, source = await self._category(row, ctx)
        scored = await self._judges[category].generate(row, ctx)
        value: dict[str, Any] = {"category": category, "category_source": source}
        scores = []
        for dim in RUBRIC_DIMENSIONS:
            entry = scored.value[dim]
            value[dim] = {"score": int(entry["score"]), "explanation": entry["reasoning"]}
            scores.append(int(entry["score"]))
        value["overall"] = round(sum(scores) / len(scores), 2)
        if config.filter is not None:
            reason = outside(config.name, "overall", value["overall"], config.filter)
            if reason is not None:
                return CellFiltered(reason)
        return CellOutput(value)

    async def _category(self, row: Mapping[str, Any], ctx: CellContext) -> tuple[str, str]:
        config = self.config
        if config.category is not None:
            known = _read(row, config.category)
            if isinstance(known, str) and known in self._allowed:
                return known, "given"
        instruction = as_text(_read(row, config.instruction)) or ""
        response = as_text(_read(row, config.response)) or ""
        has_context = config.context is not None and bool(as_text(_read(row, config.context)))
        found = category_by_rules(instruction, response, has_context, self._allowed)
        if found is not None:
            return found, "rules"
        fallback = "open_qa" if "open_qa" in self._allowed else config.categories[0]
        if not config.classify_with_model:
            return fallback, "default"
        messages = [
            {
                "role": "system",
                "content": "Classify the instruction into exactly one category: "
                + ", ".join(config.categories)
                + '. Reply as JSON: {"category": "..."}',
            },
            {"role": "user", "content": instruction[:4000]},
        ]
        result = await ctx.client(config.model).generate_structured(
            messages, self._schema, inference=config.inference, tag=ctx.tag
        )
        category = result.value.get("category") if isinstance(result.value, dict) else None
        return (category, "model") if category in self._allowed else (fallback, "default")


def _read(row: Mapping[str, Any], path: str) -> Any:
    column, _, rest = path.partition(".")
    value = row.get(column)
    return path_value(value, rest.split(".")) if rest else value
