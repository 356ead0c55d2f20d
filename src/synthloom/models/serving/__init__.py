"""Servers synthloom starts for a model (`serve:`): engines' command lines, replica processes under a
guard that dies with the driver, and the supervisor that starts, restarts and stops them."""

from __future__ import annotations

from synthloom.models.serving.engines import check_serve, replica_launch
from synthloom.models.serving.replica import ReplicaProcess
from synthloom.models.serving.supervisor import ServedModels, serve_models, served_config

__all__ = ["ReplicaProcess", "ServedModels", "check_serve", "replica_launch", "serve_models", "served_config"]
