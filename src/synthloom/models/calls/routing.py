"""`Routing`: the innermost handler — one HTTP attempt on a replica of the alias.

The endpoint set picks the replica with room (its own adaptive limiter; waiters served earlier records
first), lends its pooled session and headers; the answer is parsed inside the slot, so a malformed body
counts against the replica like any failure. `latency_s` is time at the server, not time queued.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from synthloom.errors import ModelError
from synthloom.models.calls.request import ModelRequest, ModelResponse
from synthloom.models.endpoint_set import EndpointSet
from synthloom.models.results import CallUsage

__all__ = ["RequestSink", "Routing"]

#: Told of every attempt: (endpoint name, outcome `success` | `rate_limited` | `failure`, seconds held).
RequestSink = Callable[[str, str, float], None]


class Routing:
    """Sends one attempt of a request through `endpoints` and parses the answer."""

    def __init__(
        self,
        endpoints: EndpointSet,
        *,
        timeout: float,
        sinks: Sequence[RequestSink] = (),
        on_send: Callable[[], None] | None = None,
    ) -> None:
        self.endpoints = endpoints
        self.timeout = timeout
        self.sinks = list(sinks)
        #: Called as each attempt goes to the server (the spend journal notes what is in flight).
        self.on_send = on_send
        #: Attempts sent and not yet answered (or failed).
        self.in_flight = 0

    async def handle(self, request: ModelRequest) -> ModelResponse:
        usage = CallUsage(attempts=1)
        started = time.monotonic()
        name = ""
        outcome = "failure"
        try:
            async with self.endpoints.slot(priority=request.scope.priority) as lease:
                started = lease.started
                name = lease.replica.limiter.name
                assert lease.session is not None  # set by the endpoint set before the lease is handed out
                url = request.url(lease.base_url)
                timeout = request.timeout or self.timeout
                self.in_flight += 1
                if self.on_send is not None:
                    self.on_send()
                try:
                    if request.files:
                        files = {f.field: (f.filename, f.content, f.media_type) for f in request.files}
                        fields = {k: str(v) for k, v in request.body.items()}
                        body = await lease.session.post_form(
                            url, fields, files, headers=lease.headers, timeout=timeout
                        )
                    else:
                        body = await lease.session.post_json(
                            url, request.body, headers=lease.headers, timeout=timeout
                        )
                finally:
                    self.in_flight -= 1
                parsed = request.parse(body)
                lease.input_tokens, lease.output_tokens = parsed.input_tokens, parsed.output_tokens
            outcome = "success"
        except ModelError as exc:
            exc.latency_s = time.monotonic() - started
            outcome = "rate_limited" if getattr(exc, "status_code", None) == 429 else "failure"
            raise
        finally:
            if self.sinks and name:
                held = time.monotonic() - started
                for sink in self.sinks:
                    sink(name, outcome, held)
        usage.latency_s = time.monotonic() - started
        usage.input_tokens, usage.output_tokens = parsed.input_tokens, parsed.output_tokens
        usage.status_codes.append(200)
        return ModelResponse(value=parsed.value, body=body, usage=usage)
