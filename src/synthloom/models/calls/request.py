"""A model request as a value, and what comes back.

Everything a request needs travels with it: which alias and route, the rendered body, how to read the
answer, and the *scope* of the cell that made it (usage tag, record, row group, cell seed, lineage
sink). No layer has to remember to set a context variable for the next one to read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from synthloom.models.adaptive_limiter import Priority
from synthloom.models.results import CallUsage

__all__ = ["NO_SCOPE", "CallScope", "ModelRequest", "ModelResponse", "Parsed", "UploadFile"]


@dataclass(frozen=True, slots=True)
class CallScope:
    """Who is asking: the per-cell state a request carries through the chain.

    `tag` is the usage tag (the column, `<column>.<node>` inside a flow); `row_group` is the group
    whose spend the request counts toward; `seed` (the cell seed) and `attempt` fix the draws of
    distributed inference parameters; `lineage` is the cell's log of exchanges (None: not kept).
    `row_group`, `step` (the step of a flow that made it: 0 outside a flow) and `record` order waiting
    requests at a limiter (`priority`).
    """

    tag: str | None = None
    record: int | None = None
    row_group: int | None = None
    seed: int | None = None
    attempt: int = 1
    step: int = 0
    lineage: list[bytes] | None = field(default=None, compare=False, hash=False)

    @property
    def priority(self) -> Priority:
        """Lower goes first at a limiter: earlier row groups first, so they commit in order; within a
        group the earlier steps of flows first (breadth first: a group's records take their sequential
        turns together, so its last records are not left making their turns alone at the end), then
        earlier records."""
        return (self.row_group or 0, self.step, self.record or 0)

    def tagged(self, tag: str | None) -> CallScope:
        """The same scope under another usage tag."""
        return self if tag is None or tag == self.tag else replace(self, tag=tag)


#: The unscoped scope: a call made outside any cell (`models check`, a benchmark).
NO_SCOPE = CallScope()


@dataclass(frozen=True, slots=True)
class Parsed:
    """An answer read by its request's parser: the value and the tokens the server reported."""

    value: Any
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True, slots=True)
class UploadFile:
    """One file of a multipart request (an image to edit)."""

    field: str
    filename: str
    content: bytes
    media_type: str


@dataclass(frozen=True, slots=True)
class ModelRequest:
    """One request of a run.

    `route` names what is asked (`chat`, `embeddings`, `images/generations`, `images/edits`, or a server
    path such as `/tokenize`); `url` maps the chosen endpoint's base URL to the request's URL; `body` is
    the rendered JSON body (multipart form fields when `files` are given); `parse` reads the answer.
    `describe` turns a parsed value into the fields of the cell's lineage entry (None: not logged).
    """

    alias: str
    route: str
    body: Mapping[str, Any]
    url: Callable[[str], str]
    parse: Callable[[dict[str, Any]], Parsed]
    scope: CallScope = NO_SCOPE
    files: tuple[UploadFile, ...] = ()
    describe: Callable[[Any], dict[str, Any]] | None = None
    #: Server-side seconds allowed for one attempt.
    timeout: float | None = None


@dataclass(slots=True)
class ModelResponse:
    """What the chain returns: the parsed value, the raw answer, and what the exchange cost (all its
    attempts). `cached` marks an answer that was not fetched from a server by this request, `batched`
    one fetched through the provider's batch API (paid at the batch price)."""

    value: Any
    body: dict[str, Any]
    usage: CallUsage
    cached: bool = False
    batched: bool = False
