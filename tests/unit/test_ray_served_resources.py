"""What a Ray cluster can give `serve:` replicas, checked before any actor starts (no Ray needed: the
check reads the cluster's node list)."""

from __future__ import annotations

from typing import Any

import pytest

from synthloom.config.model_config import ModelConfig
from synthloom.errors import ConfigError
from synthloom.executors.ray.served_replica import check_cluster_resources, served_cpus


class _Cluster:
    def __init__(self, *nodes: dict[str, float], dead: dict[str, float] | None = None) -> None:
        self._nodes = [{"Alive": True, "Resources": n} for n in nodes]
        if dead is not None:
            self._nodes.append({"Alive": False, "Resources": dead})

    def nodes(self) -> list[dict[str, Any]]:
        return self._nodes


def _served(alias: str, replicas: int, **resources: float) -> ModelConfig:
    serve = {"engine": "command", "args": ["srv", "{port}"], "replicas": replicas, "resources": resources}
    return ModelConfig(alias=alias, model="x", serve=serve)


def test_replicas_that_fit_the_cluster_pass() -> None:
    cluster = _Cluster({"CPU": 4, "GPU": 2}, {"CPU": 4, "GPU": 2})
    check_cluster_resources(cluster, [_served("a", 4, num_gpus=1), _served("b", 2, num_cpus=2)])


@pytest.mark.parametrize(
    ("models", "words"),
    [
        ([_served("a", 1, num_gpus=1)], "no node"),  # a cluster without GPUs
        ([_served("a", 1, num_cpus=3)], "no node"),  # more than the largest node
        ([_served("a", 3, num_cpus=2)], "the Ray cluster has 3"),  # more than all nodes together
        ([_served("b", 1, num_cpus=2), _served("a", 2, num_cpus=1)], "other served models: 4"),
    ],
)
def test_what_the_cluster_cannot_give_names_the_model_and_field(
    models: list[ModelConfig], words: str
) -> None:
    cluster = _Cluster({"CPU": 2}, {"CPU": 1}, dead={"CPU": 64, "GPU": 8})  # a dead node gives nothing
    with pytest.raises(ConfigError, match=words) as caught:
        check_cluster_resources(cluster, models)
    assert caught.value.field == "serve.resources"
    assert caught.value.model == models[-1].alias


def test_the_cpus_replicas_take_are_counted() -> None:
    assert served_cpus([_served("a", 2, num_cpus=1), _served("b", 3), _served("c", 1, num_cpus=0.5)]) == 2.5
