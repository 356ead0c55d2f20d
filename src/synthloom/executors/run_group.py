"""`run_group()`: one row group, start to result — the glue every executor shares.

An executor decides *where* a group runs (a task on this loop, a Ray worker) and how its results travel;
what running one group means is the same everywhere: the run's resources (MCP servers) at hand, the
row-group runner (whose cells' requests carry the group in their scope), and the group's spend taken
with its result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from synthloom.engine.contexts import RunResources, current_resources
from synthloom.engine.executor import GroupResult, Job
from synthloom.engine.row_group import RowGroupRunner
from synthloom.engine.row_runner import CellEvents
from synthloom.row_groups import RowGroupSlice

if TYPE_CHECKING:
    from synthloom.models import ModelPool

__all__ = ["run_group"]


async def run_group(
    job: Job,
    runner: RowGroupRunner,
    group: RowGroupSlice,
    *,
    models: ModelPool | None,
    resources: RunResources,
    events: CellEvents,
) -> GroupResult:
    """Generate `group` and return its result with what it spent. Call it in a task of its own: the
    resources it sets belong to that task's context."""
    current_resources.set(resources)
    outcome = await runner.run(group, models=models, events=events)
    usage = models.usage.take_scope(group.index) if models is not None else {}
    return job.group_result(outcome, usage)
