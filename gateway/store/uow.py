"""The gateway's unit of work: one transaction, with its repositories."""

from __future__ import annotations

from gateway.store.api_keys import ApiKeyRepository
from gateway.store.identity import IdentityRepository
from services.common.db import UnitOfWork


class GatewayUnitOfWork(UnitOfWork):
    api_keys: ApiKeyRepository
    identity: IdentityRepository

    def _open(self) -> None:
        self.api_keys = ApiKeyRepository(self.connection)
        self.identity = IdentityRepository(self.connection)
