"""The tests' PostgreSQL: a throwaway cluster (tools.pgcluster) or the database `AGENTORCH_TEST_DATABASE_URL` names
(a postgresql+asyncpg URL), which replaces the cluster when set."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tools.pgcluster import Cluster, running
from tools.pgcluster import ClusterUnavailable as PostgresUnavailable

__all__ = ["ENV_URL", "Cluster", "PostgresUnavailable", "own_cluster", "throwaway_cluster"]

ENV_URL = "AGENTORCH_TEST_DATABASE_URL"


@contextmanager
def own_cluster() -> Iterator[Cluster]:
    """A cluster of the caller's own (to restart or stop at will); deleted afterwards."""
    with running() as cluster:
        yield cluster


@contextmanager
def throwaway_cluster() -> Iterator[str]:
    """Start a cluster in a temporary directory; yield its asyncpg URL; stop and delete it afterwards."""
    with running() as cluster:
        yield cluster.url
