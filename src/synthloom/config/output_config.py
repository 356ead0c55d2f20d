"""The `output:` block: how each generated row becomes the final record, and what describes the dataset.

    output:
      fields:                            # the final record, field by field, in this order
        id: uuid                         # shorthand for {from: uuid}
        question: {from: question}       # a column (seed fields and dropped columns included)
        answer: {from: answer.text}      # a nested field of a structured value; list items by index: turns.0
        source: {value: synthloom}       # a constant (any JSON value, null included)
        summary: {template: "{{ question }} ({{ topic }})"}   # Jinja, rendered like a prompt
        score: {template: "{{ grade.accuracy.score }}", dtype: int}
        meta:                            # a nested object: a mapping of fields
          fields:
            topic: topic
      format: messages                   # a training format (below); shorthand for {type: messages}
      include_columns: false             # true (or a list of names): also keep these output columns
      schema: {type: object, required: [messages]}   # or pkg.module:Model; invalid records are filtered
      card: {license: apache-2.0, description: "...", tags: [sft]}   # the Hub dataset card

Training formats (`format:`), each naming where its parts come from with the same `from` / `value` /
`template` sources as `fields` (a plain string is a column):

- `messages`: `{messages: [{role, content}, ...]}` (OpenAI chat), from `system`, `user`, `assistant`,
  or `messages` (a column holding a conversation);
- `sharegpt`: `{conversations: [{from: system|human|gpt, value}, ...]}`, from the same parts;
- `oasst`: an OpenAssistant message tree `{message_tree_id, tree_state, prompt: {message_id,
  parent_id, role, text, lang, replies: [...]}}`, from the same parts; `assistant` may be a list
  (ranked sibling replies); `lang`, `model_name`, `tree_id`;
- `dpo`: `{prompt, chosen, rejected}`, from `prompt`, `chosen`, `rejected`, `system`;
  `conversational: true` writes message lists;
- `alpaca`: `{instruction, input, output}`, from `instruction`, `input`, `output`, `system`.

A format's sources default to conventional column names (see `synthloom.outputs.training_formats`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from synthloom.config.base import StrictModel

__all__ = [
    "AlpacaFormat",
    "CardConfig",
    "DPOFormat",
    "FormatConfig",
    "MessagesFormat",
    "OASSTFormat",
    "OutputConfig",
    "OutputField",
    "ShareGPTFormat",
    "Source",
    "ValueSource",
]

#: `pkg.module:Name` (or `pkg.module.Name`).
IMPORT_PATH = r"^[A-Za-z_][\w.]*[:.][A-Za-z_]\w*$"
_KINDS = ("from_", "value", "template")


class ValueSource(StrictModel):
    """Where one value comes from: exactly one of `from` (a column, or a dotted path into it), `value`
    (a constant) or `template` (Jinja over the row; `dtype` casts the rendered text)."""

    #: A column, or a dotted path into one (`answers__judgement.chosen`).
    from_: Annotated[str | None, Field(alias="from")] = None
    #: A constant.
    value: Any = None
    #: A Jinja template over the row.
    template: str | None = None
    #: Cast of a template's rendered text: str (default), int, float, bool or json (parsed).
    dtype: Literal["str", "int", "float", "bool", "json"] | None = None

    def _kinds_set(self) -> list[str]:
        given = [k for k in _KINDS if k in self.model_fields_set]
        if "fields" in self.model_fields_set:
            given.append("fields")
        return given

    @model_validator(mode="after")
    def _exactly_one(self) -> ValueSource:
        given = self._kinds_set()
        if len(given) != 1:
            names = ", ".join("from" if k == "from_" else k for k in given) or "none"
            raise ValueError(f"give exactly one of 'from', 'value', 'template' or 'fields' (got: {names})")
        if self.from_ is not None and not self.from_.strip():
            raise ValueError("'from' must name a column")
        if self.dtype is not None and self.template is None:
            raise ValueError("'dtype' applies to a 'template' only")
        return self

    @model_serializer(mode="wrap")
    def _keep_constant(self, handler: SerializerFunctionWrapHandler) -> Any:
        # `value: null` is a constant, not an unset field: keep it when defaults are excluded, so
        # that the run directory's config.yaml reads back the same.
        data = handler(self)
        if isinstance(data, dict) and "value" in self.model_fields_set and "value" not in data:
            data["value"] = self.value
        return data


def _shorthand(value: Any) -> Any:
    """A plain string is a column: `answer` is `{from: answer}`."""
    return {"from": value} if isinstance(value, str) else value


def _shorthand_list(value: Any) -> Any:
    """One source or several: always a list."""
    if value is None:
        return None
    return [_shorthand(v) for v in value] if isinstance(value, list) else [_shorthand(value)]


#: A source as written: a plain string is a column (`answer` is `{from: answer}`).
Source = Annotated[ValueSource, BeforeValidator(_shorthand, json_schema_input_type=str | ValueSource)]
#: One source or a list of them, always read as a list.
SourceList = Annotated[
    list[Source], BeforeValidator(_shorthand_list, json_schema_input_type=Source | list[Source])
]


class OutputField(ValueSource):
    """One field of the final record: a source, or `fields` for a nested object."""

    #: The fields of a nested object.
    fields: dict[str, FieldSpec] | None = None

    @field_validator("fields")
    @classmethod
    def _names(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return _check_names(value)


FieldSpec = Annotated[OutputField, BeforeValidator(_shorthand, json_schema_input_type=str | OutputField)]


def _check_names(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is not None:
        if not value:
            raise ValueError("needs at least one field")
        bad = [k for k in value if not k.strip()]
        if bad:
            raise ValueError("field names must not be empty")
    return value


class _Format(StrictModel):
    """A training format. Its `type` is always written out: it selects the format when read back."""

    type: str

    @model_serializer(mode="wrap")
    def _keep_type(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict):
            data = {"type": self.type, **data}
        return data


class _ChatFormat(_Format):
    """A conversation from `system` / `user` / `assistant` sources, or from a `messages` column that
    already holds one (`[{role, content}, ...]`, ShareGPT's `[{from, value}]` is read too)."""

    #: Where the system message comes from.
    system: Source | None = None
    #: Where the user turn comes from.
    user: Source | None = None
    #: Where the assistant turn comes from.
    assistant: Source | None = None
    #: A column that already holds a conversation (instead of the three above).
    messages: Source | None = None

    @model_validator(mode="after")
    def _one_shape(self) -> _ChatFormat:
        if self.messages is not None and (self.user is not None or self.assistant is not None):
            raise ValueError("give either 'messages' (a conversation) or 'user' and 'assistant', not both")
        if (self.user is None) != (self.assistant is None):
            raise ValueError("'user' and 'assistant' go together (or give neither to use the defaults)")
        return self


class MessagesFormat(_ChatFormat):
    """OpenAI chat: `{"messages": [{"role": "system"|"user"|"assistant"|"tool", "content": ...}]}`."""

    #: OpenAI messages: `{messages: [{role, content}, ...]}`.
    type: Literal["messages"] = "messages"


class ShareGPTFormat(_ChatFormat):
    """ShareGPT: `{"conversations": [{"from": "system"|"human"|"gpt", "value": ...}]}`."""

    #: ShareGPT: `{conversations: [{from, value}, ...]}`.
    type: Literal["sharegpt"] = "sharegpt"


class OASSTFormat(_ChatFormat):
    """An OpenAssistant message tree: one tree per record, prompter and assistant turns as nodes."""

    #: OpenAssistant-style records.
    type: Literal["oasst"] = "oasst"
    #: One source, or several: sibling replies to the prompt, ranked in the order given.
    assistant: SourceList | None = None  # type: ignore[assignment]
    #: Language code written on every message.
    lang: Annotated[str, Field(min_length=2, max_length=16)] = "en"
    #: Written as `model_name` on assistant messages.
    model_name: str | None = None
    #: The tree's id (a uuid column, say); by default a stable hash of the conversation.
    tree_id: Source | None = None

    @field_validator("assistant")
    @classmethod
    def _non_empty(cls, value: Any) -> Any:
        if isinstance(value, list) and not value:
            raise ValueError("needs at least one source")
        return value


class DPOFormat(_Format):
    """Preference pairs: `{"prompt", "chosen", "rejected"}` (plus `system` when given)."""

    #: Preference pairs.
    type: Literal["dpo"] = "dpo"
    #: Where the prompt comes from.
    prompt: Source | None = None
    #: Where the preferred reply comes from.
    chosen: Source | None = None
    #: Where the other reply comes from.
    rejected: Source | None = None
    #: Where a system message comes from (optional).
    system: Source | None = None
    #: Message lists instead of text: prompt `[system?, user]`, chosen and rejected `[assistant]`.
    conversational: bool = False


class AlpacaFormat(_Format):
    """Alpaca: `{"instruction", "input", "output"}` (plus `system` when given)."""

    #: Alpaca records.
    type: Literal["alpaca"] = "alpaca"
    #: Where the instruction comes from.
    instruction: Source | None = None
    #: Written as "" when not given.
    input: Source | None = None
    #: Where the output comes from.
    output: Source | None = None
    #: Where a system message comes from (optional).
    system: Source | None = None


FormatConfig = Annotated[
    MessagesFormat | ShareGPTFormat | OASSTFormat | DPOFormat | AlpacaFormat, Field(discriminator="type")
]
FORMAT_NAMES = ("messages", "sharegpt", "oasst", "dpo", "alpaca")


class CardConfig(StrictModel):
    """What the generated dataset card (README.md of an `hf` export or a Hub push) says beyond the facts."""

    #: The dataset's license (an SPDX id such as `apache-2.0`).
    license: str | None = None
    #: The dataset's display name.
    pretty_name: str | None = None
    #: A paragraph about the dataset.
    description: str | None = None
    #: Tags for the Hub.
    tags: list[str] = Field(default_factory=list)


def _format_names_schema(schema: dict[str, Any]) -> None:
    """The editor schema accepts a format's name alone, as the validator does."""
    schema.setdefault("anyOf", []).insert(0, {"type": "string", "enum": list(FORMAT_NAMES)})


class OutputConfig(StrictModel):
    """How each generated row becomes the final record (see the module docstring)."""

    #: The final record's fields, each from a column, a constant or a template (nested objects too).
    fields: dict[str, FieldSpec] | None = None
    #: A training format, or its name alone (`format: messages`) for its conventional columns.
    format: FormatConfig | None = Field(default=None, json_schema_extra=_format_names_schema)
    #: Also keep the run's output columns (all of them, or those listed) after the declared fields.
    include_columns: bool | list[str] = False
    #: The final record must satisfy this JSON Schema or Pydantic model (`pkg.module:Model`); a record
    #: that does not is filtered, with the validation message as the reason.
    record_schema: dict[str, Any] | Annotated[str, Field(pattern=IMPORT_PATH)] | None = Field(
        default=None, alias="schema"
    )
    #: What the dataset card says beyond the facts (license, name, description, tags).
    card: CardConfig = Field(default_factory=CardConfig)

    @field_validator("format", mode="before")
    @classmethod
    def _format_shorthand(cls, value: Any) -> Any:
        if isinstance(value, str):
            if value not in FORMAT_NAMES:
                raise ValueError(f"unknown format '{value}': use one of {', '.join(FORMAT_NAMES)}")
            return {"type": value}
        return value

    @field_validator("fields")
    @classmethod
    def _names(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return _check_names(value)

    @field_validator("record_schema")
    @classmethod
    def _check_schema(cls, value: dict[str, Any] | str | None) -> dict[str, Any] | str | None:
        if isinstance(value, dict):
            import jsonschema

            try:
                jsonschema.validators.validator_for(value).check_schema(value)
            except jsonschema.SchemaError as exc:
                raise ValueError(f"not a valid JSON Schema: {exc.message}") from None
        return value


OutputField.model_rebuild()
OutputConfig.model_rebuild()
