"""Python functions as tools: one function, the public methods of a class, or a module's functions.

A tool's arguments are checked and converted against its signature before the call (a model that
sends `{"n": "3"}` to `n: int` gets 3; one that sends `{"m": 3}` gets an error result). Coroutine
functions are awaited; plain functions run on daemon worker threads, so a slow one never blocks the
event loop and a hung one, abandoned at its timeout, never keeps the process alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic import ValidationError

from synthloom.errors import ConfigError
from synthloom.models.messages import ToolSpec
from synthloom.plan.planner import add_import_dir, import_object
from synthloom.tools.config import ToolSource
from synthloom.tools.signature_schema import FunctionSignature, function_signature

__all__ = ["PythonTool", "ToolArgumentsError", "python_tools"]


class ToolArgumentsError(Exception):
    """The arguments a model sent do not fit the tool's parameters (the message says how)."""


class _Instance:
    """The one instance of a tool class, built on its first call (not at validation: a constructor
    may open connections)."""

    def __init__(self, cls: type) -> None:
        self.cls = cls
        self._value: Any = None
        self._lock = threading.Lock()

    @property
    def built(self) -> Any:
        """The instance, or None before the first call."""
        return self._value

    def get(self) -> Any:
        with self._lock:
            if self._value is None:
                self._value = self.cls()
            return self._value


class PythonTool:
    """One Python callable offered to a model as a tool."""

    def __init__(
        self,
        spec: ToolSpec,
        function: Callable[..., Any],
        signature: FunctionSignature,
        *,
        timeout: float,
        owner: _Instance | None = None,
        method: str | None = None,
    ) -> None:
        self.spec = spec
        self.timeout = timeout
        self._function = function
        self._signature = signature
        self._owner = owner
        self._method = method
        self._is_async = inspect.iscoroutinefunction(function)

    def __repr__(self) -> str:
        return f"PythonTool({self.spec.name!r})"

    def bind(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """The keyword arguments for a call, checked and converted; raises `ToolArgumentsError`."""
        try:
            model = self._signature.arguments.model_validate(arguments)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or '(arguments)'}: {err['msg']}"
                for err in exc.errors(include_url=False)[:8]
            )
            raise ToolArgumentsError(f"invalid arguments for '{self.spec.name}': {problems}") from None
        kwargs = {name: getattr(model, name) for name in type(model).model_fields}
        if self._signature.takes_extra and model.model_extra:
            kwargs.update(model.model_extra)
        return kwargs

    async def call(self, arguments: dict[str, Any]) -> Any:
        kwargs = self.bind(arguments)
        function = self._function
        if self._owner is not None and self._method is not None:
            # The constructor may be slow (a client, a cache): it runs off the event loop, once.
            instance = self._owner.built or await _in_thread(self._owner.get, {})
            function = getattr(instance, self._method)
        if self._is_async:
            return await function(**kwargs)
        return await _in_thread(function, kwargs)


