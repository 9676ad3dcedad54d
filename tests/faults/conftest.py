"""Fixtures of the fault-injection suite: a PostgreSQL cluster of the test's own, to restart, stop and start."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import IN_CI
from tests.support.postgres import Cluster, PostgresUnavailable, own_cluster


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    """A throwaway cluster for one test. Never AGENTORCH_TEST_DATABASE_URL's server: these tests stop theirs."""
    try:
        with own_cluster() as made:
            yield made
    except PostgresUnavailable as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI: {exc}", pytrace=False)
        pytest.skip(f"PostgreSQL unavailable: {exc}")
