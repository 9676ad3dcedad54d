"""The gateway's unit of work: one transaction, with its repositories."""

from __future__ import annotations

from gateway.store.api_keys import ApiKeyRepository
from services.common.db import UnitOfWork


class GatewayUnitOfWork(UnitOfWork):
    api_keys: ApiKeyRepository

    def _open(self) -> None:
        self.api_keys = ApiKeyRepository(self.connection)