async def _in_thread(function: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    """`function(**kwargs)` on one of the tools' daemon threads, awaited on the event loop."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def settle(outcome: tuple[bool, Any]) -> None:
        if future.done():  # the call was abandoned (timeout, cancelled cell)
            return
        ok, value = outcome
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def run() -> None:
        try:
            outcome: tuple[bool, Any] = (True, function(**kwargs))
        except BaseException as exc:
            outcome = (False, exc)
        with contextlib.suppress(RuntimeError):  # the loop closed while the tool ran
            loop.call_soon_threadsafe(settle, outcome)

    _THREADS.submit(run)
    return await future


class _DaemonThreads:
    """Worker threads for plain-function tools.

    Daemon threads, because the default executor's are joined when the event loop closes (one hung
    tool would hang the end of the run). Reused, because starting a thread blocks the event loop until
    it runs (a thread per call cost more than the model requests around it). A new one starts when
    every worker is busy (a hung tool keeps its thread), and a worker idle for `idle_timeout` ends.
    """

    def __init__(self, idle_timeout: float = 30.0) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0
        self._pending = 0
        self._idle_timeout = idle_timeout

    def submit(self, job: Callable[[], None]) -> None:
        with self._lock:
            self._pending += 1
            grow = self._idle < self._pending
        if grow:
            threading.Thread(target=self._work, name="synthloom-tool", daemon=True).start()
        self._jobs.put(job)

    def _work(self) -> None:
        while True:
            with self._lock:
                self._idle += 1
            try:
                job = self._jobs.get(timeout=self._idle_timeout)
            except queue.Empty:
                with self._lock:
                    self._idle -= 1
                    if self._pending <= self._idle:  # else a job arrived as this worker gave up
                        return
                continue
            with self._lock:
                self._idle -= 1
                self._pending -= 1
            job()


_THREADS = _DaemonThreads()


# -- building tools from a `tools:` entry ------------------------------------------------------------


def python_tools(
    source: ToolSource, *, field: str, default_timeout: float, base_dir: Path | None = None
) -> list[PythonTool]:
    """The tools of a `function:` or `module:` entry. `field` (`tools[1]`) names the entry in the
    `ConfigError` raised for what cannot be offered."""
    timeout = source.timeout or default_timeout
    prefix = source.prefix or ""
    if source.function is not None:
        where = f"{field}.function"
        obj = _imported(source.function, where, base_dir)
        if inspect.isclass(obj):
            owner = _Instance(obj)
            _check_constructor(obj, where)
            members, on_instance = _public_methods(obj)
        elif callable(obj):
            owner, on_instance = None, set()
            if source.include is not None or source.exclude:
                raise ConfigError(
                    "'include' and 'exclude' choose among a class's or module's tools", field=field
                )
            members = {getattr(obj, "__name__", "tool"): obj}
        else:
            raise ConfigError(f"'{source.function}' is not callable (a function or a class)", field=where)
    else:
        assert source.module is not None
        where = f"{field}.module"
        owner, on_instance = None, set()
        members = _public_functions(_imported_module(source.module, where, base_dir))
    chosen = _chosen(members, source, field, where)
    tools: list[PythonTool] = []
    for name, function in chosen.items():
        # An instance method is described without `self` and called on the class's one instance.
        bound = name in on_instance
        try:
            signature = function_signature(function, name=name, skip_first=bound)
        except TypeError as exc:
            raise ConfigError(str(exc), field=where) from None
        spec = ToolSpec(prefix + name, signature.description, signature.parameters)
        tools.append(
            PythonTool(
                spec,
                function,
                signature,
                timeout=timeout,
                owner=owner if bound else None,
                method=name if bound else None,
            )
        )
    return tools


def _chosen(
    members: dict[str, Callable[..., Any]], source: ToolSource, field: str, where: str
) -> dict[str, Callable[..., Any]]:
    wanted = list(members) if source.include is None else source.include
    for key, names in (("include", source.include or []), ("exclude", source.exclude)):
        unknown = [n for n in names if n not in members]
        if unknown:
            raise ConfigError(
                f"no tool named {', '.join(repr(n) for n in unknown)} (there are: {', '.join(members)})",
                field=f"{field}.{key}",
            )
    chosen = {name: members[name] for name in wanted if name not in source.exclude}
    if not chosen:
        raise ConfigError("offers no tools (no public functions, or all excluded)", field=where)
    return chosen


def _imported(path: str, where: str, base_dir: Path | None) -> Any:
    try:
        return import_object(path, base_dir=base_dir)
    except Exception as exc:
        raise ConfigError(f"cannot import '{path}': {type(exc).__name__}: {exc}", field=where) from None


def _imported_module(name: str, where: str, base_dir: Path | None) -> ModuleType:
    if base_dir is not None:
        add_import_dir(base_dir)
    try:
        return importlib.import_module(name)
    except Exception as exc:
        raise ConfigError(
            f"cannot import module '{name}': {type(exc).__name__}: {exc}", field=where
        ) from None


def _check_constructor(cls: type, where: str) -> None:
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):
        return
    required = [
        p.name
        for p in signature.parameters.values()
        if p.default is inspect.Parameter.empty
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]
    if required:
        raise ConfigError(
            f"class '{cls.__name__}' is built with no arguments, but its constructor requires "
            f"{', '.join(required)}",
            field=where,
        )


def _public_methods(cls: type) -> tuple[dict[str, Callable[..., Any]], set[str]]:
    """Public functions defined on the class or its bases (not `object`'s), by name, and which of them
    are instance methods (the others are static or class methods, taken as they are)."""
    out: dict[str, Callable[..., Any]] = {}
    on_instance: set[str] = set()
    for name in dir(cls):
        if name.startswith("_"):
            continue
        raw = inspect.getattr_static(cls, name)
        if isinstance(raw, staticmethod | classmethod):
            out[name] = getattr(cls, name)
        elif inspect.isfunction(raw):
            out[name] = raw
            on_instance.add(name)
    return out, on_instance


def _public_functions(module: ModuleType) -> dict[str, Callable[..., Any]]:
    """The module's `__all__` callables, or else the public functions defined in it."""
    names = getattr(module, "__all__", None)
    out: dict[str, Callable[..., Any]] = {}
    if names is not None:
        for name in names:
            obj = getattr(module, name, None)
            if inspect.isfunction(obj):
                out[name] = obj
        return out
    for name, obj in vars(module).items():
        if name.startswith("_") or not inspect.isfunction(obj):
            continue
        if getattr(obj, "__module__", None) == module.__name__:
            out[name] = obj
    return out
