"""The model-call pipeline: every request a run makes is a `ModelRequest` passing one chain of handlers
(see `handler.py` for the picture). Built once per model pool and alias by `build_chain`."""

from __future__ import annotations

from synthloom.models.calls.accounting import Accounting
from synthloom.models.calls.batch_apis import BatchApi, BatchOutcome, BatchStatus
from synthloom.models.calls.batching import Batching, BatchQueue, BatchState, RunBatches
from synthloom.models.calls.caching import Caching, ResponseCache
from synthloom.models.calls.chain import HandlerWrapper, build_chain
from synthloom.models.calls.handler import FunctionHandler, Handler, Wrapper
from synthloom.models.calls.request import (
    NO_SCOPE,
    CallScope,
    ModelRequest,
    ModelResponse,
    Parsed,
    UploadFile,
)
from synthloom.models.calls.retrying import Retrying
from synthloom.models.calls.routing import RequestSink, Routing

__all__ = [
    "NO_SCOPE",
    "Accounting",
    "BatchApi",
    "BatchOutcome",
    "BatchQueue",
    "BatchState",
    "BatchStatus",
    "Batching",
    "Caching",
    "CallScope",
    "FunctionHandler",
    "Handler",
    "HandlerWrapper",
    "ModelRequest",
    "ModelResponse",
    "Parsed",
    "RequestSink",
    "ResponseCache",
    "Retrying",
    "Routing",
    "RunBatches",
    "UploadFile",
    "Wrapper",
    "build_chain",
]
