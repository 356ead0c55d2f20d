"""Pre and post hooks of LLM columns and flow nodes: Python callables named by import path.

    - name: answer
      type: llm-text
      model: writer
      prompt: "Answer: {{ question }}"
      pre_hook: my_hooks:clean_inputs     # (row: dict) -> dict, or None after changing it in place
      post_hook: my_hooks:strip_preamble  # (value) -> value

The pre hook gets a copy of the cell's inputs (the columns, seed fields or flow state its templates
read) before anything is rendered: prompt, system prompt, images and audio all read what it returns. The
post hook gets the parsed value (text, code, a JSON value, a judge's scores) and returns the cell's
value. Hooks are plain functions, imported once per run from the config's folder first. A hook that
raises fails its row, with the hook named in the reason.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from synthloom.errors import GenerationError
from synthloom.plan.planner import import_object

if TYPE_CHECKING:
    from synthloom.columns.llm.config import LLMColumn
    from synthloom.engine.contexts import GeneratorSetup

__all__ = ["ColumnHooks"]


class ColumnHooks:
    """The hooks of one column (or node), imported when its generator is built."""

    def __init__(self, config: LLMColumn, setup: GeneratorSetup) -> None:
        base_dir = setup.config.source_dir
        self._pre = _load(config.pre_hook, base_dir)
        self._post = _load(config.post_hook, base_dir)

    def pre(self, row: Mapping[str, Any]) -> Mapping[str, Any]:
        """The values the column's templates read for this cell."""
        if self._pre is None:
            return row
        inputs = dict(row)
        result = _call("pre_hook", self._pre, inputs)
        if result is None:
            return inputs
        if not isinstance(result, Mapping):
            raise GenerationError(
                f"pre_hook {_name(self._pre)} returned {type(result).__name__}: a hook returns the row's "
                "values as a dict (or None after changing the dict it was given)"
            )
        return result

    def post(self, value: Any) -> Any:
        """The cell's value from the parsed reply."""
        if self._post is None:
            return value
        return _call("post_hook", self._post, value)


def _load(path: str | None, base_dir: Any) -> Callable[..., Any] | None:
    if path is None:
        return None
    hook = import_object(path, base_dir=base_dir)
    if not callable(hook):  # the planner refuses this first; kept for generators built without a plan
        raise GenerationError(f"hook '{path}' is not callable")
    return hook  # type: ignore[no-any-return]


def _call(kind: str, hook: Callable[..., Any], arg: Any) -> Any:
    try:
        result = hook(arg)
    except Exception as exc:
        raise GenerationError(f"{kind} {_name(hook)} failed: {type(exc).__name__}: {exc}") from exc
    if inspect.isawaitable(result):
        close = getattr(result, "close", None)
        if close is not None:
            close()  # never awaited: close it so Python does not warn about it
        raise GenerationError(f"{kind} {_name(hook)} is async: hooks are plain functions")
    return result


def _name(hook: Callable[..., Any]) -> str:
    return f"{getattr(hook, '__module__', '?')}:{getattr(hook, '__qualname__', repr(hook))}"
